package probe_test

import (
	"context"
	"fmt"
	"log"
	"math/rand/v2"
	"strconv"

	"github.com/bottleneck-ml/bottleneck/probe"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Compare a code with the linear baselines. The inputs hold the class in
// two quiet columns beside eight loud noise columns; the code keeps the
// quiet ones, as a good encoder would. PCA of the same width keeps the
// loud noise instead, so the code beats it.
func ExampleCompare() {
	set := func(seed uint64, n int) probe.Set {
		rng := rand.New(rand.NewPCG(seed, 1))
		x, codes := tensor.New(n, 10), tensor.New(n, 2)
		labels := make([]string, n)
		for i := range n {
			c := i % 4
			labels[i] = strconv.Itoa(c)
			row := x.Row(i)
			row[0] = float32(float64(2*(c%2)-1) + rng.NormFloat64()/10)
			row[1] = float32(float64(2*(c/2)-1) + rng.NormFloat64()/10)
			for j := 2; j < 10; j++ {
				row[j] = float32(5 * rng.NormFloat64())
			}
			copy(codes.Row(i), row[:2]) // in practice: latent.Codes(model, x)
		}
		return probe.Set{X: x, Codes: codes, Labels: labels}
	}
	rep, err := probe.Compare(context.Background(), probe.CompareInput{Train: set(1, 400), Test: set(2, 200)}, probe.CompareOptions{Baselines: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d classes; code (%d-d) accuracy %.2f, raw inputs (%d-d) %.2f\n", rep.Classes, rep.Code.Features, rep.Accuracy, rep.Raw.Features, rep.Raw.Accuracy)
	fmt.Println("the code beats PCA of its width:", rep.Accuracy > rep.PCA.Accuracy)
	// Output:
	// 4 classes; code (2-d) accuracy 1.00, raw inputs (10-d) 1.00
	// the code beats PCA of its width: true
}
