package onnx

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/onnx/onnxpb"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// convert turns the chain of nodes into layer specs and weights, following
// the per-sample shape (0 for a size known only at run time).
func (im *importer) convert() error {
	cur := slices.Clone(im.in)
	im.shapes[im.start] = slices.Clone(cur)
	for i := 0; i < len(im.chain); i++ {
		used, err := im.layer(i, &cur)
		if err != nil {
			return err
		}
		for _, m := range im.chain[i : i+used+1] {
			out := m.GetOutput()[0]
			im.after[out] = len(im.items)
			im.shapes[out] = slices.Clone(cur)
		}
		i += used
	}
	if len(im.items) == 0 {
		return fmt.Errorf("%w: the graph has no layers", ErrUnsupported)
	}
	return nil
}

func known(s []int) bool { return !slices.Contains(s, 0) }

// add appends a layer, checked by building it for the current shape.
func (im *importer) add(n *onnxpb.NodeProto, cur *[]int, spec string, w map[string][]float32) error {
	in := nn.SpecInput{}
	if len(*cur) == 3 {
		in.Channels = (*cur)[0]
	}
	if known(*cur) {
		in.Shape = *cur
	}
	ls, err := nn.ParseSpecs([]string{spec}, in)
	if err != nil {
		return unsupported(n, "as bottleneck layer %q: %v", spec, err)
	}
	l := ls[0]
	if known(*cur) {
		out, err := l.Setup(*cur)
		if err != nil {
			return unsupported(n, "as bottleneck layer %q: %v", spec, err)
		}
		*cur = out
	} else if r, ok := l.(*nn.Reshape); ok && len(r.Shape) == 3 {
		*cur = slices.Clone(r.Shape)
	} else if c := channels(l, in.Channels); c > 0 {
		(*cur)[0] = c
	} else {
		return unsupported(n, "a %s layer needs a fixed input size; export the model with fixed height and width", spec)
	}
	for k, v := range w {
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return unsupported(n, "its %s holds %v", k, x)
			}
		}
	}
	im.items = append(im.items, item{spec: spec, weights: w})
	return nil
}

// weight returns the constant input i of n with the wanted number of
// dimensions (any when dims < 0).
func (im *importer) weight(n *onnxpb.NodeProto, i, dims int, what string) (*constant, error) {
	if i >= len(n.GetInput()) || n.GetInput()[i] == "" {
		return nil, nil
	}
	c, ok := im.consts[n.GetInput()[i]]
	if !ok {
		return nil, unsupported(n, "its %s %q is computed, not a constant", what, n.GetInput()[i])
	}
	if c.isI {
		return nil, unsupported(n, "its %s %q is an integer tensor", what, n.GetInput()[i])
	}
	if dims >= 0 && len(c.dims) != dims {
		return nil, unsupported(n, "its %s has shape %v; want %d dimensions", what, c.dims, dims)
	}
	return c, nil
}

// bias returns b as a vector of n values (zeros when b is nil; a
// one-value b is broadcast).
func bias(b *constant, n int) ([]float32, bool) {
	out := make([]float32, n)
	if b == nil {
		return out, true
	}
	switch b.size() {
	case n:
		copy(out, b.floats())
	case 1:
		for i := range out {
			out[i] = b.floats()[0]
		}
	default:
		return nil, false
	}
	return out, true
}

func transpose(w []float32, rows, cols int) []float32 {
	t := make([]float32, len(w))
	for r := range rows {
		for c := range cols {
			t[c*rows+r] = w[r*cols+c]
		}
	}
	return t
}

func scale(v []float32, s float32) []float32 {
	out := slices.Clone(v)
	if s != 1 {
		for i := range out {
			out[i] *= s
		}
	}
	return out
}

// square reads a 2-D attribute that must hold one value twice (kernel,
// strides, dilations), def when absent.
func square(n *onnxpb.NodeProto, name string, def int) (int, error) {
	v := attrIs(n, name)
	switch {
	case len(v) == 0:
		return def, nil
	case len(v) == 2 && v[0] == v[1] && v[0] > 0 && v[0] <= 1<<16:
		return int(v[0]), nil
	}
	return 0, unsupported(n, "%s %v; bottleneck's layers are square (the same value for height and width)", name, v)
}

