package main

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing/fstest"
	"time"

	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/internal/demo"
	"github.com/bottleneck-ml/bottleneck/internal/synth"
	"github.com/bottleneck-ml/bottleneck/train"
)

// farSets is the -far-sets flag: which groups the far suite runs.
var (
	farSets    = flag.String("far-sets", "demo,nslkdd,odds,adbench", "far suite: groups to run (demo, nslkdd, odds, adbench)")
	farHoldout = flag.Float64("holdout", 0.3, "far suite: fraction of each ODDS/ADBench set held out (stratified) to measure FAR and recall on")
	farCompare = flag.String("compare", "mad:3.5", "far suite: a second threshold spec refitted on the same validation rows, for comparison")
	farDump    = flag.String("dump", "", "far suite: folder to write each run's validation and held-out scores to (JSON lines), for studying threshold rules")
)

// farCount accumulates one set's decisions over seeds.
type farCount struct {
	normal, fa, anom, caught int // held-out normal rows, false alarms, anomalies, anomalies flagged
	faCmp, caughtCmp         int // the same at the -compare threshold
	val, valAnom             int // validation rows the threshold was fitted on, anomalies among them
}

func (c *farCount) add(thr, cmp float64, scores []float64, anomalous []bool) {
	for i, s := range scores {
		if anomalous[i] {
			c.anom++
			if s > thr {
				c.caught++
			}
			if s > cmp {
				c.caughtCmp++
			}
		} else {
			c.normal++
			if s > thr {
				c.fa++
			}
			if s > cmp {
				c.faCmp++
			}
		}
	}
}

// farDumpRow is one run's scores for -dump.
type farDumpRow struct {
	Set      string    `json:"set"`
	Seed     int       `json:"seed"`
	Lower    float64   `json:"lower"` // the score's lower bound (mahal: −(median/MAD) of both terms)
	Val      []float64 `json:"val"`
	Train    []float64 `json:"train,omitempty"` // training rows' scores (at most 20,000, an even stride), for study
	ValY     []bool    `json:"val_y"`           // for study only: the threshold never sees them
	Test     []float64 `json:"test"`
	TestY    []bool    `json:"test_y"`
	Thr      float64   `json:"thr"`
	Compared float64   `json:"compared"`
}

