package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/bottleneck-ml/bottleneck/internal/f32"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Dense is a fully connected layer y = x·Wᵀ + b with W stored as
// [out, in], the layout of PyTorch's nn.Linear, so weights move between
// the two unchanged.
type Dense struct {
	In, Out  int
	Weight   *Param // [Out, In]
	Bias     *Param // [Out]
	skipDX   bool
	x        *tensor.Tensor
	out, dx  *tensor.Tensor
	outShape []int
	inShape  []int
	inf      inference    // weights prepared for inference (PrepareInference)
	mlp      *mlpTask     // the row-block pass of the run of layers this one starts
	mlpBack  *mlpBackTask // and its backward pass
}

// NewDense returns a Dense layer from in to out features.
func NewDense(in, out int) *Dense {
	return &Dense{
		In: in, Out: out,
		Weight: &Param{Name: "weight", Shape: []int{out, in}},
		Bias:   &Param{Name: "bias", Shape: []int{out}},
	}
}

func (d *Dense) Setup(in []int) ([]int, error) {
	if tensor.Size(in) != d.In {
		return nil, fmt.Errorf("dense: input has %d features %v, layer expects %d", tensor.Size(in), in, d.In)
	}
	d.inShape = append([]int(nil), in...)
	d.outShape = []int{d.Out}
	return d.outShape, nil
}

func (d *Dense) Params() []*Param     { return []*Param{d.Weight, d.Bias} }
func (d *Dense) SkipInputGrad(s bool) { d.skipDX = s }

// Init is PyTorch's nn.Linear default: kaiming_uniform(a=√5) for the
// weight, which is U(-1/√in, 1/√in), and the same bound for the bias.
func (d *Dense) Init(rng *rand.Rand) {
	bound := 1 / math.Sqrt(float64(d.In))
	uniform(rng, d.Weight.W, bound)
	uniform(rng, d.Bias.W, bound)
}

func uniform(rng *rand.Rand, w []float32, bound float64) {
	for i := range w {
		w[i] = float32((rng.Float64()*2 - 1) * bound)
	}
}

// Forward: x [N, In] → y [N, Out].
func (d *Dense) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	return d.forwardAct(x, train, f32.ActNone)
}

// forwardAct is Forward followed by act, applied in the GEMM's output pass
// (see Net.Forward). At inference, weights prepared by PrepareInference
// are used as they are; training drops them (the weights are about to
// change).
func (d *Dense) forwardAct(x *tensor.Tensor, train bool, act f32.Act) *tensor.Tensor {
	n := x.Rows()
	if x.Cols() != d.In {
		panic(fmt.Sprintf("nn: Dense: input %v, want %d features", x.Shape, d.In))
	}
	d.x = x
	y := buffer(&d.out, n, d.outShape)
	if train {
		d.inf.drop()
	} else if d.inf.ready() {
		d.inf.gemm(n, x.Data, d.In, d.Bias.W, act, y.Data, d.Out)
		return y
	}
	// The bias is added in the GEMM's output pass (the bits of copying it
	// into y and accumulating onto it).
	f32.GemmBiasAct(false, true, n, d.Out, d.In, 1, x.Data, d.In, d.Weight.W, d.In, d.Bias.W, act, y.Data, d.Out)
	return y
}

// PrepareInference converts the weights for inference at precision p once
// (FP32: packed for the GEMM, so that no batch packs them again; INT8:
// quantised per output feature). Forward with train = false then uses them
// until the next training Forward or Backward; after writing to Weight.W
// otherwise, call it again.
func (d *Dense) PrepareInference(p Precision) error {
	return d.inf.prepare(p, true, d.Weight.W, d.Out, d.In)
}

// Backward: dW += dyᵀ·x, db += Σ dy, dx = dy·W.
func (d *Dense) Backward(dy *tensor.Tensor) *tensor.Tensor {
	d.inf.drop()
	n := dy.Rows()
	f32.Gemm(true, false, d.Out, d.In, n, 1, dy.Data, d.Out, d.x.Data, d.In, 1, d.Weight.G, d.In)
	f32.ColSum(d.Bias.G, dy.Data, n)
	if d.skipDX {
		return nil
	}
	dx := buffer(&d.dx, n, d.inShape)
	f32.Gemm(false, false, n, d.In, d.Out, 1, dy.Data, d.Out, d.Weight.W, d.In, 0, dx.Data, d.In)
	return dx
}
