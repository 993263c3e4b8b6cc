package train_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/tensor"
	"github.com/bottleneck-ml/bottleneck/train"
)

// Fit a small dense autoencoder on rows of a table, validating on held-out
// rows and keeping the best epoch's weights.
func ExampleFit() {
	rows := func(n int, phase float64) *dataset.Dataset {
		x := tensor.New(n, 8)
		for i := range n {
			a := float64(i)/float64(n) + phase
			for j := range 8 {
				x.Data[i*8+j] = float32(0.5 + 0.4*math.Sin(a*6+float64(j)))
			}
		}
		return &dataset.Dataset{X: x, Shape: []int{8}}
	}
	cfg, err := ae.DenseConfig([]int{8}, true, ae.Dense{Hidden: []int{16}, Code: 2})
	if err != nil {
		panic(err)
	}
	m, err := ae.New(cfg, 1)
	if err != nil {
		panic(err)
	}
	tr := train.NewRows(rows(200, 0), train.RowsOptions{Batch: 32, Seed: 1})
	val := train.NewRows(rows(50, 0.01), train.RowsOptions{Batch: 50, Ordered: true})
	rec, err := train.Fit(context.Background(), m, tr, val, train.Options{Epochs: 10, LR: 1e-2})
	if err != nil {
		panic(err)
	}
	fmt.Println(rec.Epochs, rec.Stopped, len(rec.ValLoss), rec.ValLoss[9] < rec.ValLoss[0])
	// Output: 10 completed 10 true
}

// Fine-tune: train with one loss, then start a second run from those
// weights with another loss and a lower learning rate (Options.Init). The
// second record keeps the first as its Init.
func ExampleOptions_init() {
	x := tensor.New(128, 8)
	for i := range x.Data {
		x.Data[i] = float32(0.5 + 0.4*math.Sin(float64(i)*0.37))
	}
	data := &dataset.Dataset{X: x, Shape: []int{8}}
	cfg, err := ae.DenseConfig([]int{8}, false, ae.Dense{Hidden: []int{16}, Code: 4})
	if err != nil {
		panic(err)
	}
	cfg.Loss = ae.LossL1
	first, err := ae.New(cfg, 1)
	if err != nil {
		panic(err)
	}
	rows := func() train.Source { return train.NewRows(data, train.RowsOptions{Batch: 32, Seed: 1}) }
	if _, err := train.Fit(context.Background(), first, rows(), nil, train.Options{Epochs: 20, LR: 1e-2}); err != nil {
		panic(err)
	}
	cfg.Loss = ae.LossMSE
	tuned, err := ae.New(cfg, 2)
	if err != nil {
		panic(err)
	}
	rec, err := train.Fit(context.Background(), tuned, rows(), nil, train.Options{Epochs: 5, LR: 1e-3, Init: first})
	if err != nil {
		panic(err)
	}
	fmt.Println(rec.Loss, rec.Epochs, "epochs, started from", rec.Init.Loss, rec.Init.Epochs, "epochs")
	// Output: mse 5 epochs, started from l1 20 epochs
}

// Write the loss history of a run beside its model, for plotting or
// comparing runs without opening the model.
func ExampleWriteHistory() {
	dir, err := os.MkdirTemp("", "history")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	rec := &train.Record{TrainLoss: []float64{0.5, 0.25}, ValLoss: []float64{0.6, 0.3}, BestEpoch: 2, Loss: "mse"}
	path := filepath.Join(dir, "model.history.json")
	if err := train.WriteHistory(path, rec); err != nil {
		panic(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	fmt.Print(string(b))
	// Output:
	// {
	//   "train_loss": [
	//     0.5,
	//     0.25
	//   ],
	//   "val_loss": [
	//     0.6,
	//     0.3
	//   ],
	//   "best_epoch": 2,
	//   "loss": "mse"
	// }
}
