package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
)

// skab runs SKAB's leaderboard protocol: for each of the 34 experiment
// files (valve1, valve2, other), train on its first -train-rows rows
// (anomaly-free by the benchmark's design), score every row of the file with
// windows of -window rows and the model's own threshold, and count the
// per-point decisions against the file's anomaly column over all files
// together: F1, FAR (false alarms / normal points, %) and MAR (missed
// anomalies / anomalous points, %), as SKAB's leaderboard reports them.
func skab() {
	var files []string
	for _, sub := range []string{"valve1", "valve2", "other"} {
		fs, err := filepath.Glob(filepath.Join(*data, "skab", sub, "*.csv"))
		check(err)
		sort.Strings(fs)
		files = append(files, fs...)
	}
	flags := []string{"--drop", "datetime,changepoint", "--label", "anomaly"}
	opt := dataset.LoadOptions{Drop: []string{"datetime", "changepoint"}, Label: "anomaly"}
	type cnt struct{ tp, fp, fn, tn int }
	var f1s, fars, mars []float64
	start := time.Now()
	for s := 1; s <= *seeds; s++ {
		var c cnt
		for _, f := range files {
			head := filepath.Join(tmpDir, "head.csv")
			writeHead(f, head, *trainN)
			trainOpt := opt
			trainOpt.Normal = "0.0"
			ds, err := dataset.Load(head, trainOpt)
			check(err)
			det := trainDetector(ds, uint64(s), *window)
			all, err := dataset.LoadWith(f, det.Preprocessor(), opt)
			check(err)
			res, err := det.ScoreWith(all.X, anomaly.ScoreOptions{Top: -1})
			check(err)
			for i, r := range res {
				pred, truth := r.Anomaly, all.Labels[i] != "0.0"
				switch {
				case pred && truth:
					c.tp++
				case pred:
					c.fp++
				case truth:
					c.fn++
				default:
					c.tn++
				}
			}
		}
		f1s = append(f1s, float64(2*c.tp)/float64(2*c.tp+c.fp+c.fn))
		fars = append(fars, 100*float64(c.fp)/float64(c.fp+c.tn))
		mars = append(mars, 100*float64(c.fn)/float64(c.fn+c.tp))
	}
	f, fs := meanStd(f1s)
	a, as := meanStd(fars)
	m, ms := meanStd(mars)
	fmt.Printf("| SKAB (%d files) | F1 %.4f ± %.4f | FAR %.2f ± %.2f %% | MAR %.2f ± %.2f %% | %d seeds | window %d, first %d rows trained on, %s | %.0fs |\n",
		len(files), f, fs, a, as, m, ms, *seeds, *window, *trainN, extra(), time.Since(start).Seconds())
	fmt.Printf("\ncommand per file F: `head -%d F > H; bottleneck train --data H --normal 0.0 --window %d %s %s -o m.safetensors --seed S; bottleneck score -m m.safetensors --data F %s --top 0`\n",
		*trainN+1, *window, strings.Join(flags, " "), extra(), strings.Join(flags, " "))
}

// writeHead copies the header and the first n data lines of src to dst.
func writeHead(src, dst string, n int) {
	in, err := os.Open(src)
	check(err)
	defer in.Close()
	out, err := os.Create(dst)
	check(err)
	sc := bufio.NewScanner(in)
	w := bufio.NewWriter(out)
	for i := 0; i <= n && sc.Scan(); i++ {
		fmt.Fprintln(w, sc.Text())
	}
	check(sc.Err())
	check(w.Flush())
	check(out.Close())
}