// far measures what the default threshold (or -threshold) promises: per
// set, the false-alarm rate on held-out normal rows of the training
// distribution and the recall of held-out anomalies, pooled over seeds,
// beside the same for -compare refitted on the same validation rows.
//
//   - demo: the demo's detector (demo.TrainFraud: trained on the normal
//     rows of 6,000 synthetic transactions, seed S), FAR and recall on
//     20,000 fresh transactions (synth seed 1000+S);
//   - nslkdd: trained on 80 % of KDDTrain+_20Percent's normal rows (split
//     by seed S), FAR on the other 20 %, recall on KDDTest+'s anomalies;
//   - odds, adbench (every .mat file in $DATA/odds, every .npz in
//     $DATA/adbench): -holdout of the rows (stratified by label, seed S) put
//     aside, the detector trained on all the other rows (anomalies
//     included, labels unused), FAR and recall on the rows put aside.
func far() {
	groups := map[string]bool{}
	for _, g := range strings.Split(*farSets, ",") {
		groups[strings.TrimSpace(g)] = true
	}
	want := map[string]bool{}
	for _, n := range strings.Split(*only, ",") {
		if n != "" {
			want[n] = true
		}
	}
	var dump *bufio.Writer
	if *farDump != "" {
		check(os.MkdirAll(*farDump, 0o755))
		f, err := os.Create(filepath.Join(*farDump, "far.jsonl"))
		check(err)
		defer f.Close()
		dump = bufio.NewWriter(f)
		defer dump.Flush()
	}
	spec := *threshold
	if spec == "" {
		spec = anomaly.DefaultSpec
	}
	cmpSpec, err := anomaly.ParseSpec(*farCompare)
	check(err)
	fmt.Printf("| set | rows | held-out normal rows | anomalies | FAR `%s` | recall | FAR `%s` | recall | validation rows (anomalous) |\n|---|---|---|---|---|---|---|---|---|\n", spec, cmpSpec)
	start := time.Now()
	var fars, farsCmp []float64
	run := func(name string, rows int, one func(seed int) (c farCount, row farDumpRow)) {
		if len(want) > 0 && !want[name] {
			return
		}
		t0 := time.Now()
		var tot farCount
		for s := 1; s <= *seeds; s++ {
			c, row := one(s)
			tot.normal += c.normal
			tot.fa += c.fa
			tot.anom += c.anom
			tot.caught += c.caught
			tot.faCmp += c.faCmp
			tot.caughtCmp += c.caughtCmp
			tot.val += c.val
			tot.valAnom += c.valAnom
			if dump != nil {
				row.Set, row.Seed = name, s
				raw, err := json.Marshal(row)
				check(err)
				dump.Write(raw)
				dump.WriteByte('\n')
				dump.Flush()
			}
		}
		rate := float64(tot.fa) / float64(max(tot.normal, 1))
		fars = append(fars, rate)
		farsCmp = append(farsCmp, float64(tot.faCmp)/float64(max(tot.normal, 1)))
		fmt.Printf("| %s | %d | %d | %d | %.2f %% | %.3f | %.2f %% | %.3f | %d (%d) |\n", name, rows, tot.normal, tot.anom,
			100*rate, float64(tot.caught)/float64(max(tot.anom, 1)),
			100*float64(tot.faCmp)/float64(max(tot.normal, 1)), float64(tot.caughtCmp)/float64(max(tot.anom, 1)), tot.val, tot.valAnom)
		fmt.Fprintf(os.Stderr, "far: %s done in %.0fs (%.0fs in all)\n", name, time.Since(t0).Seconds(), time.Since(start).Seconds())
	}
	if groups["demo"] {
		run("demo transactions", 6000, farDemo)
	}
	if groups["nslkdd"] {
		run("NSL-KDD", 25192, farNSLKDD)
	}
	if groups["odds"] {
		files, err := filepath.Glob(filepath.Join(*data, "odds", "*.mat"))
		check(err)
		sort.Strings(files)
		for _, f := range files {
			n := strings.TrimSuffix(filepath.Base(f), ".mat")
			if len(want) > 0 && !want[n] {
				continue
			}
			x, y, err := readMATXY(f)
			if err != nil {
				// smtp.mat is MATLAB v7.3 (HDF5); ADBench's 34_smtp has its rows
				fmt.Fprintf(os.Stderr, "far: %s skipped: %v\n", n, err)
				continue
			}
			run(n, len(y), func(s int) (farCount, farDumpRow) { return farHoldoutRun(n, x, y, s) })
		}
	}
	if groups["adbench"] {
		files, err := filepath.Glob(filepath.Join(*data, "adbench", "*.npz"))
		check(err)
		sort.Strings(files)
		for _, f := range files {
			n := strings.TrimSuffix(filepath.Base(f), ".npz")
			if len(want) > 0 && !want[n] {
				continue
			}
			x, y := readNPZXY(f)
			run(n, len(y), func(s int) (farCount, farDumpRow) { return farHoldoutRun(n, x, y, s) })
		}
	}
	// the promise: within a factor of 2 of the rate the spec aims for
	// (far:Q, pot:Q, contamination:P), else of 1 %
	target := 0.01
	if sp, err := anomaly.ParseSpec(spec); err == nil && (sp.Method == anomaly.MethodFAR || sp.Method == anomaly.MethodPOT || sp.Method == anomaly.MethodContamination) {
		target = sp.Param
	}
	within := func(rates []float64) int {
		in := 0
		for _, r := range rates {
			if r >= target/2 && r <= 2*target {
				in++
			}
		}
		return in
	}
	fmt.Printf("\nFAR within %.3g–%.3g %%: %d of %d sets at `%s`, %d at `%s` (%d seeds, %.0fs)\n", 50*target, 200*target,
		within(fars), len(fars), spec, within(farsCmp), cmpSpec, *seeds, time.Since(start).Seconds())
}

// fitted returns the detector's threshold (or -threshold refitted, for the
// demo, which always trains with the default) and the -compare spec
// refitted on the validation rows Train fitted it on (the same split),
// after checking that refitting the detector's own spec there gives its
// value.
func fitted(det *anomaly.Detector, ds *dataset.Dataset, seed int, cmp anomaly.Spec) (thr, cmpThr float64, val, trained []float64, lower float64) {
	trainDS, valDS := dataset.Split(ds, 0.1, uint64(seed))
	res, err := det.Score(valDS.X)
	check(err)
	val = anomaly.Scores(res)
	var normal []bool // rows chosen by their normal label: Train fitted far on them as such
	if ds.Pre != nil && ds.Pre.Normal != "" {
		normal = make([]bool, len(val))
	}
	if *farDump != "" {
		if step := (trainDS.Len() + 19999) / 20000; step > 1 {
			idx := make([]int, 0, 20000)
			for i := 0; i < trainDS.Len(); i += step {
				idx = append(idx, i)
			}
			trainDS = trainDS.Subset(idx)
		}
		res, err := det.Score(trainDS.X)
		check(err)
		trained = anomaly.Scores(res)
	}
	th := det.Threshold()
	own, err := anomaly.Fit(anomaly.Spec{Method: th.Method, Param: th.Param}, val, normal, "")
	check(err)
	if math.Abs(own.Value-th.Value) > 1e-9*max(1, math.Abs(th.Value)) {
		check(fmt.Errorf("refitting %s on the validation rows gave %v, the detector has %v: the split differs", th.Method, own.Value, th.Value))
	}
	thr = th.Value
	if *threshold != "" {
		// the demo trains with the default; refit what -threshold asks for
		sp, err := anomaly.ParseSpec(*threshold)
		check(err)
		if sp != (anomaly.Spec{Method: th.Method, Param: th.Param}) {
			t, err := anomaly.Fit(sp, val, normal, "")
			check(err)
			thr = t.Value
		}
	}
	c, err := anomaly.Fit(cmp, val, normal, "")
	check(err)
	if m := det.Scoring().Mahal; m != nil {
		lower = -(m.CodeMed/m.CodeMAD + m.ErrMed/m.ErrMAD)
	}
	return thr, c.Value, val, trained, lower
}

