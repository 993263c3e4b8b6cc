package ae_test

import (
	"context"
	"fmt"
	"log"
	"math"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/tensor"
	"github.com/bottleneck-ml/bottleneck/train"
)

// Train a dense autoencoder on rows held in memory, then encode rows to
// their codes: the bottleneck features, for clustering, search or a
// classifier.
func Example_encode() {
	// 200 rows of 8 features that lie near a 2-D plane
	x := tensor.New(200, 8)
	for i := range 200 {
		a, b := math.Sin(float64(i)), math.Cos(float64(i)*0.7)
		for j := range 8 {
			x.Data[i*8+j] = float32(a*float64(j%3) + b*float64(j%2))
		}
	}
	ds, err := dataset.FromTensor("rows", x, dataset.ScaleStandardize)
	if err != nil {
		log.Fatal(err)
	}
	cfg, err := ae.DenseConfig(ds.Shape, false, ae.Dense{Hidden: []int{6}, Code: 2})
	if err != nil {
		log.Fatal(err)
	}
	m, err := ae.New(cfg, 1)
	if err != nil {
		log.Fatal(err)
	}
	m.Preprocess = ds.Pre // saved with the weights
	if _, err := train.Fit(context.Background(), m, train.NewRows(ds, train.RowsOptions{Batch: 32, Seed: 1}), nil, train.Options{Epochs: 5}); err != nil {
		log.Fatal(err)
	}
	codes, err := ae.Batched(m.Encode, ds.X, 64) // [200, 2], in batches of 64
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cfg.Summary())
	fmt.Println(codes.Shape)
	// Output:
	// dense 8 → 6 → 2 → 6 → 8
	// [200 2]
}
