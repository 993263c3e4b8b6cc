package onnx

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/train"
)

// TestFormatReader runs the numpy-only reader of docs/FORMAT.md on dense
// table models (Mahalanobis and MSE scores) and compares its scores and
// reconstructions with bottleneck's: the document describes the file
// exactly. It needs /usr/bin/python3 with numpy.
func TestFormatReader(t *testing.T) {
	const py = "/usr/bin/python3"
	if exec.Command(py, "-c", "import numpy").Run() != nil {
		t.Skip("docs/FORMAT.md reader skipped: no /usr/bin/python3 with numpy (apt-get install python3-numpy)")
	}
	doc, err := os.ReadFile(filepath.Join("..", "docs", "FORMAT.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(doc), "<!-- reader -->\n```python\n")
	code, _, ok2 := strings.Cut(block, "```\n<!-- /reader -->")
	if !ok || !ok2 {
		t.Fatal("docs/FORMAT.md has no reader block between <!-- reader --> and <!-- /reader -->")
	}
	dir := t.TempDir()
	reader := filepath.Join(dir, "reader.py")
	if err := os.WriteFile(reader, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	// numeric columns only: amount follows hour, load and noise do not
	rng := rand.New(rand.NewPCG(4, 5))
	var csv strings.Builder
	csv.WriteString("amount,hour,load,noise\n")
	for i := range 300 {
		h := i % 24
		fmt.Fprintf(&csv, "%.2f,%d,%.3f,%.3f\n", 20+2*float64(h)+rng.NormFloat64(), h, 3+rng.ExpFloat64(), rng.NormFloat64())
	}
	ds, err := dataset.LoadFS(fstest.MapFS{"rows.csv": {Data: []byte(csv.String())}}, "rows.csv", dataset.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "rows.csv")
	if err := os.WriteFile(data, []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, score := range []string{anomaly.MetricMahal, anomaly.MetricMSE} {
		d := trainDetector(t, ds, anomaly.TrainOptions{Hidden: []int{8, 5}, Code: 2, Score: score, Seed: 3, Fit: train.Options{Epochs: 3}})
		model := filepath.Join(dir, score+".safetensors")
		if err := d.Save(model); err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd := exec.Command(py, reader, model, data)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("reader: %v\n%s", err, stderr.String())
		}
		want, err := d.Score(ds.X)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := d.Model().Clone().Reconstruct(nil, ds.X)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != len(want) {
			t.Fatalf("reader printed %d rows, want %d", len(lines), len(want))
		}
		var ds2, dr float64
		for i, line := range lines {
			f := strings.Fields(line)
			s, _ := strconv.ParseFloat(f[0], 64)
			ds2 = max(ds2, math.Abs(s-want[i].Score)/max(1, math.Abs(want[i].Score)))
			for j, v := range f[1:] {
				x, _ := strconv.ParseFloat(v, 64)
				dr = max(dr, math.Abs(x-float64(rec.Row(i)[j])))
			}
		}
		t.Logf("%s: the numpy reader against bottleneck on %d rows: score max |Δ|/max(|s|,1) %.2g, reconstruction max |Δ| %.2g", score, len(lines), ds2, dr)
		// float32 arithmetic in another order (numpy's) moves the residual
		// by a last bit, and the nearly singular residual covariance of
		// mahal amplifies that: measured 4.5e-5 here, 5.5e-8 for mse
		tol := 1e-5
		if score == anomaly.MetricMahal {
			tol = 2e-4
		}
		if ds2 > tol || dr > 1e-5 {
			t.Errorf("%s: the reader of docs/FORMAT.md differs from bottleneck: score %g, reconstruction %g", score, ds2, dr)
		}
	}
}
