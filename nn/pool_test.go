package nn_test

import (
	"fmt"
	"testing"

	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/nn/nntest"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

func TestPoolGrad(t *testing.T) {
	for _, c := range []struct{ k, s, p int }{{2, 2, 0}, {3, 2, 1}, {3, 1, 1}, {2, 1, 0}, {3, 3, 0}, {2, 0, 1}} {
		name := fmt.Sprintf("k%d s%d p%d", c.k, c.s, c.p)
		t.Run("max "+name, func(t *testing.T) {
			nntest.CheckLayer(t, nn.NewMaxPool2D(c.k, c.s, c.p), []int{3, 7, 5}, 2)
		})
		t.Run("avg "+name, func(t *testing.T) {
			nntest.CheckLayer(t, nn.NewAvgPool2D(c.k, c.s, c.p), []int{3, 7, 5}, 2)
		})
	}
}

// By hand: a 4×4 plane with MaxPool2D(2) and AvgPool2D(3, 2, 1), whose
// windows hold 4, 6, 6 and 9 real pixels and the rest zeros of padding,
// all divided by 9.
func TestPoolByHand(t *testing.T) {
	x := tensor.From([]float32{
		1, 2, 3, 4,
		5, 6, 7, 8,
		9, 10, 11, 12,
		13, 14, 15, 16,
	}, 1, 1, 4, 4)
	for _, c := range []struct {
		name  string
		layer nn.Layer
		want  []float32
	}{
		{"maxpool2d(2)", nn.NewMaxPool2D(2, 0, 0), []float32{6, 8, 14, 16}},
		{"avgpool2d(3,2,1)", nn.NewAvgPool2D(3, 2, 1), []float32{14.0 / 9, 30.0 / 9, 57.0 / 9, 99.0 / 9}},
	} {
		if _, err := c.layer.Setup([]int{1, 4, 4}); err != nil {
			t.Fatal(err)
		}
		y := c.layer.Forward(x, false)
		if fmt.Sprint(y.Shape) != "[1 1 2 2]" {
			t.Fatalf("%s: output shape %v; want [1 1 2 2]", c.name, y.Shape)
		}
		nntest.Compare(t, c.name, y.Data, c.want, 1e-6)
	}
	if _, err := nn.NewMaxPool2D(2, 2, 2).Setup([]int{1, 4, 4}); err == nil {
		t.Error("MaxPool2D(2, 2, 2): padding over half the kernel: no error")
	}
}

func TestUpsampleGrad(t *testing.T) {
	for _, mode := range []string{nn.UpsampleNearest, nn.UpsampleBilinear} {
		for _, s := range []int{1, 2, 3} {
			t.Run(fmt.Sprintf("%s×%d", mode, s), func(t *testing.T) {
				nntest.CheckLayer(t, nn.NewUpsample(s, mode), []int{3, 4, 5}, 2)
			})
		}
	}
	if _, err := nn.NewUpsample(2, "bicubic").Setup([]int{1, 2, 2}); err == nil {
		t.Error(`NewUpsample(2, "bicubic"): no error`)
	}
}

// Bilinear ×2 of a row 0, 4 (align_corners=False) is 0, 1, 3, 4: the outer
// outputs clamp to the edge pixels.
func TestUpsampleBilinearByHand(t *testing.T) {
	l := nn.NewUpsample(2, nn.UpsampleBilinear)
	if _, err := l.Setup([]int{1, 1, 2}); err != nil {
		t.Fatal(err)
	}
	y := l.Forward(tensor.From([]float32{0, 4}, 1, 1, 1, 2), false)
	nntest.Compare(t, "bilinear", y.Data, []float32{0, 1, 3, 4, 0, 1, 3, 4}, 1e-6)
}

func TestBatchNormGrad(t *testing.T) {
	t.Run("train", func(t *testing.T) {
		nntest.CheckLayer(t, nn.NewBatchNorm2D(3), []int{3, 4, 5}, 2, nntest.Options{Train: true})
	})
	t.Run("eval", func(t *testing.T) {
		nntest.CheckLayer(t, nn.NewBatchNorm2D(3), []int{3, 4, 5}, 2)
	})
	// Non-trivial affine parameters, through a convolution.
	t.Run("conv-bn", func(t *testing.T) {
		nntest.CheckNet(t, []int{2, 5, 4}, 3, []nn.Layer{
			nn.NewConv2D(2, 3, 3, 1, 1, 1), nn.NewBatchNorm2D(3), nn.NewConv2D(3, 2, 1, 1, 0, 1),
		}, nntest.Options{Train: true})
	})
}

func TestReshapeGrad(t *testing.T) {
	nntest.CheckNet(t, []int{2, 3, 4}, 3, []nn.Layer{
		nn.NewFlatten(), nn.NewDense(24, 12), nn.NewReshape(3, -1, 2), &nn.Tanh{}, nn.NewReshape(12),
	})
	for _, shape := range [][]int{{5, 5}, {-1, -1}, {0, 24}, {-1, 7}} {
		if _, err := nn.NewReshape(shape...).Setup([]int{2, 3, 4}); err == nil {
			t.Errorf("NewReshape(%v) of [2 3 4]: no error", shape)
		}
	}
}
