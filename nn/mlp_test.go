package nn

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/bottleneck-ml/bottleneck/internal/parallel"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// mlpNet builds the layers of specs (dense:N, relu, sigmoid, identity,
// leakyrelu) on in features, initialised from seed.
func mlpNet(t *testing.T, in int, specs []string, seed uint64) (*Net, *ParamSet) {
	t.Helper()
	layers, err := ParseSpecs(specs, SpecInput{Shape: []int{in}})
	if err != nil {
		t.Fatal(err)
	}
	net, err := NewNet([]int{in}, layers...)
	if err != nil {
		t.Fatal(err)
	}
	ps := NewParamSet(net.Params())
	net.Init(rand.New(rand.NewPCG(seed, 1)))
	return net, ps
}

// TestForwardFusedBitIdentical checks Net.Forward, with its fused
// activations and row-block pass (and with prepared weights at inference),
// against calling every layer's Forward in turn: the same output bits, and
// after Backward (with its row-block pass from 257 rows) the same
// gradients as every layer's Backward in turn, for 1 and 2 threads and
// batches that cut row panels and k blocks unevenly.
func TestForwardFusedBitIdentical(t *testing.T) {
	defer parallel.SetThreads(parallel.Threads())
	nets := []struct {
		in    int
		specs []string
	}{
		{122, []string{"dense:64", "relu", "dense:32", "relu", "dense:8", "dense:32", "relu", "dense:64", "relu", "dense:122"}},
		{40, []string{"dense:30", "relu", "dense:8", "identity", "dense:30", "leakyrelu", "dense:40", "sigmoid"}},
		{300, []string{"dense:260", "relu", "dense:300", "sigmoid"}}, // over mlpPackMax: layer by layer, fused
	}
	for ni, nc := range nets {
		for _, batch := range []int{1, 13, 29, 100, 300, 513, 1000} {
			for _, th := range []int{1, 2} {
				for _, mode := range []string{"train", "infer", "prepared", "int8"} {
					name := fmt.Sprintf("net%d/batch=%d/threads=%d/%s", ni, batch, th, mode)
					parallel.SetThreads(th)
					ref, refPS := mlpNet(t, nc.in, nc.specs, 7)
					got, gotPS := mlpNet(t, nc.in, nc.specs, 7)
					rng := rand.New(rand.NewPCG(uint64(batch), 2))
					x := tensor.New(batch, nc.in)
					for i := range x.Data {
						x.Data[i] = float32(rng.NormFloat64())
					}
					train := mode == "train"
					switch mode {
					case "prepared":
						if err := got.PrepareInference(FP32); err != nil {
							t.Fatal(err)
						}
					case "int8":
						// both int8: rows are quantised per product, so the
						// row-block pass must give the layer-by-layer bits
						for _, n := range []*Net{ref, got} {
							if err := n.PrepareInference(INT8); err != nil {
								t.Fatal(err)
							}
						}
					}
					want := x
					for _, l := range ref.Layers {
						want = l.Forward(want, train)
					}
					y := got.Forward(x, train)
					if i := firstDiff(y.Data, want.Data); i >= 0 {
						t.Fatalf("%s: y[%d] = %v; want %v", name, i, y.Data[i], want.Data[i])
					}
					if !train {
						continue
					}
					dy := tensor.New(y.Shape...)
					for i := range dy.Data {
						dy.Data[i] = float32(rng.NormFloat64())
					}
					if batch%2 == 1 { // and the input gradient
						ref.NeedInputGrad()
						got.NeedInputGrad()
					}
					refPS.ZeroGrad()
					gotPS.ZeroGrad()
					rdy := dy
					for i := len(ref.Layers) - 1; i >= 0; i-- {
						rdy = ref.Layers[i].Backward(rdy)
					}
					gdx := got.Backward(dy)
					if i := firstDiff(gotPS.G, refPS.G); i >= 0 {
						t.Fatalf("%s: grad[%d] = %v; want %v", name, i, gotPS.G[i], refPS.G[i])
					}
					if (gdx == nil) != (rdy == nil) || batch%2 == 1 && gdx == nil {
						t.Fatalf("%s: dx %v; layer by layer %v", name, gdx != nil, rdy != nil)
					}
					if gdx != nil {
						if i := firstDiff(gdx.Data, rdy.Data); i >= 0 {
							t.Fatalf("%s: dx[%d] = %v; want %v", name, i, gdx.Data[i], rdy.Data[i])
						}
					}
				}
			}
		}
	}
}

// firstDiff is the first index where a and b differ in bits (NaNs equal),
// -1 if none.
func firstDiff(a, b []float32) int {
	if len(a) != len(b) {
		return 0
	}
	for i := range a {
		if a[i] != b[i] && !(a[i] != a[i] && b[i] != b[i]) {
			return i
		}
	}
	return -1
}

// TestPreparedDroppedByTraining checks that a training pass drops the
// weights prepared for inference: after an update, inference sees it.
func TestPreparedDroppedByTraining(t *testing.T) {
	net, ps := mlpNet(t, 20, []string{"dense:16", "relu", "dense:20"}, 3)
	x := tensor.New(30, 20)
	for i := range x.Data {
		x.Data[i] = float32(i%7) - 3
	}
	if err := net.PrepareInference(FP32); err != nil {
		t.Fatal(err)
	}
	before := slices.Clone(net.Forward(x, false).Data)
	net.Forward(x, true)
	net.Backward(tensor.New(30, 20))
	for i := range ps.W {
		ps.W[i] *= 2
	}
	after := net.Forward(x, false).Data
	if firstDiff(before, after) < 0 {
		t.Fatal("inference after a training step and a weight update gives the old output")
	}
}
