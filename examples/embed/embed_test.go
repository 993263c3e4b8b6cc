package main

import (
	"bytes"
	"encoding/csv"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/bottleneck-ml/bottleneck/anomaly"
)

const data = "../../../shared/data"

func needData(t *testing.T) {
	if _, err := os.Stat(filepath.Join(data, "nsl-kdd", "KDDTest+.txt")); err != nil {
		t.Skipf("NSL-KDD not found beside the checkout (%v)", err)
	}
}

// TestSameAsCommandLine trains and scores through the library and checks
// the scores against `bottleneck score` on the same model file, and the
// ROC-AUC against the README's (0.9604).
func TestSameAsCommandLine(t *testing.T) {
	needData(t)
	dir := t.TempDir()
	model := filepath.Join(dir, "kdd.safetensors")
	auc, err := run(data, model)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(auc-0.9604) > 5e-4 {
		t.Errorf("ROC-AUC %.4f; the README's command gives 0.9604", auc)
	}
	bin := filepath.Join(dir, "bottleneck")
	build := exec.Command("go", "build", "-o", bin, "./cmd/bottleneck")
	build.Dir = "../.." // the bottleneck module
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	scores := filepath.Join(dir, "scores.csv")
	cmd := exec.Command(bin, "score", "-m", model, "--data", filepath.Join(data, "nsl-kdd", "KDDTest+.txt"), "--top", "0", "-o", scores, "-q")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bottleneck score: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(scores)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	det, err := anomaly.Open(model)
	if err != nil {
		t.Fatal(err)
	}
	header, records, _, err := testRecords(data)
	if err != nil {
		t.Fatal(err)
	}
	res, err := det.ScoreRecords(header, records)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows)-1 != len(res) {
		t.Fatalf("CLI scored %d rows, the library %d", len(rows)-1, len(res))
	}
	worst := 0.0
	for i, r := range res {
		cli, _ := strconv.ParseFloat(rows[i+1][1], 64)
		worst = max(worst, math.Abs(cli-r.Score)/max(math.Abs(r.Score), 1e-12))
		if (rows[i+1][2] == "1") != r.Anomaly {
			t.Fatalf("row %d: CLI says anomaly %s, the library %v", i, rows[i+1][2], r.Anomaly)
		}
	}
	if worst > 1e-5 {
		t.Errorf("scores differ from the CLI's by up to %.2g (relative)", worst)
	}
}

// TestConcurrentScoring calls one detector from 8 goroutines at once; run
// with -race.
func TestConcurrentScoring(t *testing.T) {
	needData(t)
	det, err := trainKDD(data)
	if err != nil {
		t.Fatal(err)
	}
	header, records, _, err := testRecords(data)
	if err != nil {
		t.Fatal(err)
	}
	records = records[:400]
	want, err := det.ScoreRecords(header, records)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lo := g * 50
			for range 5 {
				got, err := det.ScoreRecords(header, records[lo:lo+50])
				if err != nil {
					t.Error(err)
					return
				}
				for i, r := range got {
					if r.Score != want[lo+i].Score || r.Anomaly != want[lo+i].Anomaly {
						t.Errorf("goroutine %d row %d: %v, alone %v", g, lo+i, r.Score, want[lo+i].Score)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}
