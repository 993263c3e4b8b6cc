package nn_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// convMNIST is the conv-mnist model of shared/bench/MODELS.md.
func convMNIST() []nn.Layer {
	return []nn.Layer{
		nn.NewConv2D(1, 32, 3, 2, 1, 1), &nn.ReLU{},
		nn.NewConv2D(32, 64, 3, 2, 1, 1), &nn.ReLU{},
		nn.NewFlatten(),
		nn.NewDense(3136, 64),
		nn.NewDense(64, 3136), &nn.ReLU{},
		nn.NewReshape(64, 7, 7),
		nn.NewConvTranspose2D(64, 32, 3, 2, 1, 1), &nn.ReLU{},
		nn.NewConvTranspose2D(32, 1, 3, 2, 1, 1), &nn.Sigmoid{},
	}
}

// srcnn is the srcnn model of shared/bench/MODELS.md.
func srcnn() []nn.Layer {
	return []nn.Layer{
		nn.NewConv2D(1, 64, 9, 1, 4, 1), &nn.ReLU{},
		nn.NewConv2D(64, 32, 1, 1, 0, 1), &nn.ReLU{},
		nn.NewConv2D(32, 1, 5, 1, 2, 1),
	}
}

func TestBenchModels(t *testing.T) {
	for _, m := range []struct {
		name   string
		in     []int
		layers []nn.Layer
		params int
	}{
		{"conv-mnist", []int{1, 28, 28}, convMNIST(), 442177},
		{"srcnn", []int{1, 33, 33}, srcnn(), 8129},
	} {
		net, err := nn.NewNet(m.in, m.layers...)
		if err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		ps := nn.NewParamSet(net.Params())
		if ps.Len() != m.params {
			t.Errorf("%s: %d parameters; want %d", m.name, ps.Len(), m.params)
		}
		if !slices.Equal(net.OutShape, m.in) {
			t.Errorf("%s: output shape %v; want %v", m.name, net.OutShape, m.in)
		}
		net.Init(rand.New(rand.NewPCG(1, 2)))
		x := tensor.New(append([]int{2}, m.in...)...)
		y := net.Forward(x, true)
		if !slices.Equal(y.Shape, x.Shape) {
			t.Errorf("%s: Forward output %v; want %v", m.name, y.Shape, x.Shape)
		}
		// The first convolution skips its input gradient.
		if dx := net.Backward(tensor.New(y.Shape...)); dx != nil {
			t.Errorf("%s: Backward returned an input gradient %v; want nil (SkipInputGrad)", m.name, dx.Shape)
		}
	}
}

// After the first batch, training steps of convolutional nets at the same
// or a smaller batch allocate nothing.
func TestConvNetReusesBuffers(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, b := range budgets {
		old := nn.SetConvColBudget(b.n)
		net, err := nn.NewNet([]int{2, 9, 7},
			nn.NewConv2D(2, 4, 3, 2, 1, 1), nn.NewBatchNorm2D(4), &nn.ReLU{},
			nn.NewConv2D(4, 4, 1, 1, 0, 1), nn.NewMaxPool2D(2, 1, 0),
			nn.NewAvgPool2D(3, 1, 1), nn.NewUpsample(2, nn.UpsampleBilinear),
			nn.NewUpsample(2, nn.UpsampleNearest), nn.NewFlatten(), nn.NewReshape(4, 16, 12),
			nn.NewConvTranspose2D(4, 2, 3, 2, 1, 1), &nn.Sigmoid{})
		if err != nil {
			t.Fatal(err)
		}
		net.NeedInputGrad()
		ps := nn.NewParamSet(net.Params())
		rng := rand.New(rand.NewPCG(1, 2))
		net.Init(rng)
		x8 := tensor.New(8, 2, 9, 7)
		for i := range x8.Data {
			x8.Data[i] = float32(rng.Float64())
		}
		x5 := tensor.From(x8.Data[:5*2*9*7], 5, 2, 9, 7)
		dy8 := tensor.New(append([]int{8}, net.OutShape...)...)
		dy5 := tensor.From(dy8.Data[:5*tensor.Size(net.OutShape)], append([]int{5}, net.OutShape...)...)
		step := func(x, dy *tensor.Tensor) {
			ps.ZeroGrad()
			net.Forward(x, true)
			net.Backward(dy)
		}
		step(x8, dy8)
		if n := testing.AllocsPerRun(5, func() { step(x8, dy8); step(x5, dy5) }); n != 0 {
			t.Errorf("%s: steps at batch 8 and 5 after batch 8: %v allocations; want 0", b.name, n)
		}
		nn.SetConvColBudget(old)
	}
}