// pads reads a pads attribute that must hold one value four times.
func pads(n *onnxpb.NodeProto) (int, error) {
	v := attrIs(n, "pads")
	if len(v) == 0 {
		return 0, nil
	}
	if len(v) == 4 && v[0] == v[1] && v[1] == v[2] && v[2] == v[3] && v[0] >= 0 && v[0] < 1<<16 {
		return int(v[0]), nil
	}
	return 0, unsupported(n, "pads %v; bottleneck pads all four sides alike", v)
}

// layer converts chain node i into zero or more layers and returns how
// many following nodes it used as well.
func (im *importer) layer(i int, cur *[]int) (int, error) {
	n := im.chain[i]
	op := n.GetOpType()
	next := func(op string) *onnxpb.NodeProto {
		if i+1 < len(im.chain) && im.chain[i+1].GetOpType() == op {
			return im.chain[i+1]
		}
		return nil
	}
	switch op {
	case "Gemm":
		w, err := im.weight(n, 1, 2, "weight B")
		if err != nil || w == nil {
			return 0, orMissing(err, n, "weight B")
		}
		b, err := im.weight(n, 2, -1, "bias C")
		if err != nil {
			return 0, err
		}
		if attrI(n, "transA", 0) != 0 {
			return 0, unsupported(n, "transA=1 (the input transposed)")
		}
		out, in := w.dims[0], w.dims[1]
		wt := w.f
		if attrI(n, "transB", 0) == 0 {
			in, out = out, in
			wt = transpose(w.f, w.dims[0], w.dims[1])
		}
		bv, ok := bias(b, out)
		if !ok || (b != nil && !perChannel(b.dims, 1)) {
			return 0, unsupported(n, "bias of shape %v for %d outputs", b.dims, out)
		}
		return 0, im.dense(n, cur, in, out, scale(wt, attrF(n, "alpha", 1)), scale(bv, attrF(n, "beta", 1)))
	case "MatMul":
		w, err := im.weight(n, 1, 2, "weight")
		if err != nil || w == nil {
			return 0, orMissing(err, n, "weight")
		}
		in, out := w.dims[0], w.dims[1]
		bv := make([]float32, out)
		used := 0
		if add := next("Add"); add != nil {
			for _, t := range add.GetInput() {
				if c, ok := im.consts[t]; ok {
					if bv, ok = bias(c, out); !ok || !perChannel(c.dims, 1) {
						return 0, unsupported(add, "bias of shape %v for %d outputs", c.dims, out)
					}
					used = 1
				}
			}
		}
		if len(*cur) != 1 {
			return 0, unsupported(n, "a matrix product on a [N %s] tensor; bottleneck's dense layers take [N, D]", shapeText(*cur))
		}
		return used, im.dense(n, cur, in, out, transpose(w.f, in, out), bv)
	case "Conv", "ConvTranspose":
		return 0, im.conv(n, cur)
	case "BatchNormalization":
		return 0, im.batchNorm(n, cur)
	case "Relu", "Sigmoid", "Tanh", "Gelu":
		if op == "Gelu" && attrS(n, "approximate", "none") != "none" {
			return 0, unsupported(n, "approximate=%q; bottleneck's gelu is the exact one", attrS(n, "approximate", ""))
		}
		return 0, im.add(n, cur, map[string]string{"Relu": nn.ActReLU, "Sigmoid": nn.ActSigmoid, "Tanh": nn.ActTanh, "Gelu": nn.ActGELU}[op], nil)
	case "LeakyRelu":
		if a := attrF(n, "alpha", 0.01); math.Abs(float64(a)-0.01) > 1e-7 {
			return 0, unsupported(n, "slope alpha=%g; bottleneck's leakyrelu has PyTorch's default slope 0.01", a)
		}
		return 0, im.add(n, cur, nn.ActLeakyReLU, nil)
	case "Identity", "Dropout":
		if op == "Dropout" && len(n.GetInput()) > 2 && n.GetInput()[2] != "" {
			c, ok := im.consts[n.GetInput()[2]]
			if v, isInt := c.ints(); !ok || !isInt || len(v) != 1 || v[0] != 0 {
				return 0, unsupported(n, "dropout in training mode")
			}
		}
		return 0, nil
	case "Cast":
		if onnxpb.TensorProto_DataType(attrI(n, "to", 0)) != onnxpb.TensorProto_FLOAT {
			return 0, unsupported(n, "a cast to %s; bottleneck's layers work in float32", onnxpb.TensorProto_DataType(attrI(n, "to", 0)))
		}
		return 0, nil
	case "Pad":
		var p []int64
		if len(n.GetInput()) > 1 && n.GetInput()[1] != "" {
			c, err := im.fold(n.GetInput()[1], 0)
			if err != nil {
				return 0, unsupported(n, "pads that are not constant")
			}
			p, _ = c.ints()
		} else {
			p = attrIs(n, "pads")
		}
		for _, v := range p {
			if v != 0 {
				return 0, unsupported(n, "padding %v; bottleneck pads only inside its convolutions (\"same\" padding)", p)
			}
		}
		return 0, nil
	case "Flatten":
		if a := attrI(n, "axis", 1); a != 1 {
			return 0, unsupported(n, "axis=%d; bottleneck flattens each sample (axis 1)", a)
		}
		if len(*cur) == 1 {
			return 0, nil
		}
		return 0, im.add(n, cur, "flatten", nil)
	case "Reshape":
		return 0, im.reshape(n, cur)
	case "MaxPool", "AveragePool":
		k, err := square(n, "kernel_shape", 0)
		if err != nil {
			return 0, err
		}
		s, err := square(n, "strides", 1)
		if err != nil {
			return 0, err
		}
		d, err := square(n, "dilations", 1)
		if err != nil {
			return 0, err
		}
		p, err := pads(n)
		if err != nil {
			return 0, err
		}
		if k < 1 || s != k || d != 1 || p != 0 || attrI(n, "ceil_mode", 0) != 0 || attrI(n, "storage_order", 0) != 0 {
			return 0, unsupported(n, "kernel %d, stride %d, dilation %d, padding %d, ceil_mode %d; bottleneck pools with stride = kernel, no padding, floor rounding", k, s, d, p, attrI(n, "ceil_mode", 0))
		}
		if ap := attrS(n, "auto_pad", "NOTSET"); ap != "NOTSET" && ap != "VALID" {
			return 0, unsupported(n, "auto_pad %s", ap)
		}
		spec := "maxpool:"
		if op == "AveragePool" {
			spec = "avgpool:"
		}
		return 0, im.add(n, cur, spec+strconv.Itoa(k), nil)
	case "Resize", "Upsample":
		return 0, im.resize(n, cur)
	case "DepthToSpace":
		r := int(attrI(n, "blocksize", 0))
		if len(*cur) != 3 || r < 1 {
			return 0, unsupported(n, "blocksize %d on [N %s]", r, shapeText(*cur))
		}
		if mode := attrS(n, "mode", "DCR"); mode != "CRD" && (*cur)[0] != r*r {
			return 0, unsupported(n, "mode %s; bottleneck's shuffle is PixelShuffle, mode CRD", mode)
		}
		return 0, im.add(n, cur, "shuffle:"+strconv.Itoa(r), nil)
	case "SpaceToDepth":
		r := int(attrI(n, "blocksize", 0))
		if len(*cur) != 3 || r < 1 {
			return 0, unsupported(n, "blocksize %d on [N %s]", r, shapeText(*cur))
		}
		ch := (*cur)[0]
		if ch == 1 {
			return 0, im.add(n, cur, "unshuffle:"+strconv.Itoa(r), nil)
		}
		// PixelUnshuffle is SpaceToDepth with its channels reordered
		if g := next("Gather"); g != nil && attrI(g, "axis", 0) == 1 && len(g.GetInput()) == 2 {
			if c, ok := im.consts[g.GetInput()[1]]; ok {
				if v, _ := c.ints(); slices.Equal(v, unshufflePerm(ch, r)) {
					return 1, im.add(n, cur, "unshuffle:"+strconv.Itoa(r), nil)
				}
			}
		}
		return 0, unsupported(n, "SpaceToDepth of %d channels without the channel order of PixelUnshuffle (a Gather on axis 1 that reorders them)", ch)
	case "Mul", "Softmax":
		return im.abMean(i, cur)
	case "Slice":
		return 0, im.slice(n, cur)
	case "Add":
		if im.resid && i == len(im.chain)-1 {
			return 0, nil
		}
		if len(im.items) > 0 {
			last := &im.items[len(im.items)-1]
			for _, t := range n.GetInput() {
				c, ok := im.consts[t]
				if !ok || last.weights == nil || last.weights["bias"] == nil || i == 0 || im.after[im.chain[i-1].GetOutput()[0]] != len(im.items) {
					continue
				}
				if b, ok := bias(c, len(last.weights["bias"])); ok && perChannel(c.dims, len(*cur)) {
					for k := range b {
						last.weights["bias"][k] += b[k]
					}
					return 0, nil
				}
			}
		}
		return 0, unsupported(n, "an addition that is not a layer's bias nor the input added to the output; %s", "bottleneck reads "+Supported)
	}
	return 0, notALayer(n)
}

