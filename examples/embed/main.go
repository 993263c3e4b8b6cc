// Command embed is a Go service's view of bottleneck, in a module of its
// own: it trains an anomaly detector on NSL-KDD network traffic with
// anomaly.Train, saves it, opens it again and scores the raw test records
// with ScoreRecords — what `bottleneck train` and `bottleneck score` do,
// in a few lines of library calls.
//
//	go run . -data ../../../shared/data
package main

import (
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/train"
)

func main() {
	data := flag.String("data", "../../../shared/data", "the shared data folder")
	out := flag.String("o", filepath.Join(os.TempDir(), "kdd.safetensors"), "model file to write")
	flag.Parse()
	auc, err := run(*data, *out)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("KDDTest+ ROC-AUC %.4f (model %s)\n", auc, *out)
}

// columns are NSL-KDD's column names: the 41 features of kddcup.names, the
// label and the difficulty.
func columns(data string) ([]string, error) {
	names, err := dataset.ReadColumnNames(filepath.Join(data, "kddcup99", "kddcup.names"))
	if err != nil {
		return nil, err
	}
	return append(names, "label", "difficulty"), nil
}

// trainKDD trains the README's NSL-KDD detector: 64-32-8 on the normal
// rows of the 20 % training file, label and difficulty kept out.
func trainKDD(data string) (*anomaly.Detector, error) {
	cols, err := columns(data)
	if err != nil {
		return nil, err
	}
	ds, err := dataset.Load(filepath.Join(data, "nsl-kdd", "KDDTrain+_20Percent.txt"), dataset.LoadOptions{
		Header: dataset.NoHeader, Columns: cols, Label: "label", Drop: []string{"difficulty"}, Normal: "normal",
	})
	if err != nil {
		return nil, err
	}
	return anomaly.Train(context.Background(), ds, anomaly.TrainOptions{
		Hidden: []int{64, 32}, Code: 8, Seed: 1, Fit: train.Options{Patience: 5}, // epochs: the default, as `bottleneck train` (anomaly.NormalEpochs)
	})
}

// testRecords reads KDDTest+ as raw records and whether each is an attack.
func testRecords(data string) (header []string, records [][]string, attack []bool, err error) {
	header, err = columns(data)
	if err != nil {
		return nil, nil, nil, err
	}
	f, err := os.Open(filepath.Join(data, "nsl-kdd", "KDDTest+.txt"))
	if err != nil {
		return nil, nil, nil, err
	}
	defer f.Close()
	if records, err = csv.NewReader(f).ReadAll(); err != nil {
		return nil, nil, nil, err
	}
	for _, r := range records {
		attack = append(attack, r[len(header)-2] != "normal")
	}
	return header, records, attack, nil
}

func run(data, out string) (float64, error) {
	det, err := trainKDD(data)
	if err != nil {
		return 0, err
	}
	if err := det.Save(out); err != nil {
		return 0, err
	}
	det, err = anomaly.Open(out)
	if err != nil {
		return 0, err
	}
	header, records, attack, err := testRecords(data)
	if err != nil {
		return 0, err
	}
	res, err := det.ScoreRecords(header, records)
	if err != nil {
		return 0, err
	}
	return anomaly.ROCAUC(anomaly.Scores(res), attack), nil
}
