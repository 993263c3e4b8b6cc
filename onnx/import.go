package onnx

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/onnx/onnxpb"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// ImportOptions configure Import.
type ImportOptions struct {
	// Code names the tensor that is the code: the encoder ends where it is
	// computed. "" picks a tensor named "code" (as Export writes) on the
	// path from the input to the reconstruction, else the narrowest
	// activation between the input and the output (the last of the first
	// run of equally narrow ones, so that an encoder's final activation
	// belongs to it). A VAE's code is the mean its Slice takes.
	Code string
}

// Supported is the list of operators Import reads, for error messages.
const Supported = "Gemm, MatMul (+ Add), Conv, ConvTranspose, BatchNormalization, Relu, LeakyRelu (alpha 0.01), Sigmoid, Tanh, Gelu (or its Erf form), " +
	"Flatten, Reshape, MaxPool, AveragePool, Resize/Upsample (nearest, bilinear), DepthToSpace, SpaceToDepth, Identity, Dropout, Pad of zero, " +
	"Slice (a VAE's mean), Add of the input (a residual model), Mul + Softmax + Conv (a colorizer's a,b classes, as bottleneck exports them)"

// ErrUnsupported is wrapped by Import's errors for graphs it cannot turn
// into a bottleneck model.
var ErrUnsupported = errors.New("onnx: unsupported graph")

// batch and unknown stand for the batch size and an unknown size in the
// shape vectors the importer folds.
const (
	batch   = math.MinInt64 + 1
	unknown = math.MinInt64 + 2
)

// Import builds a bottleneck model from an ONNX graph made of the layers
// bottleneck has (Supported): one chain from the graph's input to its
// first output (or to the output named "reconstruction"), such as what
// torch.onnx.export writes for an nn.Sequential autoencoder, or what
// Export writes. The layers become the specs of an ae.Config, split into
// encoder and decoder at the code (ImportOptions.Code), and the weights
// are copied in. Anything else is refused with the operator's name and
// node.
//
// A model exported by bottleneck comes back whole: its config, its
// preprocessing and its detector (score statistics and threshold) are in
// the metadata, and the graph's layers are read from the tensor the
// preprocessing makes. Other models have the loss mse (a VAE the ELBO,
// Bernoulli for a sigmoid output and Gaussian otherwise), no
// preprocessing and no detector: anomaly.Calibrate fits them on data.
func Import(mp *onnxpb.ModelProto, o ImportOptions) (*ae.Model, error) {
	im, err := newImporter(mp)
	if err != nil {
		return nil, err
	}
	if err := im.trace(); err != nil {
		return nil, err
	}
	if err := im.convert(); err != nil {
		return nil, err
	}
	m, err := im.build(o.Code)
	if err != nil {
		return nil, err
	}
	return im.restore(m)
}

// importer holds a graph being read.
type importer struct {
	g       *onnxpb.GraphProto
	props   map[string]string
	consts  map[string]*constant
	prod    map[string]*onnxpb.NodeProto // tensor → the node computing it
	start   string                       // the tensor the layers start from
	end     string                       // the reconstruction
	in      []int                        // per-sample shape of start; 0 for an unknown size
	chain   []*onnxpb.NodeProto
	resid   bool
	items   []item
	after   map[string]int // chain tensor → number of items computing it
	shapes  map[string][]int
	vaeAt   int // items in the encoder of a VAE (-1: not a VAE)
	folded  map[string]*constant
	canFold map[string]bool
}

// item is one layer of the model being built: its spec and weights.
type item struct {
	spec    string
	weights map[string][]float32 // "weight", "bias", "running_mean", "running_var"
}

func nodeName(n *onnxpb.NodeProto) string {
	if n.GetName() != "" {
		return n.GetName()
	}
	if len(n.GetOutput()) > 0 {
		return n.GetOutput()[0]
	}
	return "?"
}

func unsupported(n *onnxpb.NodeProto, format string, args ...any) error {
	return fmt.Errorf("%w: node %q (%s): %s", ErrUnsupported, nodeName(n), n.GetOpType(), fmt.Sprintf(format, args...))
}