func notALayer(n *onnxpb.NodeProto) error {
	return unsupported(n, "operator %s is not a layer bottleneck has; it reads %s", n.GetOpType(), Supported)
}

// perChannel reports whether a constant of shape dims, added to a batch of
// per-sample rank rank, adds one value per feature (rank 1) or per channel
// (rank 3), or one value to everything.
func perChannel(dims []int, rank int) bool {
	if tensor.Size(dims) == 1 {
		return true
	}
	switch rank {
	case 1:
		return len(dims) == 1 || (len(dims) == 2 && dims[0] == 1)
	case 3:
		return (len(dims) == 3 && dims[1] == 1 && dims[2] == 1) || (len(dims) == 4 && dims[0] == 1 && dims[2] == 1 && dims[3] == 1)
	}
	return false
}

func orMissing(err error, n *onnxpb.NodeProto, what string) error {
	if err != nil {
		return err
	}
	return unsupported(n, "no %s", what)
}

// dense adds a dense layer of weight w [out, in] and bias b.
func (im *importer) dense(n *onnxpb.NodeProto, cur *[]int, in, out int, w, b []float32) error {
	if known(*cur) && tensor.Size(*cur) != in {
		return unsupported(n, "weights for %d inputs on [N %s]", in, shapeText(*cur))
	}
	return im.add(n, cur, "dense:"+strconv.Itoa(out), map[string][]float32{"weight": w, "bias": b})
}

