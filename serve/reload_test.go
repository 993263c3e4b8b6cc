package serve

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/train"
)

// otherDetector trains a detector on a table whose columns are those of
// tableCSV changed by edit (a column renamed, a category added…).
func otherDetector(t *testing.T, edit func(string) string) *anomaly.Detector {
	t.Helper()
	ds, err := dataset.LoadFS(fstest.MapFS{"t.csv": {Data: []byte(edit(tableCSV()))}}, "t.csv", dataset.LoadOptions{Label: "label"})
	if err != nil {
		t.Fatal(err)
	}
	det, err := anomaly.Train(context.Background(), ds, anomaly.TrainOptions{
		Hidden: []int{4}, Code: 2, Seed: 1, Val: -1, Threshold: "contamination:0.1", Fit: train.Options{Epochs: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	return det
}

// Reload serves a new model file of the same schema; every failure (no
// file, a damaged one, weights that are not finite, another schema)
// leaves the old model serving, is counted and logged.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	d1, d2 := testDetector(t, 1, ""), testDetector(t, 2, "")
	if err := d1.Save(path); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	s, err := New(d1, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	v1 := s.ModelVersion()

	// the same schema: served
	if err := d2.Save(path); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(path); err != nil {
		t.Fatalf("Reload of a model of the same schema: %v", err)
	}
	if s.ModelVersion() != d2.Version() || s.ModelVersion() == v1 {
		t.Fatalf("version %s after reloading %s", s.ModelVersion(), d2.Version())
	}
	if !strings.Contains(logs.String(), "model reloaded") {
		t.Errorf("a reload is not logged: %q", logs.String())
	}

	// NaN weights (ae.Open refuses them)
	nan := testDetector(t, 3, "")
	nan.Model().Params.W[0] = float32(math.NaN())
	nanPath := filepath.Join(dir, "nan.safetensors")
	if err := nan.Save(nanPath); err != nil {
		t.Fatal(err)
	}
	damaged := filepath.Join(dir, "damaged.safetensors")
	b, _ := os.ReadFile(path)
	os.WriteFile(damaged, b[:len(b)/2], 0o644)
	garbage := filepath.Join(dir, "garbage.safetensors")
	os.WriteFile(garbage, []byte("not a model"), 0o644)

	// other schemas
	schemas := map[string]func(string) string{
		"renamed column": func(s string) string { return strings.Replace(s, "hour,", "hod,", 1) },
		"new category":   func(s string) string { return s + "1.5,3,jp,ok\n" },
		"numeric → categorical": func(s string) string {
			return strings.NewReplacer(",0,", ",h0,", ",1,", ",h1,", ",2,", ",h2,").Replace(s)
		},
		"one more column": func(s string) string {
			lines := strings.Split(strings.TrimSpace(s), "\n")
			for i := range lines {
				if i == 0 {
					lines[i] += ",extra"
				} else {
					lines[i] += fmt.Sprintf(",%d", i%5)
				}
			}
			return strings.Join(lines, "\n") + "\n"
		},
	}
	bad := map[string]string{ // path → what the error says
		filepath.Join(dir, "missing.safetensors"): "no such file",
		damaged: "",
		garbage: "",
		nanPath: "NaN",
	}
	for name, edit := range schemas {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".safetensors")
		if err := otherDetector(t, edit).Save(p); err != nil {
			t.Fatal(err)
		}
		bad[p] = "input differs"
	}
	for p, want := range bad {
		logs.Reset()
		err := s.Reload(p)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), filepath.Base(p)) {
			t.Errorf("Reload(%s) = %v; want an error naming the file and saying %q", filepath.Base(p), err, want)
		}
		if s.ModelVersion() != d2.Version() {
			t.Errorf("a failed reload of %s changed the version to %s", filepath.Base(p), s.ModelVersion())
		}
		if !strings.Contains(logs.String(), "model reload failed") || !strings.Contains(logs.String(), filepath.Base(p)) {
			t.Errorf("the failed reload of %s is not logged: %q", filepath.Base(p), logs.String())
		}
	}
	_, _, metrics := do(t, s, "GET", "/metrics", "", "")
	for _, want := range []string{`bottleneck_model_reloads_total{result="ok"} 1`,
		fmt.Sprintf(`bottleneck_model_reloads_total{result="error"} %d`, len(bad))} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q:\n%s", want, grep(metrics, "bottleneck_model"))
		}
	}
	// still serving
	if code, _, raw := do(t, s, "POST", "/v1/score", "", `[[1, 2, "de"]]`); code != 200 {
		t.Errorf("after failed reloads: %d %s", code, raw)
	}

	// AllowSchemaChange serves another schema, by Reload and by Swap
	free, err := New(d1, Options{AllowSchemaChange: true})
	if err != nil {
		t.Fatal(err)
	}
	for name := range schemas {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".safetensors")
		if err := free.Reload(p); err != nil {
			t.Errorf("AllowSchemaChange: Reload of %s: %v", name, err)
		}
	}
	if err := free.Swap(d1); err != nil {
		t.Errorf("AllowSchemaChange: Swap back: %v", err)
	}
	if err := s.Swap(otherDetector(t, schemas["new category"])); err == nil || !strings.Contains(err.Error(), "jp") {
		t.Errorf("Swap to another schema: %v; want a refusal naming the new category", err)
	}
}

func TestSchemaDiff(t *testing.T) {
	base := testDetector(t, 1, "").Preprocessor()
	if d := schemaDiff(base, testDetector(t, 2, "").Preprocessor()); d != "" {
		t.Errorf("two seeds of one table differ: %s", d)
	}
	for name, c := range map[string]struct {
		edit func(string) string
		want string
	}{
		"rename":   {func(s string) string { return strings.Replace(s, "amount,", "amt,", 1) }, `"amt"`},
		"category": {func(s string) string { return s + "1.5,3,jp,ok\n" }, "categories [de fr jp us]"},
	} {
		if d := schemaDiff(base, otherDetector(t, c.edit).Preprocessor()); !strings.Contains(d, c.want) {
			t.Errorf("%s: schemaDiff = %q; want it to say %s", name, d, c.want)
		}
	}
}

// Options.Precision holds for the model served at start and for the
// ones Swap brings; FP32 scores are the detector's own to the bit.
func TestPrecisionOnSwap(t *testing.T) {
	want := ae.INT8
	if !nn.Int8Available() {
		want = ae.FP32 // the CPU falls back, and the server says so
	}
	det := testDetector(t, 1, "")
	s, err := New(det, Options{Precision: ae.INT8})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.cur.Load().det.Model().Precision(); got != want {
		t.Fatalf("served at %v, want %v", got, want)
	}
	if det.Model().Precision() != ae.FP32 {
		t.Error("serving changed the caller's detector")
	}
	if err := s.Swap(testDetector(t, 2, "")); err != nil {
		t.Fatal(err)
	}
	if got := s.cur.Load().det.Model().Precision(); got != want {
		t.Errorf("after Swap served at %v, want %v", got, want)
	}
	fp, err := New(det, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.LoadFS(fstest.MapFS{"t.csv": {Data: []byte(tableCSV())}}, "t.csv", dataset.LoadOptions{Label: "label"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := det.Score(ds.X)
	if err != nil {
		t.Fatal(err)
	}
	b, err := fp.cur.Load().det.Score(ds.X)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if a[i].Score != b[i].Score {
			t.Fatalf("row %d: FP32 serving scores %v, the detector %v", i, b[i].Score, a[i].Score)
		}
	}
}
