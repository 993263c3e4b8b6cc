package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestBenchJSON(t *testing.T) {
	out := mustRun(t, "bench", "--model", "dense-tabular", "--batch", "8", "--steps", "2", "--warmup", "1", "--threads", "1", "--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 {
		t.Fatalf("bench --json printed %d lines; want 1:\n%s", len(lines), out)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &r); err != nil {
		t.Fatalf("bench --json: %v\n%s", err, out)
	}
	for k, want := range map[string]any{"model": "dense-tabular", "batch": 8.0, "threads": 1.0, "steps": 2.0, "warmup": 1.0, "params": 20546.0, "train_steps": 2.0} {
		if r[k] != want {
			t.Errorf("bench --json: %s = %v; want %v", k, r[k], want)
		}
	}
	for _, k := range []string{"train_samples_per_s", "infer_samples_per_s"} {
		if v, _ := r[k].(float64); v <= 0 {
			t.Errorf("bench --json: %s = %v; want > 0", k, r[k])
		}
	}
}

func TestBenchTable(t *testing.T) {
	out := mustRun(t, "bench", "--model", "dense-tabular", "--batch", "4", "--steps", "1", "--warmup", "0", "--mode", "train")
	for _, want := range []string{"train samples/s", "dense-tabular", "contention"} {
		if !strings.Contains(out, want) {
			t.Errorf("bench table lacks %q:\n%s", want, out)
		}
	}
}

func TestBenchDescribe(t *testing.T) {
	out := mustRun(t, "bench", "--describe")
	for _, want := range []string{"1,100,112", "442,177", "20,546", "8,129", "17,493,696"} {
		if !strings.Contains(out, want) {
			t.Errorf("bench --describe lacks %q:\n%s", want, out)
		}
	}
}

func TestBenchUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"bench"}, "--model"},
		{[]string{"bench", "--model", "resnet"}, "dense-mnist"},
		{[]string{"bench", "--model", "srcnn", "--mode", "fast"}, "--mode"},
		{[]string{"bench", "--model", "srcnn", "--steps", "0"}, "--steps"},
		{[]string{"bench", "--model", "srcnn", "--batch", "-1"}, "--batch"},
		{[]string{"bench", "--model", "srcnn", "--min-time", "-1"}, "--min-time"},
	}
	for _, tc := range cases {
		code, _, errs := run(t, tc.args...)
		if code != exitUsage || !strings.Contains(errs, tc.want) {
			t.Errorf("bottleneck %s: exit %d, stderr %q; want exit %d mentioning %s",
				strings.Join(tc.args, " "), code, errs, exitUsage, tc.want)
		}
	}
}

func TestBenchHelpHasExamples(t *testing.T) {
	if out := mustRun(t, "bench", "--help"); !strings.Contains(out, "Examples:") {
		t.Errorf("bench --help has no examples:\n%s", out)
	}
}