func (im *importer) conv(n *onnxpb.NodeProto, cur *[]int) error {
	t := n.GetOpType() == "ConvTranspose"
	w, err := im.weight(n, 1, 4, "weight")
	if err != nil || w == nil {
		return orMissing(err, n, "weight")
	}
	if g := attrI(n, "group", 1); g != 1 {
		return unsupported(n, "group=%d; bottleneck's convolutions are dense (group 1)", g)
	}
	if w.dims[2] != w.dims[3] {
		return unsupported(n, "kernel %d×%d; bottleneck's kernels are square", w.dims[2], w.dims[3])
	}
	k := w.dims[2]
	if ks, err := square(n, "kernel_shape", k); err != nil || ks != k {
		return unsupported(n, "kernel_shape %v for weights %v", attrIs(n, "kernel_shape"), w.dims)
	}
	s, err := square(n, "strides", 1)
	if err != nil {
		return err
	}
	d, err := square(n, "dilations", 1)
	if err != nil {
		return err
	}
	p, err := pads(n)
	if err != nil {
		return err
	}
	switch ap := attrS(n, "auto_pad", "NOTSET"); {
	case ap == "NOTSET":
	case (ap == "SAME_UPPER" || ap == "SAME_LOWER") && s == 1 && k%2 == 1 && !t:
		p = d * (k - 1) / 2
	default:
		return unsupported(n, "auto_pad %s with stride %d and kernel %d", ap, s, k)
	}
	inC, outC := w.dims[1], w.dims[0]
	if t {
		inC, outC = w.dims[0], w.dims[1]
	}
	if len(*cur) != 3 || (*cur)[0] != inC {
		return unsupported(n, "weights %v for input [N %s]", w.dims, shapeText(*cur))
	}
	b, err := im.weight(n, 2, -1, "bias")
	if err != nil {
		return err
	}
	bv, ok := bias(b, outC)
	if !ok || (b != nil && b.size() != outC) {
		return unsupported(n, "bias of shape %v for %d channels", b.dims, outC)
	}
	wts := map[string][]float32{"weight": slices.Clone(w.f), "bias": bv}
	if !t {
		if p != d*(k-1)/2 {
			return unsupported(n, "padding %d with kernel %d and dilation %d; bottleneck's conv pads by dilation·(kernel−1)/2 = %d (\"same\" at stride 1)", p, k, d, d*(k-1)/2)
		}
		spec := fmt.Sprintf("conv:%d:%d", outC, k)
		if s != 1 {
			spec += ":s" + strconv.Itoa(s)
		}
		if d != 1 {
			spec += ":d" + strconv.Itoa(d)
		}
		return im.add(n, cur, spec, wts)
	}
	op := attrIs(n, "output_padding")
	outPad := 0
	if len(op) == 2 && op[0] == op[1] {
		outPad = int(op[0])
	} else if len(op) != 0 {
		return unsupported(n, "output_padding %v", op)
	}
	if len(attrIs(n, "output_shape")) > 0 {
		return unsupported(n, "output_shape; export with padding and output_padding instead")
	}
	if d != 1 || p != (k-1)/2 || outPad != s+2*p-k {
		return unsupported(n, "kernel %d, stride %d, padding %d, output padding %d, dilation %d; bottleneck's convt gives exactly stride× the input: padding (kernel−1)/2 = %d and output padding stride+2·padding−kernel = %d", k, s, p, outPad, d, (k-1)/2, s+2*((k-1)/2)-k)
	}
	return im.add(n, cur, fmt.Sprintf("convt:%d:%d:s%d", outC, k, s), wts)
}

