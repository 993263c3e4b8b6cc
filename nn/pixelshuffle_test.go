package nn_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/nn/nntest"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

func TestPixelShuffleGrad(t *testing.T) {
	nntest.CheckLayer(t, nn.NewPixelShuffle(2), []int{8, 3, 2}, 2)
	nntest.CheckLayer(t, nn.NewPixelUnshuffle(2), []int{2, 4, 6}, 2)
	nntest.CheckLayer(t, nn.NewPixelShuffle(3), []int{9, 2, 3}, 1)
}

// TestPixelShuffleLayout checks PyTorch's layout by hand:
// out[c, h·r+i, w·r+j] = in[c·r²+i·r+j, h, w].
func TestPixelShuffleLayout(t *testing.T) {
	const c, h, w, r = 2, 3, 5, 2
	l := nn.NewPixelShuffle(r)
	if _, err := nn.NewNet([]int{c * r * r, h, w}, l); err != nil {
		t.Fatal(err)
	}
	x := tensor.New(1, c*r*r, h, w)
	for i := range x.Data {
		x.Data[i] = float32(i)
	}
	y := l.Forward(x, false)
	for ch := range c {
		for yy := range h * r {
			for xx := range w * r {
				want := x.Data[((ch*r*r+(yy%r)*r+xx%r)*h+yy/r)*w+xx/r]
				if got := y.Data[(ch*h*r+yy)*w*r+xx]; got != want {
					t.Fatalf("out[%d,%d,%d] = %v; want %v", ch, yy, xx, got, want)
				}
			}
		}
	}
	u := nn.NewPixelUnshuffle(r)
	if _, err := nn.NewNet([]int{c, h * r, w * r}, u); err != nil {
		t.Fatal(err)
	}
	back := u.Forward(y, false)
	if !slices.Equal(back.Data, x.Data) {
		t.Fatal("unshuffle(shuffle(x)) != x")
	}
	if _, err := nn.NewNet([]int{3, 4, 4}, nn.NewPixelShuffle(2)); err == nil {
		t.Error("3 channels with r=2: want an error")
	}
	if _, err := nn.NewNet([]int{1, 5, 4}, nn.NewPixelUnshuffle(2)); err == nil {
		t.Error("unshuffle of odd height: want an error")
	}
	_ = rand.New(rand.NewPCG(1, 2))
}
