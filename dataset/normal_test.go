package dataset

import "testing"

func TestNormalMatch(t *testing.T) {
	for _, c := range []struct {
		spec  string
		label string
		want  bool
	}{
		{"normal", "normal", true},
		{"normal", "attack", false},
		{"normal,benign", "benign", true},
		{"normal,benign", "attack", false},
		{"!normal.", "smurf.", true},
		{"!normal.", "normal.", false},
		{"!a,b", "b", false},
		{"!a,b", "c", true},
	} {
		if got := NormalMatch(c.spec)(c.label); got != c.want {
			t.Errorf("NormalMatch(%q)(%q) = %v, want %v", c.spec, c.label, got, c.want)
		}
	}
}
