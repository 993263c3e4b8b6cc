package anomaly_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/train"
)

// Score a file too large to load, batch by batch, flagging its 1% most
// anomalous rows: the threshold is fitted on the scores of the whole
// file in a first pass that keeps the scores alone.
func ExampleDetector_ScoreFile() {
	dir, err := os.MkdirTemp("", "anomaly-file")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	var b strings.Builder
	b.WriteString("amount,hour\n")
	for i := range 500 {
		h := i % 24
		amount := 20 + 2*float64(h) + float64(i%7)/3
		if i%100 == 99 {
			amount = 900 // ten times what the hour has
		}
		fmt.Fprintf(&b, "%.2f,%d\n", amount, h)
	}
	path := filepath.Join(dir, "big.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		log.Fatal(err)
	}
	ds, err := dataset.Load(path, dataset.LoadOptions{})
	if err != nil {
		log.Fatal(err)
	}
	det, err := anomaly.Train(context.Background(), ds, anomaly.TrainOptions{Seed: 1, Fit: train.Options{Epochs: 10}})
	if err != nil {
		log.Fatal(err)
	}

	open := func() (*dataset.Stream, error) {
		return dataset.OpenStream(path, det.Preprocessor(), dataset.LoadOptions{}, 128)
	}
	var flagged []int
	row := 0
	sum, err := det.ScoreFile(context.Background(), open, anomaly.FileOptions{Threshold: "contamination:0.01"}, func(res []anomaly.Result, _, _ []string) error {
		for _, r := range res {
			if r.Anomaly {
				flagged = append(flagged, row)
			}
			row++
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sum.Rows, "rows,", sum.Anomalies, "anomalous:", flagged)
	fmt.Println("threshold:", sum.Threshold.Method, sum.Threshold.Param, "fitted on", sum.Threshold.Rows, sum.Threshold.FittedOn)
	// Output:
	// 500 rows, 5 anomalous: [99 199 299 399 499]
	// threshold: contamination 0.01 fitted on 500 scored rows
}
