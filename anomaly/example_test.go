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

// Train a detector on a table of normal transactions, save it, open it
// again (as another program would) and score new records.
func Example() {
	dir, err := os.MkdirTemp("", "anomaly-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// Normal transactions: the amount grows with the hour of the day.
	var b strings.Builder
	b.WriteString("amount,hour,country\n")
	for i := range 300 {
		h := i % 24
		fmt.Fprintf(&b, "%.2f,%d,%s\n", 20+2*float64(h)+float64(i%7)/3, h, []string{"de", "fr", "us"}[i%3])
	}
	data := filepath.Join(dir, "transactions.csv")
	if err := os.WriteFile(data, []byte(b.String()), 0o644); err != nil {
		log.Fatal(err)
	}

	ds, err := dataset.Load(data, dataset.LoadOptions{})
	if err != nil {
		log.Fatal(err)
	}
	det, err := anomaly.Train(context.Background(), ds, anomaly.TrainOptions{Seed: 1, Fit: train.Options{Epochs: 10}})
	if err != nil {
		log.Fatal(err)
	}
	model := filepath.Join(dir, "model.safetensors")
	if err := det.Save(model); err != nil {
		log.Fatal(err)
	}

	det, err = anomaly.Open(model)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("score:", det.Scoring().Metric, "threshold:", det.Threshold().Method)
	// Columns are matched by name, in any order.
	res, err := det.ScoreRecords([]string{"country", "hour", "amount"}, [][]string{
		{"de", "9", "38.5"},
		{"fr", "3", "950"},
	})
	if err != nil {
		log.Fatal(err)
	}
	for i, r := range res {
		fmt.Printf("row %d: anomaly %v", i, r.Anomaly)
		if r.Anomaly {
			fmt.Printf(", mostly %s", r.Top[0].Feature)
		}
		fmt.Println()
	}
	// Output:
	// score: mahal threshold: far
	// row 0: anomaly false
	// row 1: anomaly true, mostly amount
}