// batchNorm adds a BatchNorm2D, or folds a BatchNorm1d into the dense
// layer before it. A variance epsilon other than bottleneck's 1e-5 is
// moved into the running variance.
func (im *importer) batchNorm(n *onnxpb.NodeProto, cur *[]int) error {
	if attrI(n, "training_mode", 0) != 0 || len(n.GetOutput()) > 1 && n.GetOutput()[1] != "" {
		return unsupported(n, "training mode; export the model in eval mode")
	}
	var p [4][]float32
	for i, what := range []string{"scale", "bias", "mean", "variance"} {
		c, err := im.weight(n, i+1, 1, what)
		if err != nil || c == nil {
			return orMissing(err, n, what)
		}
		p[i] = c.floats()
	}
	eps := float64(attrF(n, "epsilon", 1e-5))
	c := len(p[0])
	for _, v := range p {
		if len(v) != c {
			return unsupported(n, "statistics of different lengths")
		}
	}
	switch {
	case len(*cur) == 3 && (*cur)[0] == c:
		v := make([]float32, c)
		for i, x := range p[3] {
			v[i] = float32(float64(x) + eps - 1e-5)
			if v[i] < 0 {
				return unsupported(n, "variance %g with epsilon %g", x, eps)
			}
		}
		return im.add(n, cur, "bn", map[string][]float32{"weight": slices.Clone(p[0]), "bias": slices.Clone(p[1]), "running_mean": slices.Clone(p[2]), "running_var": v})
	case len(*cur) == 1 && (*cur)[0] == c && len(im.items) > 0 && im.items[len(im.items)-1].weights != nil &&
		im.after[n.GetInput()[0]] == len(im.items) && im.items[len(im.items)-1].spec == "dense:"+strconv.Itoa(c):
		// y = (Wx + b − mean)·s + beta with s = scale/√(var+eps)
		last := im.items[len(im.items)-1].weights
		in := len(last["weight"]) / c
		for o := range c {
			s := float32(float64(p[0][o]) / math.Sqrt(float64(p[3][o])+eps))
			for j := range in {
				last["weight"][o*in+j] *= s
			}
			last["bias"][o] = (last["bias"][o]-p[2][o])*s + p[1][o]
		}
		return nil
	}
	return unsupported(n, "batch normalisation of [N %s] after %s; bottleneck has BatchNorm2d, and folds BatchNorm1d into the dense layer before it", shapeText(*cur), im.lastSpec())
}

func (im *importer) lastSpec() string {
	if len(im.items) == 0 {
		return "the input"
	}
	return im.items[len(im.items)-1].spec
}

