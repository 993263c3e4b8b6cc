package zoo

import "testing"

// TestShippedModelsLoad checks every index entry: the file is embedded,
// decodes as a model, and its name is unique.
func TestShippedModelsLoad(t *testing.T) {
	es, err := List()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range es {
		if seen[e.Name] {
			t.Errorf("model name %q listed twice", e.Name)
		}
		seen[e.Name] = true
		_, b, ok := Lookup(e.Name)
		if !ok || int64(len(b)) != e.Size || e.Size == 0 {
			t.Fatalf("Lookup(%q) = %d bytes, ok %v; index says %d", e.Name, len(b), ok, e.Size)
		}
		if e.Size > 8<<20 {
			t.Errorf("%s is %d bytes; keep shipped models to a few MB", e.Name, e.Size)
		}
		if _, err := Open(e.Name); err != nil {
			t.Errorf("%s: %v", e.Name, err)
		}
	}
	if _, _, ok := Lookup("no-such-model"); ok {
		t.Error("Lookup of an unknown name succeeded")
	}
}