func newImporter(mp *onnxpb.ModelProto) (*importer, error) {
	g := mp.GetGraph()
	if g == nil {
		return nil, errors.New("onnx: the model has no graph")
	}
	im := &importer{g: g, props: map[string]string{}, consts: map[string]*constant{}, prod: map[string]*onnxpb.NodeProto{},
		after: map[string]int{}, shapes: map[string][]int{}, vaeAt: -1, folded: map[string]*constant{}, canFold: map[string]bool{}}
	for _, p := range mp.GetMetadataProps() {
		im.props[p.GetKey()] = p.GetValue()
	}
	for _, t := range g.GetInitializer() {
		c, err := decodeTensor(t)
		if err != nil {
			return nil, fmt.Errorf("onnx: %w", err)
		}
		im.consts[t.GetName()] = c
	}
	for _, n := range g.GetNode() {
		if len(n.GetOutput()) == 0 {
			return nil, unsupported(n, "a node without outputs")
		}
		if d := n.GetDomain(); d != "" && d != "ai.onnx" {
			return nil, unsupported(n, "operator domain %q; bottleneck reads the standard ONNX operators (%s)", d, Supported)
		}
		for _, out := range n.GetOutput() {
			if out != "" {
				im.prod[out] = n
			}
		}
		if n.GetOpType() == "Constant" {
			c, err := constantNode(n)
			if err != nil {
				return nil, err
			}
			im.consts[n.GetOutput()[0]] = c
		}
	}
	var inputs []*onnxpb.ValueInfoProto
	for _, v := range g.GetInput() {
		if _, ok := im.consts[v.GetName()]; !ok {
			inputs = append(inputs, v)
		}
	}
	if len(inputs) != 1 {
		return nil, fmt.Errorf("%w: the graph has %d inputs; an autoencoder has one", ErrUnsupported, len(inputs))
	}
	x := inputs[0]
	tt := x.GetType().GetTensorType()
	if tt == nil || onnxpb.TensorProto_DataType(tt.GetElemType()) != onnxpb.TensorProto_FLOAT {
		return nil, fmt.Errorf("%w: input %q is not a float32 tensor", ErrUnsupported, x.GetName())
	}
	for i, d := range tt.GetShape().GetDim() {
		if v := d.GetDimValue(); i > 0 && v > 1<<24 {
			return nil, fmt.Errorf("%w: input %q has a dimension of %d", ErrUnsupported, x.GetName(), v)
		}
		if i > 0 {
			im.in = append(im.in, int(max(d.GetDimValue(), 0)))
		}
	}
	if len(im.in) == 3 && (im.in[0] > 1<<16 || im.in[1] > 1<<14 || im.in[2] > 1<<14) {
		return nil, fmt.Errorf("%w: input %q has shape [N %s]; images are at most 64k channels of 16384×16384", ErrUnsupported, x.GetName(), shapeText(im.in))
	}
	switch {
	case len(im.in) == 1 && im.in[0] > 0:
	case len(im.in) == 3 && im.in[0] > 0 && (im.in[1] > 0) == (im.in[2] > 0):
	default:
		return nil, fmt.Errorf("%w: input %q has shape [N %v]; want [N, D] or [N, C, H, W] with known D and C", ErrUnsupported, x.GetName(), shapeText(im.in))
	}
	im.start = x.GetName()
	if raw, ok := im.props[MetaConfig]; ok && im.prod[FeaturesName] != nil {
		// a table model exported by bottleneck: the layers start after
		// the preprocessing, in the model's input shape
		var cfg struct{ Input []int }
		if json.Unmarshal([]byte(raw), &cfg) != nil || tensor.Size(cfg.Input) != tensor.Size(im.in) {
			return nil, fmt.Errorf("%w: metadata %s does not fit the input %q; the file is damaged", ErrUnsupported, MetaConfig, x.GetName())
		}
		im.start, im.in = FeaturesName, cfg.Input
	}
	if len(g.GetOutput()) == 0 {
		return nil, fmt.Errorf("%w: the graph has no output", ErrUnsupported)
	}
	im.end = g.GetOutput()[0].GetName()
	for _, v := range g.GetOutput() {
		if v.GetName() == ReconName {
			im.end = ReconName
		}
	}
	im.fuseGELU()
	return im, nil
}