func (im *importer) reshape(n *onnxpb.NodeProto, cur *[]int) error {
	if len(n.GetInput()) < 2 {
		return unsupported(n, "no target shape")
	}
	c, err := im.fold(n.GetInput()[1], 0)
	if err != nil {
		return err
	}
	s, ok := c.ints()
	if !ok || len(s) < 2 {
		return unsupported(n, "target shape %v", s)
	}
	if s[0] != batch && s[0] != -1 && s[0] != 0 {
		return unsupported(n, "target shape %v fixes the batch size; reshape with -1 or x.shape[0] first", s)
	}
	per := slices.Clone(s[1:])
	infer := -1
	size := tensor.Size(*cur)
	for i, v := range per {
		switch {
		case v == 0 && attrI(n, "allowzero", 0) == 0 && i < len(*cur) && (*cur)[i] > 0:
			per[i] = int64((*cur)[i]) // 0 copies the input's dimension
		case v == -1 && infer < 0:
			infer = i
		case v <= 0:
			return unsupported(n, "target shape %v", s)
		}
	}
	if infer >= 0 {
		if !known(*cur) {
			return unsupported(n, "a reshape with -1 needs a fixed input size")
		}
		rest := int64(1)
		for i, v := range per {
			if i != infer {
				rest *= v
			}
		}
		if rest == 0 || int64(size)%rest != 0 {
			return unsupported(n, "target shape %v for [N %s]", s, shapeText(*cur))
		}
		per[infer] = int64(size) / rest
	}
	switch len(per) {
	case 1:
		if len(*cur) == 1 {
			return nil
		}
		return im.add(n, cur, "flatten", nil)
	case 3:
		if len(*cur) == 3 && slices.Equal(per, []int64{int64((*cur)[0]), int64((*cur)[1]), int64((*cur)[2])}) {
			return nil
		}
		return im.add(n, cur, fmt.Sprintf("reshape:%d:%d:%d", per[0], per[1], per[2]), nil)
	}
	return unsupported(n, "target shape %v; bottleneck reshapes to [N, D] or [N, C, H, W]", s)
}

func (im *importer) resize(n *onnxpb.NodeProto, cur *[]int) error {
	if len(*cur) != 3 {
		return unsupported(n, "resizing [N %s]; bottleneck upsamples images [N, C, H, W]", shapeText(*cur))
	}
	op := n.GetOpType()
	var sc []float32
	si := 2 // Resize (opset 11+): X, roi, scales, sizes
	if op == "Upsample" || len(n.GetInput()) == 2 {
		si = 1 // Upsample, and Resize-10: X, scales
	}
	if a := attr(n, "scales"); a != nil {
		sc = a.GetFloats()
	} else if len(n.GetInput()) > si && n.GetInput()[si] != "" {
		c, ok := im.consts[n.GetInput()[si]]
		if !ok {
			return unsupported(n, "scales that are not constant")
		}
		sc = c.floats()
	}
	if len(sc) == 0 && len(n.GetInput()) > 3 && n.GetInput()[3] != "" && known(*cur) {
		c, err := im.fold(n.GetInput()[3], 0)
		if err != nil {
			return err
		}
		sizes, _ := c.ints()
		if len(sizes) == 4 {
			sc = []float32{1, 1, float32(sizes[2]) / float32((*cur)[1]), float32(sizes[3]) / float32((*cur)[2])}
		}
	}
	if len(sc) != 4 || sc[0] != 1 || sc[1] != 1 || sc[2] != sc[3] || sc[2] < 1 || sc[2] != float32(math.Trunc(float64(sc[2]))) {
		return unsupported(n, "scales %v; bottleneck upsamples height and width by the same whole factor", sc)
	}
	s := strconv.Itoa(int(sc[2]))
	mode := attrS(n, "mode", "nearest")
	ctm := attrS(n, "coordinate_transformation_mode", "half_pixel")
	if si == 1 {
		ctm = "asymmetric" // Upsample and Resize-10 had no other
	}
	if attrI(n, "antialias", 0) != 0 {
		return unsupported(n, "antialias=1")
	}
	switch {
	case mode == "nearest" && (ctm == "half_pixel" || ctm == "pytorch_half_pixel"):
	case mode == "nearest" && ctm == "asymmetric" && (op == "Upsample" || attrS(n, "nearest_mode", "round_prefer_floor") == "floor"):
	case mode == "linear" && (ctm == "half_pixel" || ctm == "pytorch_half_pixel"):
		return im.add(n, cur, "upsample:"+s+":bilinear", nil)
	default:
		return unsupported(n, "mode %s with coordinate_transformation_mode %s (nearest_mode %s); bottleneck upsamples as PyTorch's nn.Upsample: nearest, or bilinear with align_corners=False", mode, ctm, attrS(n, "nearest_mode", "round_prefer_floor"))
	}
	return im.add(n, cur, "upsample:"+s, nil)
}

