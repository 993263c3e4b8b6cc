package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run executes one command line in process and returns its exit code,
// stdout and stderr.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := run(t, args...)
	if code != 0 {
		t.Fatalf("bottleneck %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// writeTable writes a small CSV with a header: three numeric features, one
// categorical, and a label column.
func writeTable(t *testing.T, dir string, n int) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	b.WriteString("duration,bytes,rate,proto,class\n")
	for i := 0; i < n; i++ {
		a := rng.Float64()
		proto := []string{"tcp", "udp", "icmp"}[i%3]
		class := "normal"
		if i%10 == 0 {
			class = "attack"
		}
		fmt.Fprintf(&b, "%.3f,%.1f,%.4f,%s,%s\n", a*10, 100+a*900+rng.Float64()*5, a, proto, class)
	}
	p := filepath.Join(dir, "table.csv")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeIDX writes n gzipped 8×8 images (a bright bar at a random row) as
// an MNIST-style IDX file.
func writeIDX(t *testing.T, dir string, n int) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	var raw bytes.Buffer
	binary.Write(&raw, binary.BigEndian, []uint32{0x803, uint32(n), 8, 8})
	for i := 0; i < n; i++ {
		r := rng.IntN(8)
		for y := 0; y < 8; y++ {
			for x := 0; x < 8; x++ {
				v := byte(0)
				if y == r {
					v = 255
				}
				raw.WriteByte(v)
			}
		}
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw.Bytes())
	zw.Close()
	p := filepath.Join(dir, "bars-images-idx3-ubyte.gz")
	if err := os.WriteFile(p, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTableWorkflow(t *testing.T) {
	dir := t.TempDir()
	data := writeTable(t, dir, 240)
	model := filepath.Join(dir, "m.safetensors")
	out := mustRun(t, "train", "--data", data, "--label", "class", "-o", model,
		"--hidden", "8", "--code", "2", "--epochs", "3", "--batch", "32", "-q")
	if !strings.Contains(out, "saved "+model) {
		t.Errorf("train output %q does not name the model", out)
	}
	for _, side := range []string{"m.history.json", "m.loss.png"} {
		if _, err := os.Stat(filepath.Join(dir, side)); err != nil {
			t.Errorf("train did not write %s: %v", side, err)
		}
	}
	if _, err := os.Stat(model + ".ckpt"); err == nil {
		t.Error("checkpoint left behind after a finished training")
	}

	out = mustRun(t, "inspect", model)
	for _, want := range []string{"dense autoencoder", "parameters", "encoder.0.weight", "3/3 epochs", "label"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}

	// The label column is remembered: encode needs no --label.
	codesCSV := filepath.Join(dir, "codes.csv")
	mustRun(t, "encode", "-m", model, "--data", data, "-o", codesCSV)
	b, _ := os.ReadFile(codesCSV)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 241 || lines[0] != "z0,z1" {
		t.Errorf("codes.csv: %d lines, header %q; want 241 and z0,z1", len(lines), lines[0])
	}
	codesNPY := filepath.Join(dir, "codes.npy")
	mustRun(t, "encode", "-m", model, "--data", data, "-o", codesNPY)
	b, _ = os.ReadFile(codesNPY)
	if !bytes.Contains(b, []byte("(240, 2)")) {
		t.Errorf("codes.npy header does not say shape (240, 2): %q", b[:min(len(b), 80)])
	}

	recon := filepath.Join(dir, "recon.csv")
	mustRun(t, "reconstruct", "-m", model, "--data", data, "-o", recon)
	b, _ = os.ReadFile(recon)
	lines = strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 241 || !strings.Contains(lines[0], "duration") {
		t.Errorf("recon.csv: %d lines, header %q", len(lines), lines[0])
	}

	out = mustRun(t, "eval", "-m", model, "--data", data, "--json")
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("eval --json printed %q: %v", out, err)
	}
	if _, ok := res["mse"].(float64); !ok {
		t.Errorf("eval --json has no numeric mse: %s", out)
	}
	if _, ok := res["bce"]; !ok {
		t.Errorf("eval --json has no bce key: %s", out)
	}
}

func TestImageWorkflow(t *testing.T) {
	dir := t.TempDir()
	data := writeIDX(t, dir, 200)
	model := filepath.Join(dir, "bars.safetensors")
	mustRun(t, "train", "--data", data, "-o", model, "--hidden", "16", "--code", "4", "--epochs", "2", "--batch", "20", "-q", "--no-plot")
	grid := filepath.Join(dir, "grid.png")
	mustRun(t, "reconstruct", "-m", model, "--data", data, "-o", grid, "--n", "8")
	f, err := os.Open(grid)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("grid.png: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 8*8 || b.Dy() < 2*8 {
		t.Errorf("grid is %v; want at least 8 images wide and 2 rows", b)
	}
	out := mustRun(t, "eval", "-m", model, "--data", data, "--json")
	var res EvalResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.BCE == nil || res.Rows != 200 || res.Features != 64 {
		t.Errorf("eval = %+v; want bce, 200 rows, 64 features", res)
	}
}

func TestResumeFlag(t *testing.T) {
	dir := t.TempDir()
	data := writeTable(t, dir, 100)
	model := filepath.Join(dir, "m.safetensors")
	ckpt := filepath.Join(dir, "keep.ckpt")
	// Interrupted run: a cancelled context saves the checkpoint.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb bytes.Buffer
	code := Run(ctx, []string{"train", "--data", data, "--label", "class", "-o", model, "--epochs", "2", "--checkpoint", ckpt, "-q"}, &out, &errb)
	if code != exitInterrupted {
		t.Fatalf("interrupted train exit %d; want %d (%s)", code, exitInterrupted, errb.String())
	}
	if _, err := os.Stat(ckpt); err != nil {
		t.Fatalf("no checkpoint: %v", err)
	}
	mustRun(t, "train", "--data", data, "--label", "class", "-o", model, "--epochs", "2", "--checkpoint", ckpt, "--resume", "-q")
	if _, err := os.Stat(model); err != nil {
		t.Fatal(err)
	}
}

func TestUserErrors(t *testing.T) {
	dir := t.TempDir()
	table := writeTable(t, dir, 50)
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("a,b,c\n1,2,3\n4,5\n6,7,8\n"), 0o644)
	notModel := filepath.Join(dir, "not-a-model.safetensors")
	os.WriteFile(notModel, []byte("hello"), 0o644)
	cases := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"missing data file", []string{"train", "--data", filepath.Join(dir, "nope.csv"), "-o", filepath.Join(dir, "m")}, exitError, []string{"nope.csv"}},
		{"no --data", []string{"train", "-o", "m"}, exitUsage, []string{"--data"}},
		{"no -o", []string{"train", "--data", table}, exitUsage, []string{"--output"}},
		{"bad hidden", []string{"train", "--data", table, "-o", "m", "--hidden", "8,x"}, exitUsage, []string{"--hidden"}},
		{"wrong format", []string{"train", "--data", table, "--format", "npy", "-o", filepath.Join(dir, "m")}, exitError, []string{"table.csv"}},
		{"bad csv row", []string{"train", "--data", bad, "-o", filepath.Join(dir, "m")}, exitError, []string{"bad.csv", "3"}},
		{"unknown flag", []string{"train", "--bogus"}, exitUsage, []string{"bogus"}},
		{"not a model", []string{"eval", "-m", notModel, "--data", table}, exitError, []string{"not-a-model.safetensors"}},
		{"missing model", []string{"inspect", filepath.Join(dir, "none.safetensors")}, exitError, []string{"none.safetensors"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := run(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d; want %d (stderr %q)", code, tc.code, errs)
			}
			for _, w := range tc.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr %q does not mention %q", errs, w)
				}
			}
			if strings.Contains(errs, "panic") || strings.Contains(errs, "goroutine") {
				t.Errorf("stderr shows a panic: %s", errs)
			}
		})
	}
}

func TestHelpHasExamples(t *testing.T) {
	for _, c := range []string{"train", "eval", "encode", "reconstruct", "inspect", "demo"} {
		out := mustRun(t, c, "--help")
		if !strings.Contains(out, "Examples:") {
			t.Errorf("%s --help has no examples", c)
		}
	}
}

func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on 5,000 digits")
	}
	dir := t.TempDir()
	out := mustRun(t, "demo", "--out", dir, "--epochs", "1", "-q")
	for _, want := range []string{"test reconstruction error", "reconstructions.png", "loss.png"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	for _, f := range []string{"reconstructions.png", "loss.png", "demo.safetensors"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}
