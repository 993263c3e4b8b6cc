// Package nn holds the layers and losses of bottleneck's networks.
//
// Every layer has an explicit Forward and Backward over buffers it allocates
// on the first batch and reuses for every later batch of the same or smaller
// size (a larger batch grows them once). Forward returns the layer's own
// output buffer; the caller must not keep it across the next Forward.
// Backward takes the gradient of the loss with respect to the layer's output,
// accumulates (+=) the gradients of the parameters into Param.G, and returns
// the gradient with respect to the input, again in the layer's own buffer.
//
// Parameters are views into one flat array per model (see ParamSet), so an
// optimiser is one loop over a slice and a model file is one blob.
//
// Models are described by layer specs, short strings such as "dense:64",
// "conv:64:3:s2", "relu" or "shuffle:2" (see ParseSpecs): a dense
// autoencoder and a DnCNN-style denoiser are two lists of them.
package nn

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Param is one named parameter tensor. W and G are views into a ParamSet's
// flat arrays once bound.
type Param struct {
	Name  string
	Shape []int
	W, G  []float32
}

// Size is the number of elements of p.
func (p *Param) Size() int { return tensor.Size(p.Shape) }

// Layer is one step of a network.
type Layer interface {
	// Setup is called once, before anything else, with the per-sample input
	// shape (no batch dimension). It returns the per-sample output shape, or
	// an error if the input shape does not fit the layer.
	Setup(in []int) (out []int, err error)
	// Params returns the layer's parameters (nil if none). Their W and G are
	// bound by a ParamSet before Init, Forward or Backward are called.
	Params() []*Param
	// Init draws the initial parameters (PyTorch's defaults unless the layer
	// says otherwise).
	Init(rng *rand.Rand)
	// Forward computes the output for a batch x (batch × in...). train
	// selects training behaviour (dropout masks).
	Forward(x *tensor.Tensor, train bool) *tensor.Tensor
	// Backward takes dL/dy for the last Forward, accumulates parameter
	// gradients, and returns dL/dx.
	Backward(dy *tensor.Tensor) *tensor.Tensor
}

// InputGradSkipper is implemented by layers that can skip computing dL/dx
// (useful for the first layer of a network, whose input needs no gradient).
type InputGradSkipper interface {
	SkipInputGrad(skip bool)
}

// ParamSet owns the flat parameter and gradient arrays of a model and binds
// every Param to its slice of them, in order.
type ParamSet struct {
	Params []*Param
	W, G   []float32
}

// NewParamSet allocates flat arrays for params and binds them.
func NewParamSet(params []*Param) *ParamSet {
	n := 0
	for _, p := range params {
		n += p.Size()
	}
	s := &ParamSet{Params: params, W: make([]float32, n), G: make([]float32, n)}
	off := 0
	for _, p := range params {
		sz := p.Size()
		p.W = s.W[off : off+sz : off+sz]
		p.G = s.G[off : off+sz : off+sz]
		off += sz
	}
	return s
}

// ZeroGrad clears all gradients.
func (s *ParamSet) ZeroGrad() { clear(s.G) }

// Len is the total number of parameters.
func (s *ParamSet) Len() int { return len(s.W) }

// Net is a sequence of layers applied in order.
type Net struct {
	Layers   []Layer
	InShape  []int // per sample
	OutShape []int // per sample
	shapes   [][]int
}

// NewNet sets up layers for per-sample input shape in. The parameters are
// not bound yet: collect Params() into a ParamSet, then call Init.
func NewNet(in []int, layers ...Layer) (*Net, error) {
	n := &Net{Layers: layers, InShape: slices.Clone(in)}
	cur := slices.Clone(in)
	n.shapes = append(n.shapes, cur)
	for i, l := range layers {
		out, err := l.Setup(cur)
		if err != nil {
			return nil, fmt.Errorf("nn: layer %d (%T): %w", i, l, err)
		}
		cur = out
		n.shapes = append(n.shapes, cur)
	}
	n.OutShape = slices.Clone(cur)
	fuseReLU(layers)
	if len(layers) > 0 {
		if s, ok := layers[0].(InputGradSkipper); ok {
			s.SkipInputGrad(true)
		}
	}
	return n, nil
}

// Shape is the per-sample shape that enters layer i (Shape(len(Layers))
// is OutShape).
func (n *Net) Shape(i int) []int { return slices.Clone(n.shapes[i]) }

// NeedInputGrad makes the first layer compute dL/dx again (for nets that sit
// behind another net, such as a decoder behind an encoder).
func (n *Net) NeedInputGrad() {
	if len(n.Layers) > 0 {
		if s, ok := n.Layers[0].(InputGradSkipper); ok {
			s.SkipInputGrad(false)
		}
	}
}

// Params returns the parameters of all layers, named "<index>.<name>" as
// PyTorch's nn.Sequential names them.
func (n *Net) Params() []*Param {
	var ps []*Param
	for i, l := range n.Layers {
		for _, p := range l.Params() {
			if !hasIndexPrefix(p.Name) {
				p.Name = fmt.Sprintf("%d.%s", i, p.Name)
			}
			ps = append(ps, p)
		}
	}
	return ps
}

func hasIndexPrefix(s string) bool {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i > 0 && i < len(s) && s[i] == '.'
}

// Init initialises every layer's parameters from rng, in layer order.
func (n *Net) Init(rng *rand.Rand) {
	for _, l := range n.Layers {
		l.Init(rng)
	}
}

// Forward runs all layers and returns the last layer's output buffer (see
// ForwardLayers).
func (n *Net) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	return n.ForwardLayers(x, 0, len(n.Layers), train)
}

// Backward runs all layers backwards and returns dL/dx (nil when the first
// layer skips its input gradient). A run of small Dense layers goes back
// through its batch in blocks of rows on all workers at once (backwardMLP),
// with the bits of going layer by layer.
func (n *Net) Backward(dy *tensor.Tensor) *tensor.Tensor {
	split := mlpBackSplits(dy.Rows())
	for i := len(n.Layers) - 1; i >= 0; i-- {
		from := -1
		if split {
			from = mlpRunEnding(n.Layers, i)
		}
		if from >= 0 && mlpBackWorth(n.Layers[from:i+1], dy.Rows()) {
			dy = backwardMLP(n.Layers[from:i+1], dy)
			i = from
			continue
		}
		dy = n.Layers[i].Backward(dy)
	}
	return dy
}

// buffer returns *buf resized to rows × per-sample shape, allocating only
// when its capacity is too small. It is how layers keep their activations.
func buffer(buf **tensor.Tensor, rows int, shape []int) *tensor.Tensor {
	per := tensor.Size(shape)
	t := *buf
	if t == nil || cap(t.Data) < rows*per || len(t.Shape) != len(shape)+1 {
		t = &tensor.Tensor{Shape: append([]int{rows}, shape...), Data: make([]float32, rows*per)}
		*buf = t
		return t
	}
	t.Data = t.Data[:rows*per]
	t.Shape[0] = rows
	copy(t.Shape[1:], shape)
	return t
}
