package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExportImport trains a table detector, exports it, imports the ONNX
// file back and scores with both: the same scores. It also exports a VAE
// (with its decoder), imports the PyTorch fixture and calibrates it on
// data, and refuses what cannot be exported or imported.
func TestExportImport(t *testing.T) {
	dir := t.TempDir()
	data := writeTable(t, dir, 200)
	model := filepath.Join(dir, "m.safetensors")
	mustRun(t, "train", "--data", data, "--label", "class", "--normal", "normal", "--hidden", "4", "--code", "2", "--epochs", "2", "-o", model, "-q")
	onnxFile := filepath.Join(dir, "m.onnx")
	out := mustRun(t, "export", "-m", model, "-o", onnxFile)
	if !strings.Contains(out, "outputs reconstruction, code, score, anomaly") {
		t.Errorf("export printed %q", out)
	}
	back := filepath.Join(dir, "back.safetensors")
	mustRun(t, "import", onnxFile, "-o", back)
	s1, s2 := filepath.Join(dir, "s1.csv"), filepath.Join(dir, "s2.csv")
	mustRun(t, "score", "-m", model, "--data", data, "-o", s1, "-q")
	mustRun(t, "score", "-m", back, "--data", data, "-o", s2, "-q")
	a, _ := os.ReadFile(s1)
	b, _ := os.ReadFile(s2)
	if len(a) == 0 || string(a) != string(b) {
		t.Errorf("scores of the imported model differ from the original's")
	}

	out = mustRun(t, "export", "-m", "mnist-vae", "-o", filepath.Join(dir, "vae.onnx"))
	if _, err := os.Stat(filepath.Join(dir, "vae.decoder.onnx")); err != nil || !strings.Contains(out, "vae.decoder.onnx") {
		t.Errorf("no decoder written for a VAE: %q", out)
	}

	torch := filepath.Join("..", "..", "onnx", "testdata", "torch_dense.onnx")
	cal := filepath.Join(dir, "torch.safetensors")
	var rows strings.Builder
	for i := range 20 {
		fmt.Fprintf(&rows, "f%d%s", i, map[bool]string{true: "\n", false: ","}[i == 19])
	}
	for r := range 100 {
		for i := range 20 {
			fmt.Fprintf(&rows, "%.3f%s", float64((r*7+i*13)%100)/100, map[bool]string{true: "\n", false: ","}[i == 19])
		}
	}
	csv := filepath.Join(dir, "t.csv")
	if err := os.WriteFile(csv, []byte(rows.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out = mustRun(t, "import", torch, "-o", cal, "--data", csv, "--scale", "none", "--score", "mse")
	if !strings.Contains(out, "dense 20 → 16 → 4 → 16 → 20") || !strings.Contains(out, "threshold: mse score >") {
		t.Errorf("import --data printed %q", out)
	}
	mustRun(t, "score", "-m", cal, "--data", csv, "-o", filepath.Join(dir, "s3.csv"), "-q")

	if code, _, errs := run(t, "export", "-m", model, "-o", filepath.Join(dir, "x.onnx"), "--opset", "9"); code == 0 || !strings.Contains(errs, "opset 9") {
		t.Errorf("export --opset 9: exit %d, %q", code, errs)
	}
	if code, _, errs := run(t, "import", model, "-o", filepath.Join(dir, "x.safetensors")); code == 0 || !strings.Contains(errs, "not an ONNX model") {
		t.Errorf("import of a safetensors file: exit %d, %q", code, errs)
	}
}