// slice reads a VAE's mean: the first half of a flat [2K] tensor, the
// split between encoder and decoder.
func (im *importer) slice(n *onnxpb.NodeProto, cur *[]int) error {
	get := func(i int) []int64 {
		if i >= len(n.GetInput()) || n.GetInput()[i] == "" {
			return nil
		}
		c, err := im.fold(n.GetInput()[i], 0)
		if err != nil {
			return []int64{unknown}
		}
		v, _ := c.ints()
		return v
	}
	starts, ends, axes, steps := get(1), get(2), get(3), get(4)
	if len(n.GetInput()) == 1 { // Slice-1: attributes
		starts, ends, axes = attrIs(n, "starts"), attrIs(n, "ends"), attrIs(n, "axes")
	}
	if len(*cur) != 1 || (*cur)[0]%2 != 0 || im.vaeAt >= 0 || len(starts) != 1 || len(ends) != 1 ||
		starts[0] != 0 || ends[0] != int64((*cur)[0]/2) || (axes != nil && !slices.Equal(axes, []int64{1}) && !slices.Equal(axes, []int64{-1})) ||
		(steps != nil && !slices.Equal(steps, []int64{1})) {
		return unsupported(n, "a slice that is not the first half of a flat [N, 2K] tensor (a VAE's mean)")
	}
	im.vaeAt = len(im.items)
	(*cur)[0] /= 2
	return nil
}

// abMean reads a colorizer's decoding as bottleneck exports it: an
// optional Mul by 1/T, a Softmax over the channels, and a 1×1 Conv whose
// weights are the a,b class centres (nn.ABMean). It returns the nodes it
// used after the first.
func (im *importer) abMean(i int, cur *[]int) (int, error) {
	n := im.chain[i]
	t, used := 1.0, 0
	if n.GetOpType() == "Mul" {
		s, ok := float32(0), false
		if in := n.GetInput(); len(in) == 2 {
			s, ok = im.scalar(in[1])
		}
		if !ok || !(s > 0) || i+1 >= len(im.chain) || im.chain[i+1].GetOpType() != "Softmax" {
			return 0, notALayer(n)
		}
		t, used = 1/float64(s), 1
	}
	sm := im.chain[i+used]
	if attrI(sm, "axis", -1) != 1 || len(*cur) != 3 || i+used+1 >= len(im.chain) || im.chain[i+used+1].GetOpType() != "Conv" {
		return 0, notALayer(sm) // not a colorizer's decoding
	}
	conv := im.chain[i+used+1]
	w, err := im.weight(conv, 1, 4, "weight")
	if err != nil || w == nil {
		return 0, orMissing(err, conv, "weight")
	}
	centres := (&nn.ABMean{}).Centres()
	q := len(centres)
	if !slices.Equal(w.dims, []int{2, q, 1, 1}) || len(conv.GetInput()) > 2 {
		return 0, unsupported(conv, "weights %v after a softmax; a colorizer's decoding has [2 %d 1 1] (its a,b class centres) and no bias", w.dims, q)
	}
	for k, c := range centres {
		if math.Abs(float64(w.f[k]-c[0])) > 1e-6 || math.Abs(float64(w.f[q+k]-c[1])) > 1e-6 {
			return 0, unsupported(conv, "weights that are not bottleneck's a,b class centres (class %d)", k)
		}
	}
	return used + 1, im.add(sm, cur, "abmean:"+strconv.FormatFloat(t, 'g', 6, 64), nil)
}
