// Command anomaly-bench runs the anomaly-detection benchmarks of
// docs/RESULTS.md through the library (anomaly.Train and anomaly.Evaluate,
// what `bottleneck train` and `bottleneck eval` call) and prints a Markdown
// table: per dataset the mean ± std over seeds and the equivalent command
// lines.
//
//	go run ./scripts/anomaly-bench -suite odds   [-seeds 5] [-epochs 50]
//	go run ./scripts/anomaly-bench -suite adbench
//	go run ./scripts/anomaly-bench -suite nslkdd
//	go run ./scripts/anomaly-bench -suite mnist
//	go run ./scripts/anomaly-bench -suite skab  [-window 10]
//	go run ./scripts/anomaly-bench -suite kdd99
//	go run ./scripts/anomaly-bench -suite far   [-compare mad:3.5] [-dump DIR]
//
// ODDS .mat files are converted to .npz (X, y) in a temporary folder first
// (dataset.ReadMAT); the command lines print that folder as $TMP.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/train"
)

var (
	data      = flag.String("data", "../shared/data", "the shared data folder")
	suite     = flag.String("suite", "odds", "odds, adbench, nslkdd, mnist")
	seeds     = flag.Int("seeds", 5, "seeds per dataset (1..N)")
	epochs    = flag.Int("epochs", 0, "training epochs (train --epochs; 0: train's default, 20, or anomaly.NormalEpochs for rows filtered by a normal label)")
	scoreTrim = flag.Float64("score-trim", -1, "mahal covariance trim (train --score-trim; -1 automatic)")
	score     = flag.String("score", "", "score metric (train --score)")
	threshold = flag.String("threshold", "", "threshold spec (train --threshold)")
	only      = flag.String("only", "", "comma-separated dataset names to run (default all)")
	keys      = flag.String("keys", "roc_auc", "comma-separated eval JSON keys to report")
	precision = flag.String("precision", "fp32", "inference precision of the evaluation (ae.Model.SetPrecision): fp32 or int8")
	window    = flag.Int("window", 10, "skab: window length (--window)")
	trainN    = flag.Int("train-rows", 400, "skab: leading rows of each experiment trained on")
	tmpDir    string
)

// ODDS17 are the 17 ODDS sets of PyOD's benchmark table.
var ODDS17 = []string{"arrhythmia", "cardio", "glass", "ionosphere", "letter", "lympho", "mnist", "musk", "optdigits", "pendigits", "pima", "satellite", "satimage-2", "shuttle", "vertebral", "vowels", "wbc"}

type job struct {
	name  string
	train []string   // train args without -o and --seed (shown)
	evals [][]string // eval args without -m and --json; one result row each (shown)
	tags  []string   // names of the eval rows
	// what runs: the training data and how to read it, and the eval files
	trainPath  string
	trainOpt   dataset.LoadOptions
	evalPaths  []string
	evalOpt    dataset.LoadOptions
	evalNormal string
}

// extra is the train flags the -epochs, -score-trim, -score and
// -threshold flags stand for, for the command column.
func extra() string {
	var f []string
	if *epochs > 0 {
		f = append(f, fmt.Sprintf("--epochs %d", *epochs))
	}
	if *scoreTrim >= 0 {
		f = append(f, fmt.Sprintf("--score-trim %g", *scoreTrim))
	}
	if *score != "" {
		f = append(f, "--score "+*score)
	}
	if *threshold != "" {
		f = append(f, "--threshold "+*threshold)
	}
	return strings.Join(f, " ")
}

// trainDetector trains a detector on ds as `bottleneck train` would with
// the script's flags and its defaults.
func trainDetector(ds *dataset.Dataset, seed uint64, window int) *anomaly.Detector {
	o := anomaly.TrainOptions{Seed: seed, Window: window, Stride: 1, Score: *score, Threshold: *threshold,
		Fit: train.Options{Epochs: *epochs, Patience: 5}}
	switch {
	case *scoreTrim == 0:
		o.ScoreTrim = -1
	case *scoreTrim > 0:
		o.ScoreTrim = *scoreTrim
	}
	det, err := anomaly.Train(context.Background(), ds, o)
	check(err)
	return det
}

