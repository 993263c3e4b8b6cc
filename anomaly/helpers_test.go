package anomaly

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/train"
)

// tableCSV is a small transactions table: amount follows hour, country
// is categorical, label is "ok" for every row except the last anomalies
// rows, whose amounts are far out ("fraud").
func tableCSV(n, anomalies int, seed uint64) string {
	rng := rand.New(rand.NewPCG(seed, 7))
	var b strings.Builder
	b.WriteString("amount,hour,country,label\n")
	for i := range n {
		h := i % 24
		amount := 20 + 2*float64(h) + rng.NormFloat64()
		label := "ok"
		if i >= n-anomalies {
			amount, label = 900+10*float64(i%5), "fraud"
		}
		fmt.Fprintf(&b, "%.2f,%d,%s,%s\n", amount, h, []string{"de", "fr", "us"}[i%3], label)
	}
	return b.String()
}

// loadCSV loads csv (a file with a header) with its label column.
func loadCSV(t testing.TB, csv string, opt dataset.LoadOptions) *dataset.Dataset {
	t.Helper()
	opt.Label = "label"
	ds, err := dataset.LoadFS(fstest.MapFS{"t.csv": {Data: []byte(csv)}}, "t.csv", opt)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// smallOptions train a tiny dense detector quickly and deterministically.
func smallOptions(seed uint64) TrainOptions {
	return TrainOptions{Hidden: []int{4}, Code: 2, Seed: seed, Batch: 32, Fit: train.Options{Epochs: 3}}
}

// trainTable trains a detector on the normal rows of a 200-row table.
func trainTable(t testing.TB, o TrainOptions) (*Detector, *dataset.Dataset) {
	t.Helper()
	ds := loadCSV(t, tableCSV(200, 0, 1), dataset.LoadOptions{})
	d, err := Train(context.Background(), ds, o)
	if err != nil {
		t.Fatal(err)
	}
	return d, ds
}

// splitCSV returns a CSV text's header and records.
func splitCSV(csv string) (header []string, records [][]string) {
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	header = strings.Split(lines[0], ",")
	for _, l := range lines[1:] {
		records = append(records, strings.Split(l, ","))
	}
	return header, records
}

func mapFS(name, text string) fstest.MapFS {
	return fstest.MapFS{name: {Data: []byte(text)}}
}