func shapeText(s []int) string {
	f := make([]string, len(s))
	for i, v := range s {
		f[i] = strconv.Itoa(v)
		if v <= 0 {
			f[i] = "?"
		}
	}
	return strings.Join(f, " ")
}

// constantNode reads a Constant node's value.
func constantNode(n *onnxpb.NodeProto) (*constant, error) {
	for _, a := range n.GetAttribute() {
		switch a.GetName() {
		case "value":
			c, err := decodeTensor(a.GetT())
			if err != nil {
				return nil, unsupported(n, "%v", err)
			}
			return c, nil
		case "value_float":
			return &constant{f: []float32{a.GetF()}}, nil
		case "value_floats":
			return &constant{f: a.GetFloats(), dims: []int{len(a.GetFloats())}}, nil
		case "value_int":
			return &constant{i: []int64{a.GetI()}, isI: true}, nil
		case "value_ints":
			return &constant{i: a.GetInts(), isI: true, dims: []int{len(a.GetInts())}}, nil
		}
	}
	return nil, unsupported(n, "a constant of a kind this importer does not read")
}

// attr returns the attribute of n called name (nil if absent).
func attr(n *onnxpb.NodeProto, name string) *onnxpb.AttributeProto {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

func attrI(n *onnxpb.NodeProto, name string, def int64) int64 {
	if a := attr(n, name); a != nil {
		return a.GetI()
	}
	return def
}

func attrF(n *onnxpb.NodeProto, name string, def float32) float32 {
	if a := attr(n, name); a != nil {
		return a.GetF()
	}
	return def
}

func attrS(n *onnxpb.NodeProto, name, def string) string {
	if a := attr(n, name); a != nil {
		return string(a.GetS())
	}
	return def
}

func attrIs(n *onnxpb.NodeProto, name string) []int64 {
	if a := attr(n, name); a != nil {
		return a.GetInts()
	}
	return nil
}

// scalar returns the value of a one-element constant tensor t.
func (im *importer) scalar(t string) (float32, bool) {
	c, ok := im.consts[t]
	if !ok || c.size() != 1 {
		return 0, false
	}
	return c.floats()[0], true
}

// fuseGELU replaces the Erf form of GELU, x·0.5·(1 + erf(x/√2)) as
// torch.onnx writes it before opset 20, by one Gelu node.
func (im *importer) fuseGELU() {
	uses := map[string][]*onnxpb.NodeProto{}
	for _, n := range im.g.GetNode() {
		for _, in := range n.GetInput() {
			uses[in] = append(uses[in], n)
		}
	}
	only := func(t, op string) *onnxpb.NodeProto {
		if u := uses[t]; len(u) == 1 && u[0].GetOpType() == op {
			return u[0]
		}
		return nil
	}
	other := func(n *onnxpb.NodeProto, t string) string {
		if in := n.GetInput(); len(in) == 2 {
			if in[0] == t {
				return in[1]
			}
			if in[1] == t {
				return in[0]
			}
		}
		return ""
	}
	near := func(t string, want float64) bool {
		v, ok := im.scalar(t)
		return ok && math.Abs(float64(v)-want) < 1e-5*max(1, math.Abs(want))
	}
	for _, erf := range im.g.GetNode() {
		if erf.GetOpType() != "Erf" || len(erf.GetInput()) != 1 {
			continue
		}
		div := im.prod[erf.GetInput()[0]]
		if div == nil || len(div.GetInput()) != 2 {
			continue
		}
		x := div.GetInput()[0]
		switch {
		case div.GetOpType() == "Div" && near(div.GetInput()[1], math.Sqrt2):
		case div.GetOpType() == "Mul" && near(div.GetInput()[1], 1/math.Sqrt2):
		default:
			continue
		}
		add := only(erf.GetOutput()[0], "Add")
		if add == nil || !near(other(add, erf.GetOutput()[0]), 1) {
			continue
		}
		// x·(1+erf)·0.5 or 0.5·x·(1+erf), in either order
		mul := only(add.GetOutput()[0], "Mul")
		if mul == nil {
			continue
		}
		var out string
		switch o := other(mul, add.GetOutput()[0]); {
		case o == x:
			if half := only(mul.GetOutput()[0], "Mul"); half != nil && near(other(half, mul.GetOutput()[0]), 0.5) {
				out = half.GetOutput()[0]
			}
		default:
			if h := im.prod[o]; h != nil && h.GetOpType() == "Mul" && len(h.GetInput()) == 2 && ((h.GetInput()[0] == x && near(h.GetInput()[1], 0.5)) || (h.GetInput()[1] == x && near(h.GetInput()[0], 0.5))) {
				out = mul.GetOutput()[0]
			}
		}
		if out == "" {
			continue
		}
		im.prod[out] = &onnxpb.NodeProto{Name: ptr(nodeName(erf) + "/gelu"), OpType: ptr("Gelu"), Input: []string{x}, Output: []string{out}}
	}
}

// foldOps are the operators of shape computations (x.view(x.size(0), …)).
var foldOps = map[string]bool{"Shape": true, "Gather": true, "Unsqueeze": true, "Squeeze": true, "Concat": true,
	"Slice": true, "Cast": true, "Identity": true, "Mul": true, "Div": true, "Add": true, "Sub": true, "Constant": true}

// foldable reports whether tensor t is a constant or a shape computation.
func (im *importer) foldable(t string, depth int) bool {
	if _, ok := im.consts[t]; ok || t == "" {
		return true
	}
	if v, ok := im.canFold[t]; ok {
		return v
	}
	n := im.prod[t]
	ok := n != nil && depth <= 64 && foldOps[n.GetOpType()]
	if ok && n.GetOpType() != "Shape" {
		for _, in := range n.GetInput() {
			if !im.foldable(in, depth+1) {
				ok = false
				break
			}
		}
	}
	im.canFold[t] = ok
	return ok
}

// trace follows the graph back from the reconstruction to the start: each
// node on the way must take one tensor computed from the input (the
// residual Add two, one of them the input).
func (im *importer) trace() error {
	t := im.end
	seen := map[string]bool{}
	for t != im.start {
		if seen[t] {
			return fmt.Errorf("%w: tensor %q is computed from itself", ErrUnsupported, t)
		}
		seen[t] = true
		n := im.prod[t]
		if n == nil {
			return fmt.Errorf("%w: output %q is not computed from the input %q", ErrUnsupported, im.end, im.start)
		}
		var data []string
		for _, in := range n.GetInput() {
			if !im.foldable(in, 0) {
				data = append(data, in)
			}
		}
		switch {
		case len(data) == 1:
			t = data[0]
		case len(data) == 2 && n.GetOpType() == "Add" && len(im.chain) == 0 && slices.Contains(data, im.start) && data[0] != data[1]:
			im.resid = true
			t = data[0]
			if t == im.start {
				t = data[1]
			}
		case len(data) == 0:
			return fmt.Errorf("%w: output %q does not depend on the input %q", ErrUnsupported, im.end, im.start)
		default:
			return unsupported(n, "it combines %d tensors computed from the input; bottleneck's models are one chain of layers (with at most the input added to the output)", len(data))
		}
		im.chain = append(im.chain, n)
	}
	slices.Reverse(im.chain)
	if len(im.chain) == 0 {
		return fmt.Errorf("%w: the output is the input; there are no layers", ErrUnsupported)
	}
	return nil
}

// fold evaluates a shape computation. The batch size and sizes unknown
// until run time come out as batch and unknown.
func (im *importer) fold(t string, depth int) (*constant, error) {
	if c, ok := im.consts[t]; ok {
		return c, nil
	}
	if c, ok := im.folded[t]; ok {
		return c, nil
	}
	n := im.prod[t]
	if n == nil || depth > 64 {
		return nil, fmt.Errorf("%w: tensor %q is not a constant", ErrUnsupported, t)
	}
	in := func(i int) ([]int64, error) {
		if i >= len(n.GetInput()) || n.GetInput()[i] == "" {
			return nil, nil
		}
		c, err := im.fold(n.GetInput()[i], depth+1)
		if err != nil {
			return nil, err
		}
		v, ok := c.ints()
		if !ok {
			return nil, unsupported(n, "a shape computation on fractional values")
		}
		return v, nil
	}
	var out []int64
	switch op := n.GetOpType(); op {
	case "Shape":
		s, ok := im.shapes[n.GetInput()[0]]
		if !ok {
			return nil, unsupported(n, "the shape of %q, which is not a layer's output", n.GetInput()[0])
		}
		out = append(out, batch)
		for _, v := range s {
			if v <= 0 {
				out = append(out, unknown)
			} else {
				out = append(out, int64(v))
			}
		}
		lo, hi := int(attrI(n, "start", 0)), int(attrI(n, "end", int64(len(out))))
		lo, hi = clampIndex(lo, len(out)), clampIndex(hi, len(out))
		out = out[lo:max(lo, hi)]
	case "Gather":
		data, err := in(0)
		if err != nil {
			return nil, err
		}
		idx, err := in(1)
		if err != nil {
			return nil, err
		}
		if attrI(n, "axis", 0) != 0 {
			return nil, unsupported(n, "a gather on axis %d in a shape computation", attrI(n, "axis", 0))
		}
		for _, k := range idx {
			if k < 0 {
				k += int64(len(data))
			}
			if k < 0 || k >= int64(len(data)) {
				return nil, unsupported(n, "index %d out of range", k)
			}
			out = append(out, data[k])
		}
	case "Unsqueeze", "Squeeze", "Cast", "Identity":
		v, err := in(0)
		if err != nil {
			return nil, err
		}
		out = v
	case "Concat":
		for i := range n.GetInput() {
			v, err := in(i)
			if err != nil {
				return nil, err
			}
			out = append(out, v...)
		}
	case "Slice":
		data, err := in(0)
		if err != nil {
			return nil, err
		}
		starts, err := in(1)
		if err != nil {
			return nil, err
		}
		ends, err := in(2)
		if err != nil {
			return nil, err
		}
		steps, err := in(4)
		if err != nil {
			return nil, err
		}
		if len(starts) != 1 || len(ends) != 1 || (len(steps) > 0 && (len(steps) != 1 || steps[0] != 1)) {
			return nil, unsupported(n, "a slice of a shape other than one range with step 1")
		}
		lo, hi := clampIndex(int(max(min(starts[0], 1<<30), -1<<30)), len(data)), clampIndex(int(max(min(ends[0], 1<<30), -1<<30)), len(data))
		out = data[lo:max(lo, hi)]
	case "Mul", "Div", "Add", "Sub":
		a, err := in(0)
		if err != nil {
			return nil, err
		}
		b, err := in(1)
		if err != nil {
			return nil, err
		}
		if len(a) != len(b) && len(a) != 1 && len(b) != 1 {
			return nil, unsupported(n, "shapes %d and %d in a shape computation", len(a), len(b))
		}
		for i := range max(len(a), len(b)) {
			x, y := a[min(i, len(a)-1)], b[min(i, len(b)-1)]
			switch {
			case x == batch || x == unknown || y == batch || y == unknown:
				out = append(out, unknown)
			case op == "Mul":
				out = append(out, x*y)
			case op == "Div" && y != 0:
				out = append(out, x/y)
			case op == "Add":
				out = append(out, x+y)
			case op == "Sub":
				out = append(out, x-y)
			default:
				return nil, unsupported(n, "division by zero in a shape computation")
			}
		}
	default:
		return nil, unsupported(n, "%s in a shape computation", op)
	}
	c := &constant{i: out, isI: true, dims: []int{len(out)}}
	im.folded[t] = c
	return c, nil
}

func clampIndex(i, n int) int {
	if i < 0 {
		i += n
	}
	return min(max(i, 0), n)
}
