package main

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
)

// kdd99 runs DAGMM's protocol (Zong et al. 2018) on the KDD Cup 99 10 %
// file: 'normal.' rows are the minority and are the anomalies; the rows
// are split 50/50 at random (seed S); the model is trained on the
// non-'normal.' rows of the first half (--normal '!normal.', so the trainer
// knows they are clean); the second half is scored and the
// top 20 % of its scores are flagged; precision, recall and F1 of those
// flags against 'normal.'.
func kdd99() {
	dir := filepath.Join(*data, "kddcup99")
	f, err := os.Open(filepath.Join(dir, "kddcup.data_10_percent.gz"))
	check(err)
	zr, err := gzip.NewReader(f)
	check(err)
	var lines []string
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	check(sc.Err())
	f.Close()
	cols := filepath.Join(dir, "kddcup.names") + ",label"
	flags := []string{"--no-header", "--columns", cols, "--label", "label"}
	trainFlags := append(slices.Clone(flags), "--normal", "'!normal.'")
	names, err := dataset.ReadColumnNames(filepath.Join(dir, "kddcup.names"))
	check(err)
	opt := dataset.LoadOptions{Header: dataset.NoHeader, Columns: append(names, "label"), Label: "label"}
	var ps, rs, fs []float64
	start := time.Now()
	for s := 1; s <= *seeds; s++ {
		perm := rand.New(rand.NewPCG(uint64(s), 99)).Perm(len(lines))
		half := len(lines) / 2
		trainF := filepath.Join(tmpDir, "kdd-train.csv")
		testF := filepath.Join(tmpDir, "kdd-test.csv")
		var truth []bool
		writeLines(trainF, perm[:half], lines, func(string) bool { return true })
		writeLines(testF, perm[half:], lines, func(l string) bool {
			truth = append(truth, strings.HasSuffix(l, ",normal."))
			return true
		})
		trainOpt := opt
		trainOpt.Normal = "!normal." // the attacks are the normal class
		ds, err := dataset.Load(trainF, trainOpt)
		check(err)
		det := trainDetector(ds, uint64(s), 0)
		te, err := dataset.LoadWith(testF, det.Preprocessor(), opt)
		check(err)
		res, err := det.ScoreWith(te.X, anomaly.ScoreOptions{Top: -1})
		check(err)
		scores := anomaly.Scores(res)
		idx := make([]int, len(scores))
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
		flagged := len(scores) / 5
		var tp, pos int
		for _, t := range truth {
			if t {
				pos++
			}
		}
		for _, i := range idx[:flagged] {
			if truth[i] {
				tp++
			}
		}
		p, r := float64(tp)/float64(flagged), float64(tp)/float64(pos)
		ps, rs, fs = append(ps, p), append(rs, r), append(fs, 2*p*r/(p+r))
	}
	p, psd := meanStd(ps)
	r, rsd := meanStd(rs)
	f1, fsd := meanStd(fs)
	fmt.Printf("| KDD Cup 99 (DAGMM protocol) | precision %.4f ± %.4f | recall %.4f ± %.4f | F1 %.4f ± %.4f | %d seeds | %s | %.0fs |\n", p, psd, r, rsd, f1, fsd, *seeds, extra(), time.Since(start).Seconds())
	fmt.Printf("\ncommand: `bottleneck train --data TRAIN.csv %s %s -o m.safetensors --seed S; bottleneck score -m m.safetensors --data TEST.csv %s --top 0`, top 20 %% of scores flagged\n", show(trainFlags), extra(), show(flags))
}

// writeLines writes lines[i] for i in idx that keep accepts to path.
func writeLines(path string, idx []int, lines []string, keep func(string) bool) {
	out, err := os.Create(path)
	check(err)
	w := bufio.NewWriter(out)
	for _, i := range idx {
		if keep(lines[i]) {
			fmt.Fprintln(w, lines[i])
		}
	}
	check(w.Flush())
	check(out.Close())
}
