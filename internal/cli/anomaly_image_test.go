package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A conv autoencoder scores images by their pixel error and draws
// heat-maps of the most anomalous ones.
func TestScoreImagesHeatmap(t *testing.T) {
	dir := t.TempDir()
	data := writeIDX(t, dir, 64)
	model := filepath.Join(dir, "conv.safetensors")
	mustRun(t, "train", "--task", "reconstruct", "--data", data, "--patch", "8",
		"--encoder", "conv:4:3:s2,relu", "--decoder", "convt:1:3:s2,sigmoid",
		"--epochs", "1", "--steps", "5", "-o", model)
	maps := filepath.Join(dir, "maps")
	code, out, errs := run(t, "score", "-m", model, "--data", data, "--heatmap", maps, "--heatmap-top", "3")
	if code != 0 {
		t.Fatalf("score: exit %d\n%s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 65 || lines[0] != "row,score,anomaly" {
		t.Fatalf("scores: %d lines, header %q", len(lines), lines[0])
	}
	if !strings.Contains(errs, "mse score >") || !strings.Contains(errs, "wrote 3 heat-maps") {
		t.Errorf("stderr: %s", errs)
	}
	pngs, _ := filepath.Glob(filepath.Join(maps, "rank*.png"))
	if len(pngs) != 3 {
		t.Fatalf("heat-maps: %v", pngs)
	}
	if st, err := os.Stat(pngs[0]); err != nil || st.Size() == 0 {
		t.Errorf("%s: %v", pngs[0], err)
	}
	if code, _, errs := run(t, "score", "-m", model, "--data", data, "--threshold", "f1"); code == 0 || !strings.Contains(errs, "f1") {
		t.Errorf("--threshold f1 on images: exit %d, %s", code, errs)
	}
}
