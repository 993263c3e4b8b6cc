package bench

import (
	"fmt"
	"slices"
	"strings"

	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Spec describes one benchmark model: the per-sample input shape, the
// default batch, Adam's learning rate and the layers, in PyTorch's order
// (../shared/bench/MODELS.md, ae_bench.py build_model).
type Spec struct {
	Name  string
	Input []int // per sample, PyTorch layout ([features] or [C, H, W])
	Batch int   // default batch
	LR    float64
	// Target says the model maps its input to a separate random target of
	// the same shape (srcnn) instead of reconstructing it.
	Target bool
	Layers []Layer
}

// Layer is one layer of a Spec: a description the benchmark turns into an
// nn.Layer and counts FLOPs from.
type Layer struct {
	Kind                   Kind
	In, Out                int   // features (Linear) or channels (convolutions)
	K, Stride, Pad, OutPad int   // convolutions (square kernels, dilation 1)
	Shape                  []int // KindReshape: per-sample output shape
	Act                    string
}

// Kind is the type of a Layer.
type Kind int

// Layer kinds.
const (
	KindLinear Kind = iota
	KindConv
	KindConvT
	KindFlatten
	KindReshape
	KindAct
)

func (k Kind) String() string {
	switch k {
	case KindLinear:
		return "Linear"
	case KindConv:
		return "Conv2d"
	case KindConvT:
		return "ConvTranspose2d"
	case KindFlatten:
		return "Flatten"
	case KindReshape:
		return "Reshape"
	case KindAct:
		return "Activation"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

func linear(in, out int) Layer { return Layer{Kind: KindLinear, In: in, Out: out} }
func conv(in, out, k, stride, pad int) Layer {
	return Layer{Kind: KindConv, In: in, Out: out, K: k, Stride: stride, Pad: pad}
}
func convT(in, out, k, stride, pad, outPad int) Layer {
	return Layer{Kind: KindConvT, In: in, Out: out, K: k, Stride: stride, Pad: pad, OutPad: outPad}
}
func flatten() Layer             { return Layer{Kind: KindFlatten} }
func reshape(shape ...int) Layer { return Layer{Kind: KindReshape, Shape: shape} }
func act(name string) Layer      { return Layer{Kind: KindAct, Act: name} }
func relu() Layer                { return act(nn.ActReLU) }
func sigmoid() Layer             { return act(nn.ActSigmoid) }

func names(specs []Spec) []string {
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = s.Name
	}
	return out
}

// Specs are the four reference models, in the order of MODELS.md.
var Specs = []Spec{
	{
		Name: "dense-mnist", Input: []int{784}, Batch: 256, LR: 1e-3,
		Layers: []Layer{
			linear(784, 512), relu(), linear(512, 256), relu(), linear(256, 64),
			linear(64, 256), relu(), linear(256, 512), relu(), linear(512, 784), sigmoid(),
		},
	},
	{
		Name: "conv-mnist", Input: []int{1, 28, 28}, Batch: 128, LR: 1e-3,
		Layers: []Layer{
			conv(1, 32, 3, 2, 1), relu(), conv(32, 64, 3, 2, 1), relu(),
			flatten(), linear(64*7*7, 64),
			linear(64, 64*7*7), relu(), reshape(64, 7, 7),
			convT(64, 32, 3, 2, 1, 1), relu(), convT(32, 1, 3, 2, 1, 1), sigmoid(),
		},
	},
	{
		Name: "dense-tabular", Input: []int{122}, Batch: 512, LR: 1e-3,
		Layers: []Layer{
			linear(122, 64), relu(), linear(64, 32), relu(), linear(32, 8),
			linear(8, 32), relu(), linear(32, 64), relu(), linear(64, 122),
		},
	},
	{
		Name: "srcnn", Input: []int{1, 33, 33}, Batch: 64, LR: 1e-4, Target: true,
		Layers: []Layer{
			conv(1, 64, 9, 1, 4), relu(), conv(64, 32, 1, 1, 0), relu(),
			conv(32, 1, 5, 1, 2),
		},
	},
}

// Names lists the benchmark models.
var Names = names(Specs)

// Lookup returns the Spec called name.
func Lookup(name string) (Spec, error) {
	for _, s := range Specs {
		if s.Name == name {
			return s, nil
		}
	}
	return Spec{}, fmt.Errorf("bench: unknown model %q (want one of %s)", name, strings.Join(Names, ", "))
}

// OutShape returns the per-sample output shape of l for input shape in, and
// its forward FLOPs per sample as ae_bench.py counts them: 2 per
// multiply-add of Linear, Conv2d and ConvTranspose2d (the latter as
// input pixels × Cin × Cout × k²); nothing for the rest.
func (l Layer) OutShape(in []int) (out []int, flops int, err error) {
	switch l.Kind {
	case KindLinear:
		if n := tensor.Size(in); n != l.In {
			return nil, 0, fmt.Errorf("bench: Linear %d→%d on input %v", l.In, l.Out, in)
		}
		return []int{l.Out}, 2 * l.In * l.Out, nil
	case KindConv, KindConvT:
		if len(in) != 3 || in[0] != l.In {
			return nil, 0, fmt.Errorf("bench: %v %d→%d on input %v", l.Kind, l.In, l.Out, in)
		}
		h, w := in[1], in[2]
		var ho, wo int
		if l.Kind == KindConv {
			ho = (h+2*l.Pad-l.K)/l.Stride + 1
			wo = (w+2*l.Pad-l.K)/l.Stride + 1
			return []int{l.Out, ho, wo}, 2 * l.Out * ho * wo * l.In * l.K * l.K, nil
		}
		ho = (h-1)*l.Stride - 2*l.Pad + l.K + l.OutPad
		wo = (w-1)*l.Stride - 2*l.Pad + l.K + l.OutPad
		return []int{l.Out, ho, wo}, 2 * h * w * l.In * l.Out * l.K * l.K, nil
	case KindFlatten:
		return []int{tensor.Size(in)}, 0, nil
	case KindReshape:
		if tensor.Size(in) != tensor.Size(l.Shape) {
			return nil, 0, fmt.Errorf("bench: Reshape %v on input %v", l.Shape, in)
		}
		return slices.Clone(l.Shape), 0, nil
	case KindAct:
		return slices.Clone(in), 0, nil
	}
	return nil, 0, fmt.Errorf("bench: unknown layer kind %v", l.Kind)
}

// FLOPs returns the forward FLOPs per sample of s and its output shape.
func (s Spec) FLOPs() (flops int, out []int, err error) {
	cur := slices.Clone(s.Input)
	for _, l := range s.Layers {
		var f int
		cur, f, err = l.OutShape(cur)
		if err != nil {
			return 0, nil, fmt.Errorf("bench: %s: %w", s.Name, err)
		}
		flops += f
	}
	return flops, cur, nil
}

// newLayer makes the nn layer for l.
func newLayer(l Layer) (nn.Layer, error) {
	switch l.Kind {
	case KindLinear:
		return nn.NewDense(l.In, l.Out), nil
	case KindAct:
		return nn.NewActivation(l.Act)
	}
	return newConvLayer(l)
}
