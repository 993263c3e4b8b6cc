// Command anomaly-explore compares the detector's score metrics on the 17
// ODDS sets, the experiment behind the defaults (docs/RESULTS.md,
// "Choosing the defaults"): for every set and seed it trains a detector
// with anomaly.Train on all rows (no validation split, contamination
// unknown), once per epoch count and score metric, and prints each set's
// mean ROC-AUC over the seeds and, as "ens", the AUC of the seeds' robust
// z-scores added.
//
//	go run ./scripts/anomaly-explore -seeds 3 -at 5,10,20 -scores mse,nmse,mahal
//	go run ./scripts/anomaly-explore -seeds 3 -at 20 -scores mahal -trim -1,0.1,0.2,0.3
//
// Up to commit d394437 this script had its own training loop and scored
// ad-hoc variants (the code's and the error's Mahalanobis distances on
// their own, log-MSE sums); the rows of docs/RESULTS.md marked so come
// from that version. Now it runs the product's own training and scoring.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/tensor"
	"github.com/bottleneck-ml/bottleneck/train"
)

var (
	data   = flag.String("data", "../shared/data/odds", "the ODDS folder (.mat files)")
	seeds  = flag.Int("seeds", 3, "seeds per set")
	evalAt = flag.String("at", "5,10,20", "epoch counts")
	only   = flag.String("only", "", "comma-separated set names (default all 17)")
	snames = flag.String("scores", "mse,nmse,mahal", "score metrics to compare")
	trims  = flag.String("trim", "0", "mahal covariance trims to compare (0: the default; -1: none)")
	lr     = flag.Float64("lr", 1e-3, "learning rate")
	batch  = flag.Int("batch", 128, "batch size")
)

// ODDS17 are the 17 ODDS sets of PyOD's benchmark table.
var ODDS17 = []string{"arrhythmia", "cardio", "glass", "ionosphere", "letter", "lympho", "mnist", "musk", "optdigits", "pendigits", "pima", "satellite", "satimage-2", "shuttle", "vertebral", "vowels", "wbc"}

// load reads an ODDS .mat file as a standardised dataset and its labels.
func load(name string) (*dataset.Dataset, []bool) {
	f, err := os.Open(filepath.Join(*data, name+".mat"))
	check(err)
	defer f.Close()
	m, err := dataset.ReadMAT(name, f)
	check(err)
	x, y := m["X"], m["y"]
	t := tensor.New(x.Rows, x.Cols)
	for i, v := range x.Data {
		t.Data[i] = float32(v)
	}
	ds, err := dataset.FromTensor(name, t, dataset.ScaleStandardize)
	check(err)
	lab := make([]bool, x.Rows)
	for i := range lab {
		lab[i] = y.Data[i] != 0
	}
	return ds, lab
}

func ints(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		check(err)
		out = append(out, v)
	}
	return out
}

func floats(s string) []float64 {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		check(err)
		out = append(out, v)
	}
	return out
}

func main() {
	flag.Parse()
	ats, trimList := ints(*evalAt), floats(*trims)
	names := ODDS17
	if *only != "" {
		names = strings.Split(*only, ",")
	}
	type key struct {
		at    int
		score string
		trim  float64
	}
	var keys []key
	for _, at := range ats {
		for _, sn := range strings.Split(*snames, ",") {
			for _, tr := range trimList {
				if sn != anomaly.MetricMahal && tr != trimList[0] {
					continue
				}
				keys = append(keys, key{at, sn, tr})
			}
		}
	}
	single := map[key][]float64{} // per set: mean over seeds
	ens := map[key][]float64{}
	for _, name := range names {
		ds, y := load(name)
		var line []string
		for _, k := range keys {
			var aucs []float64
			sum := make([]float64, ds.Len())
			for s := 1; s <= *seeds; s++ {
				det, err := anomaly.Train(context.Background(), ds, anomaly.TrainOptions{
					Seed: uint64(s), Batch: *batch, Val: -1, Score: k.score, ScoreTrim: k.trim,
					Fit: train.Options{Epochs: k.at, LR: *lr},
				})
				check(err)
				res, err := det.ScoreWith(ds.X, anomaly.ScoreOptions{Top: -1})
				check(err)
				sc := anomaly.Scores(res)
				aucs = append(aucs, anomaly.ROCAUC(sc, y))
				for i, z := range robustZ(sc) {
					sum[i] += z
				}
			}
			mu, e := mean(aucs), anomaly.ROCAUC(sum, y)
			single[k] = append(single[k], mu)
			ens[k] = append(ens[k], e)
			line = append(line, fmt.Sprintf("%d/%s/%g %.3f(e%.3f)", k.at, k.score, k.trim, mu, e))
		}
		fmt.Printf("%-11s n=%d d=%d | %s\n", name, ds.Len(), ds.Dim(), strings.Join(line, " "))
	}
	fmt.Println("MEANS over", len(names))
	for _, k := range keys {
		fmt.Printf("  ep%-3d %-6s trim %-4g single %.4f  ens%d %.4f\n", k.at, k.score, k.trim, mean(single[k]), *seeds, mean(ens[k]))
	}
}

// robustZ standardises v by its median and MAD.
func robustZ(v []float64) []float64 {
	st := anomaly.Summarize(v)
	mad := max(1.4826*st.MAD, 1e-12)
	out := make([]float64, len(v))
	for i, a := range v {
		out[i] = (a - st.Median) / mad
	}
	return slices.Clip(out)
}

func mean(v []float64) float64 {
	var s float64
	for _, a := range v {
		s += a
	}
	return s / float64(max(len(v), 1))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