func isAnomalous(labels []string, normal string) []bool {
	y := make([]bool, len(labels))
	for i, l := range labels {
		y[i] = l != normal
	}
	return y
}

func farTrain(ds *dataset.Dataset, seed int) *anomaly.Detector {
	det, err := anomaly.Train(context.Background(), ds, anomaly.TrainOptions{Seed: uint64(seed), Score: *score, Threshold: *threshold,
		Fit: train.Options{Epochs: *epochs, Patience: 5}})
	check(err)
	return det
}

func farDemo(seed int) (farCount, farDumpRow) {
	var buf bytes.Buffer
	check(synth.WriteCSV(&buf, 6000, 0.02, uint64(seed)))
	fsys := fstest.MapFS{"transactions.csv": {Data: bytes.Clone(buf.Bytes())}}
	det, _, err := demo.TrainFraud(context.Background(), fsys, "transactions.csv", uint64(seed), 0)
	check(err)
	buf.Reset()
	check(synth.WriteCSV(&buf, 20000, 0.02, uint64(1000+seed)))
	fresh, err := dataset.LoadWithFS(fstest.MapFS{"fresh.csv": {Data: buf.Bytes()}}, "fresh.csv", det.Preprocessor(), dataset.LoadOptions{Label: "class"})
	check(err)
	trainDS, err := dataset.LoadFS(fsys, "transactions.csv", dataset.LoadOptions{Label: "class", Normal: synth.Normal})
	check(err)
	return farMeasure(det, trainDS, fresh, synth.Normal, seed)
}

func farMeasure(det *anomaly.Detector, trainDS, test *dataset.Dataset, normal string, seed int) (farCount, farDumpRow) {
	cmp, err := anomaly.ParseSpec(*farCompare)
	check(err)
	thr, cmpThr, val, trained, lower := fitted(det, trainDS, seed, cmp)
	res, err := det.Score(test.X)
	check(err)
	scores := anomaly.Scores(res)
	y := isAnomalous(test.Labels, normal)
	var c farCount
	c.add(thr, cmpThr, scores, y)
	c.val = len(val)
	var valY []bool
	if trainDS.Labels != nil && trainDS.Pre.Normal == "" {
		_, v := dataset.Split(trainDS, 0.1, uint64(seed))
		valY = isAnomalous(v.Labels, normal)
		for _, a := range valY {
			if a {
				c.valAnom++
			}
		}
	}
	return c, farDumpRow{Lower: lower, Val: val, ValY: valY, Train: trained, Test: scores, TestY: y, Thr: thr, Compared: cmpThr}
}