func main() {
	flag.Parse()
	var err error
	tmpDir, err = os.MkdirTemp("", "anomaly-bench")
	check(err)
	defer os.RemoveAll(tmpDir)
	var jobs []job
	switch *suite {
	case "odds":
		jobs = oddsJobs()
	case "adbench":
		jobs = adbenchJobs()
	case "nslkdd":
		jobs = nslkddJobs()
	case "mnist":
		jobs = mnistJobs()
	case "skab":
		skab()
		return
	case "kdd99":
		kdd99()
		return
	case "far":
		far()
		return
	default:
		check(fmt.Errorf("unknown suite %q", *suite))
	}
	want := map[string]bool{}
	for _, n := range strings.Split(*only, ",") {
		if n != "" {
			want[n] = true
		}
	}
	ks := strings.Split(*keys, ",")
	fmt.Printf("| dataset | %s | seeds | command |\n|---|%s---|---|\n", strings.Join(ks, " | "), strings.Repeat("---|", len(ks)))
	means := map[string][]float64{}
	start := time.Now()
	for _, j := range jobs {
		if len(want) > 0 && !want[j.name] {
			continue
		}
		vals := make([]map[string][]float64, len(j.evals))
		for i := range vals {
			vals[i] = map[string][]float64{}
		}
		for s := 1; s <= *seeds; s++ {
			ds, err := dataset.Load(j.trainPath, j.trainOpt)
			check(err)
			det := trainDetector(ds, uint64(s), 0)
			prec, err := nn.ParsePrecision(*precision)
			check(err)
			_, err = det.Model().SetPrecision(prec)
			check(err)
			for i, path := range j.evalPaths {
				te, err := dataset.LoadWith(path, det.Preprocessor(), j.evalOpt)
				check(err)
				m, _, _, err := anomaly.Evaluate(det, te, j.evalNormal)
				check(err)
				raw, _ := json.Marshal(m)
				var res map[string]any
				check(json.Unmarshal(raw, &res))
				for _, k := range ks {
					if v, ok := res[k].(float64); ok {
						vals[i][k] = append(vals[i][k], v)
					}
				}
			}
		}
		for i := range j.evals {
			name := j.name
			if j.tags != nil {
				name += " " + j.tags[i]
			}
			cells := make([]string, len(ks))
			for c, k := range ks {
				m, sd := meanStd(vals[i][k])
				cells[c] = fmt.Sprintf("%.4f ± %.4f", m, sd)
				if i == 0 {
					means[k] = append(means[k], m)
				}
			}
			cmd := "`bottleneck train " + show(j.train) + " " + extra() + " -o m.safetensors --seed S` then `bottleneck eval -m m.safetensors --json " + show(j.evals[i]) + "`"
			fmt.Printf("| %s | %s | %d | %s |\n", name, strings.Join(cells, " | "), *seeds, cmd)
		}
	}
	for _, k := range ks {
		m, _ := meanStd(means[k])
		fmt.Printf("\nmean %s over %d datasets: %.4f (%.0fs)\n", k, len(means[k]), m, time.Since(start).Seconds())
	}
}

func show(args []string) string {
	s := strings.Join(args, " ")
	s = strings.ReplaceAll(s, tmpDir, "$TMP")
	return strings.ReplaceAll(s, *data, "$DATA")
}

func meanStd(v []float64) (float64, float64) {
	if len(v) == 0 {
		return math.NaN(), math.NaN()
	}
	var s float64
	for _, x := range v {
		s += x
	}
	m := s / float64(len(v))
	var ss float64
	for _, x := range v {
		ss += (x - m) * (x - m)
	}
	return m, math.Sqrt(ss / float64(len(v)))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "anomaly-bench:", err)
		os.Exit(1)
	}
}

// matToNPZ converts an ODDS .mat file to an .npz with X and y.
func matToNPZ(src, dst string) {
	x, y, err := readMATXY(src)
	check(err)
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	writeXY(dst, x, y, idx)
}

func oddsJobs() []job {
	var jobs []job
	for _, n := range ODDS17 {
		npz := filepath.Join(tmpDir, n+".npz")
		matToNPZ(filepath.Join(*data, "odds", n+".mat"), npz)
		jobs = append(jobs, job{name: n, train: []string{"--data", npz}, evals: [][]string{{"--data", npz}},
			trainPath: npz, evalPaths: []string{npz}})
	}
	return jobs
}

func adbenchJobs() []job {
	files, err := filepath.Glob(filepath.Join(*data, "adbench", "*.npz"))
	check(err)
	sort.Strings(files)
	var jobs []job
	for _, f := range files {
		n := strings.TrimSuffix(filepath.Base(f), ".npz")
		jobs = append(jobs, job{name: n, train: []string{"--data", f}, evals: [][]string{{"--data", f}},
			trainPath: f, evalPaths: []string{f}})
	}
	return jobs
}

func nslkddJobs() []job {
	d := filepath.Join(*data, "nsl-kdd")
	cols := filepath.Join(*data, "kddcup99", "kddcup.names") + ",label,difficulty"
	names, err := dataset.ReadColumnNames(filepath.Join(*data, "kddcup99", "kddcup.names"))
	check(err)
	opt := dataset.LoadOptions{Header: dataset.NoHeader, Columns: append(names, "label", "difficulty"), Label: "label", Drop: []string{"difficulty"}}
	trainOpt := opt
	trainOpt.Normal = "normal"
	return []job{{
		name:      "NSL-KDD",
		train:     []string{"--data", filepath.Join(d, "KDDTrain+_20Percent.txt"), "--no-header", "--columns", cols, "--label", "label", "--drop", "difficulty", "--normal", "normal"},
		evals:     [][]string{{"--data", filepath.Join(d, "KDDTest+.txt")}, {"--data", filepath.Join(d, "KDDTest-21.txt")}},
		tags:      []string{"KDDTest+", "KDDTest-21"},
		trainPath: filepath.Join(d, "KDDTrain+_20Percent.txt"), trainOpt: trainOpt,
		evalPaths: []string{filepath.Join(d, "KDDTest+.txt"), filepath.Join(d, "KDDTest-21.txt")}, evalOpt: opt,
	}}
}

func mnistJobs() []job {
	d := filepath.Join(*data, "mnist")
	var jobs []job
	for digit := 0; digit < 10; digit++ {
		jobs = append(jobs, job{
			name:      fmt.Sprintf("digit %d", digit),
			train:     []string{"--data", filepath.Join(d, "train-images-idx3-ubyte.gz"), "--normal", fmt.Sprint(digit)},
			evals:     [][]string{{"--data", filepath.Join(d, "t10k-images-idx3-ubyte.gz"), "--normal", fmt.Sprint(digit)}},
			trainPath: filepath.Join(d, "train-images-idx3-ubyte.gz"), trainOpt: dataset.LoadOptions{Normal: fmt.Sprint(digit)},
			evalPaths: []string{filepath.Join(d, "t10k-images-idx3-ubyte.gz")}, evalNormal: fmt.Sprint(digit),
		})
	}
	return jobs
}
