package nn

import (
	"fmt"
	"strings"

	"github.com/bottleneck-ml/bottleneck/internal/f32"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Precision is the arithmetic a network's inference runs in.
type Precision uint8

// Precisions of PrepareInference.
const (
	// FP32 is float32 throughout, the bits of training's forward pass.
	FP32 Precision = iota
	// INT8 multiplies int8 weights (one scale per output channel) by int8
	// activations (one scale per row, quantised as each product starts)
	// with exact int32 sums, scaled back to float32 (f32.GemmQ8), on CPUs
	// with AVX512_VNNI; elsewhere FP32 runs instead (Int8Available).
	// Dense layers and convolutions (conv_rows.go) too small for int8 to pay,
	// the layers without an int8 kernel, and the activations between
	// layers stay float32.
	INT8
)

// Precisions lists the names ParsePrecision accepts.
var Precisions = []string{"fp32", "int8"}

func (p Precision) String() string {
	switch p {
	case FP32:
		return "fp32"
	case INT8:
		return "int8"
	}
	return fmt.Sprintf("Precision(%d)", uint8(p))
}

// ParsePrecision returns the precision called s (fp32, int8; case does not
// matter).
func ParsePrecision(s string) (Precision, error) {
	switch strings.ToLower(s) {
	case "fp32", "float32", "f32", "":
		return FP32, nil
	case "int8", "i8":
		return INT8, nil
	case "bf16", "bfloat16":
		return FP32, fmt.Errorf("precision %q is not offered: on the CPUs measured, AVX512_BF16's VDPBF16PS issues at a quarter of the float32 FMA's rate, half the multiply-adds per second, so bf16 inference would be slower than fp32; use int8 (AVX512_VNNI)", s)
	}
	return FP32, fmt.Errorf("unknown precision %q (want one of %s)", s, strings.Join(Precisions, ", "))
}

// Int8Available reports whether INT8 runs on an int8 kernel on this
// machine and build (AVX512_VNNI, not -tags noasm); where it does not,
// PrepareInference(INT8) prepares FP32.
func Int8Available() bool { return f32.HasInt8() }

// Inferer is a layer whose weights can be prepared for inference once,
// ahead of the batches (packed for the GEMM, converted to another
// precision). Forward with train = false then uses the prepared weights
// until a training Forward or a Backward drops them; a caller that writes
// to the weights otherwise must prepare again.
type Inferer interface {
	PrepareInference(p Precision) error
}

// PrepareInference prepares every layer that can (see Inferer) for
// inference at precision p (INT8 without an int8 kernel: FP32).
func (n *Net) PrepareInference(p Precision) error {
	for i, l := range n.Layers {
		if f, ok := l.(Inferer); ok {
			if err := f.PrepareInference(p); err != nil {
				return fmt.Errorf("nn: layer %d (%T): %w", i, l, err)
			}
		}
	}
	return nil
}

// inference holds a layer's weights prepared for inference.
type inference struct {
	ok   bool
	p    Precision
	fp32 f32.PackedB
	int8 f32.QuantB
}

func (f *inference) ready() bool { return f.ok }
func (f *inference) drop()       { f.ok = false }

// prepare packs (FP32) or quantises (INT8) w, the layer's weights as the
// GEMM's B: op(B) is in×out, B is w [out, in] when trans (a Dense weight)
// and w [in, out] otherwise.
func (f *inference) prepare(p Precision, trans bool, w []float32, out, in int) error {
	ld := out
	if trans {
		ld = in
	}
	switch p {
	case FP32:
		f.fp32.Pack(trans, in, out, w, ld)
	case INT8:
		if !int8Kernel() || !int8Pays(in, out) {
			p = FP32
			f.fp32.Pack(trans, in, out, w, ld)
			break
		}
		f.int8.Quantize(trans, in, out, w, ld)
	default:
		return fmt.Errorf("precision %v is not supported", p)
	}
	f.p, f.ok = p, true
	return nil
}

// int8Pays reports whether a product with in inputs and out outputs per
// row runs faster in int8 than in float32 on packed weights: from 64
// inputs and 4096 weights (BenchmarkGemmQ8, 256 rows, one core: 122→64
// 1.2×, 64→122 2.0×, 784→512 3.5×, 512→256 3.9× faster; 64→32 even, 32→64
// 0.8×, 8→32 0.1×, where quantising the rows costs more than the product).
// Smaller layers stay float32 under INT8, and lose no accuracy.
func int8Pays(in, out int) bool { return in < 1<<16 && (int8Every || in >= 64 && in*out >= 4096) }

// gemm computes y [n, out] = x [n, in]·op(B) + bias, then act, with the
// prepared weights.
func (f *inference) gemm(n int, x []float32, ldx int, bias []float32, act f32.Act, y []float32, ldy int) {
	if f.p == INT8 {
		f32.GemmQ8(n, x, ldx, &f.int8, bias, act, y, ldy)
		return
	}
	f32.GemmPacked(false, n, x, ldx, &f.fp32, bias, act, y, ldy)
}

// actFuser is a layer that can apply the activation after it in its own
// output pass (Dense: in the GEMM's).
type actFuser interface {
	forwardAct(x *tensor.Tensor, train bool, act f32.Act) *tensor.Tensor
}

// actAdopter is an activation that a layer before it can apply: fusable
// says what it computes and whether it can be fused, adopt takes the fused
// output y as its own output for this pass (its Backward needs only its
// output; Identity's needs nothing).
type actAdopter interface {
	fusable() (f32.Act, bool)
	adopt(y *tensor.Tensor)
	// backwardRows is Backward on a block of rows: dx from dy and the
	// layer's output y, as its Backward computes them.
	backwardRows(dx, dy, y []float32)
	// output is the layer's output (its own or the one it adopted).
	output() *tensor.Tensor
	// dxBuffer is the input-gradient buffer Backward writes, sized for rows.
	dxBuffer(rows int) *tensor.Tensor
}

// ForwardLayers runs layers [from, to) on x and returns the output of the
// last one (its buffer); Forward is ForwardLayers over all layers. A Dense
// layer followed by a ReLU or Sigmoid within the range applies it in its
// GEMM's output pass, and the activation layer takes that output as its
// own: the same bits as running the two, without a pass over the
// activations.
func (n *Net) ForwardLayers(x *tensor.Tensor, from, to int, train bool) *tensor.Tensor {
	ls := n.Layers[from:to]
	for i := 0; i < len(ls); i++ {
		if j := mlpRun(ls[i:]); j > 0 && mlpWorth(ls[i:i+j], x, train) {
			x = forwardMLP(ls[i:i+j], x, train)
			i += j - 1
			continue
		}
		if f, ok := ls[i].(actFuser); ok && i+1 < len(ls) {
			if a, ok := ls[i+1].(actAdopter); ok {
				if act, ok := a.fusable(); ok {
					x = f.forwardAct(x, train, act)
					a.adopt(x)
					i++
					continue
				}
			}
		}
		x = ls[i].Forward(x, train)
	}
	return x
}