func farNSLKDD(seed int) (farCount, farDumpRow) {
	d := filepath.Join(*data, "nsl-kdd")
	names, err := dataset.ReadColumnNames(filepath.Join(*data, "kddcup99", "kddcup.names"))
	check(err)
	opt := dataset.LoadOptions{Header: dataset.NoHeader, Columns: append(names, "label", "difficulty"), Label: "label", Drop: []string{"difficulty"}}
	lines := readLines(filepath.Join(d, "KDDTrain+_20Percent.txt"))
	var normal []string
	for _, l := range lines {
		if f := strings.Split(l, ","); len(f) > 2 && f[len(f)-2] == "normal" {
			normal = append(normal, l)
		}
	}
	perm := rand.New(rand.NewPCG(uint64(seed), 18)).Perm(len(normal))
	nHeld := len(normal) / 5
	trainF, heldF := filepath.Join(tmpDir, "nsl-train.csv"), filepath.Join(tmpDir, "nsl-held.csv")
	writeLines(heldF, perm[:nHeld], normal, func(string) bool { return true })
	writeLines(trainF, perm[nHeld:], normal, func(string) bool { return true })
	trainOpt := opt
	trainOpt.Normal = "normal"
	ds, err := dataset.Load(trainF, trainOpt)
	check(err)
	det := farTrain(ds, seed)
	held, err := dataset.LoadWith(heldF, det.Preprocessor(), opt)
	check(err)
	c, row := farMeasure(det, ds, held, "normal", seed)
	// recall on KDDTest+'s anomalies
	test, err := dataset.LoadWith(filepath.Join(d, "KDDTest+.txt"), det.Preprocessor(), opt)
	check(err)
	res, err := det.Score(test.X)
	check(err)
	var anom []float64
	for i, l := range test.Labels {
		if l != "normal" {
			anom = append(anom, res[i].Score)
		}
	}
	y := make([]bool, len(anom))
	for i := range y {
		y[i] = true
	}
	c.add(row.Thr, row.Compared, anom, y)
	row.Test = append(row.Test, anom...)
	row.TestY = append(row.TestY, y...)
	return c, row
}

// farHoldoutRun puts -holdout of the rows aside (stratified by y, seed),
// trains on the others as `bottleneck train --data TRAIN.npz` does, and
// measures on the rows put aside.
func farHoldoutRun(name string, x [][]float32, y []float32, seed int) (farCount, farDumpRow) {
	r := rand.New(rand.NewPCG(uint64(seed), 18))
	var held, kept []int
	for _, cls := range []bool{false, true} {
		var idx []int
		for i, v := range y {
			if (v != 0) == cls {
				idx = append(idx, i)
			}
		}
		r.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
		k := int(math.Round(*farHoldout * float64(len(idx))))
		held = append(held, idx[:k]...)
		kept = append(kept, idx[k:]...)
	}
	sort.Ints(held)
	sort.Ints(kept)
	trainF, heldF := filepath.Join(tmpDir, name+"-train.npz"), filepath.Join(tmpDir, name+"-held.npz")
	writeXY(trainF, x, y, kept)
	writeXY(heldF, x, y, held)
	ds, err := dataset.Load(trainF, dataset.LoadOptions{})
	check(err)
	det := farTrain(ds, seed)
	te, err := dataset.LoadWith(heldF, det.Preprocessor(), dataset.LoadOptions{})
	check(err)
	return farMeasure(det, ds, te, "0", seed)
}

func readMATXY(path string) ([][]float32, []float32, error) {
	f, err := os.Open(path)
	check(err)
	defer f.Close()
	m, err := dataset.ReadMAT(path, f)
	if err != nil {
		return nil, nil, err
	}
	mx, my := m["X"], m["y"]
	x := make([][]float32, mx.Rows)
	for i := range x {
		x[i] = make([]float32, mx.Cols)
		for j := range x[i] {
			x[i][j] = float32(mx.Data[i*mx.Cols+j])
		}
	}
	y := make([]float32, len(my.Data))
	for i, v := range my.Data {
		y[i] = float32(v)
	}
	return x, y, nil
}

func readNPZXY(path string) ([][]float32, []float32) {
	zr, err := zip.OpenReader(path)
	check(err)
	defer zr.Close()
	var xd, yd []float32
	var xs []int
	for _, f := range zr.File {
		rc, err := f.Open()
		check(err)
		d, shape, err := dataset.ReadNPY(rc)
		check(err)
		rc.Close()
		switch f.Name {
		case "X.npy":
			xd, xs = d, shape
		case "y.npy":
			yd = d
		}
	}
	x := make([][]float32, xs[0])
	for i := range x {
		x[i] = xd[i*xs[1] : (i+1)*xs[1]]
	}
	return x, yd
}

// writeXY writes rows idx of x and y as an .npz with X and y.
func writeXY(path string, x [][]float32, y []float32, idx []int) {
	out, err := os.Create(path)
	check(err)
	zw := zip.NewWriter(out)
	d := len(x[0])
	xv := make([]float32, 0, len(idx)*d)
	yv := make([]float32, 0, len(idx))
	for _, i := range idx {
		xv = append(xv, x[i]...)
		yv = append(yv, y[i])
	}
	w, err := zw.Create("X.npy")
	check(err)
	check(dataset.WriteNPY(w, xv, []int{len(idx), d}))
	w, err = zw.Create("y.npy")
	check(err)
	check(dataset.WriteNPY(w, yv, []int{len(idx)}))
	check(zw.Close())
	check(out.Close())
}

func readLines(path string) []string {
	raw, err := os.ReadFile(path)
	check(err)
	var out []string
	for _, l := range strings.Split(string(raw), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}
