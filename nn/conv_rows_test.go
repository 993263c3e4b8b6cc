package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/bottleneck-ml/bottleneck/internal/parallel"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// q8Ref is the int8 scheme written out from its definition (see f32.GemmQ8)
// for one row of activations x and one column of weights w: both quantised
// by max |·|/127 with round-to-nearest-even, the exact integer dot product,
// then float32(Σ)·sw·sx, each product rounded to float32 in that order.
type q8Ref struct{}

func (q8Ref) quant(v []float32) (q []int32, scale float32) {
	var amax float32
	for _, x := range v {
		amax = max(amax, float32(math.Abs(float64(x))))
	}
	q = make([]int32, len(v))
	if amax == 0 || math.IsInf(float64(amax), 0) {
		return q, 0
	}
	inv := 127 / amax
	for i, x := range v {
		f := float64(x * inv)
		r := int32(math.MinInt32)
		if f == f && f > -2147483648.5 && f < 2147483647.5 {
			r = int32(math.RoundToEven(f))
		}
		q[i] = min(127, max(-127, r))
	}
	return q, amax / 127
}

func (q8Ref) dot(xq []int32, sx float32, wq []int32, sw float32) float32 {
	var acc int32
	for i := range xq {
		acc += xq[i] * wq[i]
	}
	v := float32(acc)
	v = v * sw
	return v * sx
}

// conv2DQ8Ref is Conv2D's int8 forward from the definition: each output
// pixel's patch, ordered (ki, kj, c), quantised as a row; each output
// channel's weights in the same order quantised as a column.
func conv2DQ8Ref(l *Conv2D, x []float32, n int) []float32 {
	g := &l.g
	r, o, np := g.rows(), l.OutC, g.cols()
	var q q8Ref
	wq := make([][]int32, o)
	sw := make([]float32, o)
	for oc := 0; oc < o; oc++ {
		col := make([]float32, r)
		for ki := 0; ki < g.K; ki++ {
			for kj := 0; kj < g.K; kj++ {
				for c := 0; c < g.C; c++ {
					col[(ki*g.K+kj)*g.C+c] = l.Weight.W[((oc*g.C+c)*g.K+ki)*g.K+kj]
				}
			}
		}
		wq[oc], sw[oc] = q.quant(col)
	}
	y := make([]float32, n*o*np)
	row := make([]float32, r)
	for s := 0; s < n; s++ {
		for p := 0; p < np; p++ {
			oh, ow := p/g.OW, p%g.OW
			for ki := 0; ki < g.K; ki++ {
				for kj := 0; kj < g.K; kj++ {
					for c := 0; c < g.C; c++ {
						ih, iw := oh*g.S-g.P+ki*g.D, ow*g.S-g.P+kj*g.D
						v := float32(0)
						if ih >= 0 && ih < g.H && iw >= 0 && iw < g.W {
							v = x[((s*g.C+c)*g.H+ih)*g.W+iw]
						}
						row[(ki*g.K+kj)*g.C+c] = v
					}
				}
			}
			xq, sx := q.quant(row)
			for oc := 0; oc < o; oc++ {
				v := q.dot(xq, sx, wq[oc], sw[oc]) + l.Bias.W[oc]
				if l.relu {
					v = max(v, 0)
				}
				y[(s*o+oc)*np+p] = v
			}
		}
	}
	return y
}

// convT2DQ8Ref is ConvTranspose2D's int8 forward from the definition: each
// input pixel's channels quantised as a row, each (tap, output channel)'s
// weights as a column; the products added to the bias in input pixel,
// then tap order.
func convT2DQ8Ref(l *ConvTranspose2D, x []float32, n int) []float32 {
	g := &l.g
	ci, o, k, np, ohw := l.InC, l.OutC, l.K, g.cols(), g.H*g.W
	var q q8Ref
	wq := make([][]int32, k*k*o)
	sw := make([]float32, k*k*o)
	for t := 0; t < k*k; t++ {
		for oc := 0; oc < o; oc++ {
			col := make([]float32, ci)
			for c := range col {
				col[c] = l.Weight.W[(c*o+oc)*k*k+t]
			}
			wq[t*o+oc], sw[t*o+oc] = q.quant(col)
		}
	}
	y := make([]float32, n*o*ohw)
	row := make([]float32, ci)
	for s := 0; s < n; s++ {
		ys := y[s*o*ohw : (s+1)*o*ohw]
		for oc := 0; oc < o; oc++ {
			for i := 0; i < ohw; i++ {
				ys[oc*ohw+i] = l.Bias.W[oc]
			}
		}
		for p := 0; p < np; p++ {
			for c := range row {
				row[c] = x[(s*ci+c)*np+p]
			}
			xq, sx := q.quant(row)
			ih, iw := p/g.OW, p%g.OW
			for ki := 0; ki < k; ki++ {
				for kj := 0; kj < k; kj++ {
					oh, ow := ih*g.S-g.P+ki, iw*g.S-g.P+kj
					if oh < 0 || oh >= g.H || ow < 0 || ow >= g.W {
						continue
					}
					for oc := 0; oc < o; oc++ {
						t := ki*k + kj
						ys[oc*ohw+oh*g.W+ow] += q.dot(xq, sx, wq[t*o+oc], sw[t*o+oc])
					}
				}
			}
		}
		if l.relu {
			for i, v := range ys {
				ys[i] = max(v, 0)
			}
		}
	}
	return y
}

// convRowsCases are the geometries the row path is tested on: strides,
// dilation, wide padding, pointwise, blocks of rows
// across and within samples.
var convRowsCases = []struct {
	name  string
	in    []int
	layer func() Layer
	relu  bool
}{
	{"conv-mnist conv2", []int{32, 14, 14}, func() Layer { return NewConv2D(32, 64, 3, 2, 1, 1) }, true},
	{"k3 s1 p1 20×17 (blocks across samples)", []int{16, 20, 17}, func() Layer { return NewConv2D(16, 32, 3, 1, 1, 1) }, false},
	{"k3 d2 p1", []int{16, 9, 11}, func() Layer { return NewConv2D(16, 32, 3, 1, 1, 2) }, true},
	{"k5 s3 p3", []int{8, 12, 13}, func() Layer { return NewConv2D(8, 32, 5, 3, 3, 1) }, false},
	{"pointwise", []int{64, 9, 13}, func() Layer { return NewConv2D(64, 96, 1, 1, 0, 1) }, true},
	{"conv-mnist convT1", []int{64, 7, 7}, func() Layer { return NewConvTranspose2D(64, 32, 3, 2, 1, 1) }, true},
	{"convT k4 s2 p1", []int{64, 5, 6}, func() Layer { return NewConvTranspose2D(64, 16, 4, 2, 1, 0) }, false},
	{"convT k3 s1 p1 (blocks within a sample)", []int{96, 12, 11}, func() Layer { return NewConvTranspose2D(96, 16, 3, 1, 1, 0) }, true},
	{"k3 s1 p1 24×20 (a group per sample)", []int{16, 24, 20}, func() Layer { return NewConv2D(16, 32, 3, 1, 1, 1) }, true},
}

// TestConvQ8 checks the int8 forward passes of Conv2D and ConvTranspose2D
// bit for bit against their definitions (conv2DQ8Ref, convT2DQ8Ref) on 1
// and 2 threads. forceInt8 makes them run on every build: GemmQ8's Go twin
// without AVX512_VNNI or with -tags noasm, its assembly otherwise, so the
// two paths meet the same reference. It also checks that the result is
// near the float32 pass, and that training drops the int8 weights.
func TestConvQ8(t *testing.T) {
	defer swap(&forceInt8, swap(&forceInt8, true))
	defer parallel.SetThreads(parallel.SetThreads(1))
	for _, c := range convRowsCases {
		t.Run(c.name, func(t *testing.T) {
			l := c.layer()
			net, err := NewNet(c.in, l)
			if err != nil {
				t.Fatal(err)
			}
			ps := NewParamSet(net.Params())
			rng := rand.New(rand.NewPCG(5, 6))
			net.Init(rng)
			for i := range ps.W {
				ps.W[i] *= float32(0.5 + rng.Float64())
			}
			switch l := l.(type) {
			case *Conv2D:
				l.relu = c.relu
			case *ConvTranspose2D:
				l.relu = c.relu
			}
			const n = 3
			x := tensor.New(append([]int{n}, c.in...)...)
			for i := range x.Data {
				x.Data[i] = float32(rng.NormFloat64())
			}
			x.Data[7] = 0 // a zero pixel row somewhere, and an all-zero sample below
			clear(x.Data[2*len(x.Data)/3 : 2*len(x.Data)/3+x.Cols()/2])
			fp := append([]float32(nil), net.Forward(x, false).Data...)
			if err := net.PrepareInference(INT8); err != nil {
				t.Fatal(err)
			}
			var want []float32
			switch l := l.(type) {
			case *Conv2D:
				if !l.rows.ok || !l.rows.int8 {
					t.Fatal("Conv2D not prepared for int8")
				}
				want = conv2DQ8Ref(l, x.Data, n)
			case *ConvTranspose2D:
				if !l.rows.ok || !l.rows.int8 {
					t.Fatal("ConvTranspose2D not prepared for int8")
				}
				want = convT2DQ8Ref(l, x.Data, n)
			}
			for _, threads := range []int{1, 2} {
				parallel.SetThreads(threads)
				got := net.Forward(x, false).Data
				if i := firstDiff(got, want); i >= 0 {
					t.Fatalf("%d threads: y[%d] = %v; want %v", threads, i, got[i], want[i])
				}
			}
			var maxDiff, maxAbs float64
			for i, v := range fp {
				maxDiff = max(maxDiff, math.Abs(float64(want[i]-v)))
				maxAbs = max(maxAbs, math.Abs(float64(v)))
			}
			if maxDiff > 0.03*maxAbs {
				t.Errorf("int8 differs from float32 by up to %v (outputs up to %v)", maxDiff, maxAbs)
			}
			net.Forward(x, true)
			got := net.Forward(x, false).Data
			if i := firstDiff(got, fp); i >= 0 {
				t.Fatalf("after a training Forward: y[%d] = %v; want the float32 %v", i, got[i], fp[i])
			}
		})
	}
}

// TestConvRowsFP32 checks the float32 row path against im2col's on every
// geometry of convRowsCases: a training and an inference Forward near
// im2col's output (the sums differ only in order), the same bits on 1 and
// 2 threads, prepared or not, and prepared weights kept until a training
// Forward drops them.
func TestConvRowsFP32(t *testing.T) {
	defer parallel.SetThreads(parallel.SetThreads(1))
	for _, c := range convRowsCases {
		t.Run(c.name, func(t *testing.T) {
			build := func(rows bool) (*Net, *ParamSet) {
				defer swap(&convRowsEvery, swap(&convRowsEvery, rows))
				defer swap(&convRowsFP32, swap(&convRowsFP32, rows))
				l := c.layer()
				net, err := NewNet(c.in, l)
				if err != nil {
					t.Fatal(err)
				}
				ps := NewParamSet(net.Params())
				net.Init(rand.New(rand.NewPCG(5, 6)))
				switch l := l.(type) {
				case *Conv2D:
					l.relu = c.relu
					if l.rowsFP32 != rows {
						t.Fatalf("Conv2D row path %v; want %v", l.rowsFP32, rows)
					}
				case *ConvTranspose2D:
					l.relu = c.relu
					if l.rowsFP32 != rows {
						t.Fatalf("ConvTranspose2D row path %v; want %v", l.rowsFP32, rows)
					}
				}
				return net, ps
			}
			ref, _ := build(false)
			net, ps := build(true)
			const n = 5
			rng := rand.New(rand.NewPCG(7, 8))
			x := tensor.New(append([]int{n}, c.in...)...)
			for i := range x.Data {
				x.Data[i] = float32(rng.NormFloat64())
			}
			want := slices.Clone(ref.Forward(x, true).Data)
			var maxAbs float64
			for _, v := range want {
				maxAbs = max(maxAbs, math.Abs(float64(v)))
			}
			var first []float32
			for _, threads := range []int{1, 2} {
				parallel.SetThreads(threads)
				got := net.Forward(x, true).Data
				for i, v := range got {
					if d := math.Abs(float64(v - want[i])); d > 1e-5*maxAbs {
						t.Fatalf("%d threads: y[%d] = %v; im2col gives %v", threads, i, v, want[i])
					}
				}
				if first == nil {
					first = slices.Clone(got)
				} else if i := firstDiff(got, first); i >= 0 {
					t.Fatalf("2 threads: y[%d] = %v; 1 thread gives %v", i, got[i], first[i])
				}
				if i := firstDiff(net.Forward(x, false).Data, first); i >= 0 {
					t.Fatalf("%d threads, inference: y[%d] differs from the training Forward", threads, i)
				}
			}
			if err := net.PrepareInference(FP32); err != nil {
				t.Fatal(err)
			}
			// Prepared is the weights (the bias is read at every pass).
			for i := range ps.Params[0].W {
				ps.Params[0].W[i] *= 2
			}
			if i := firstDiff(net.Forward(x, false).Data, first); i >= 0 {
				t.Fatalf("prepared: y[%d] differs from the weights prepared", i)
			}
			doubled := slices.Clone(net.Forward(x, true).Data)
			if firstDiff(doubled, first) < 0 {
				t.Fatal("a training Forward used the prepared weights, not the current ones")
			}
			if i := firstDiff(net.Forward(x, false).Data, doubled); i >= 0 {
				t.Fatalf("after a training Forward, inference y[%d] differs from it", i)
			}
		})
	}
}

// TestConvQ8Pays: the layers of the benchmark and shipped models that the
// int8 path takes (BenchmarkConvInfer).
func TestConvQ8Pays(t *testing.T) {
	for _, c := range []struct {
		name string
		k, n int
		want bool
	}{
		{"conv-mnist conv1 1→32 k3", 9, 32, false},
		{"conv-mnist conv2 32→64 k3", 288, 64, true},
		{"conv-mnist convT1 64→32 k3", 64, 288, true},
		{"conv-mnist convT2 32→1 k3", 32, 9, false},
		{"denoise/upscale 64→64 k3", 576, 64, true},
		{"denoise/upscale 64→4 k3", 576, 4, false},
	} {
		if got := convQ8Pays(c.k, c.n); got != c.want {
			t.Errorf("convQ8Pays(%s: %d, %d) = %v; want %v", c.name, c.k, c.n, got, c.want)
		}
	}
}

func ExampleConv2D_PrepareInference() {
	l := NewConv2D(32, 64, 3, 1, 1, 1)
	net, _ := NewNet([]int{32, 16, 16}, l)
	NewParamSet(net.Params())
	net.Init(rand.New(rand.NewPCG(1, 2)))
	// INT8 where the CPU has AVX512_VNNI; FP32 elsewhere, prepared alike.
	if err := net.PrepareInference(INT8); err != nil {
		fmt.Println(err)
	}
	y := net.Forward(tensor.New(2, 32, 16, 16), false)
	fmt.Println(y.Shape)
	// Output: [2 64 16 16]
}

// TestConvEmptyBatch: a batch of no samples passes forward and backward
// through every convolution algorithm and precision, leaving the
// gradients as they were (planConv divided by zero on it).
func TestConvEmptyBatch(t *testing.T) {
	defer swap(&forceInt8, swap(&forceInt8, true))
	cases := []struct {
		in    []int
		layer Layer
	}{
		{[]int{16, 9, 9}, NewConv2D(16, 32, 3, 1, 1, 1)},          // row path
		{[]int{1, 9, 9}, NewConv2D(1, 4, 3, 2, 1, 1)},             // im2col
		{[]int{8, 9, 9}, NewConv2D(8, 2, 3, 1, 1, 1)},             // taps
		{[]int{8, 9, 9}, NewConv2D(8, 4, 1, 1, 0, 1)},             // pointwise
		{[]int{32, 5, 5}, NewConvTranspose2D(32, 16, 3, 2, 1, 1)}, // row path
		{[]int{4, 5, 5}, NewConvTranspose2D(4, 1, 3, 2, 1, 1)},    // im2col
	}
	for _, c := range cases {
		for _, p := range []Precision{FP32, INT8} {
			net, err := NewNet(c.in, c.layer)
			if err != nil {
				t.Fatal(err)
			}
			net.NeedInputGrad()
			ps := NewParamSet(net.Params())
			net.Init(rand.New(rand.NewPCG(1, 2)))
			x := tensor.New(append([]int{0}, c.in...)...)
			y := net.Forward(x, true)
			if y.Rows() != 0 {
				t.Fatalf("%T: %d output rows from an empty batch", c.layer, y.Rows())
			}
			if dx := net.Backward(tensor.New(y.Shape...)); dx == nil || dx.Rows() != 0 {
				t.Fatalf("%T: input gradient %v for an empty batch", c.layer, dx)
			}
			for i, g := range ps.G {
				if g != 0 {
					t.Fatalf("%T: gradient %d = %v from an empty batch", c.layer, i, g)
				}
			}
			if err := net.PrepareInference(p); err != nil {
				t.Fatal(err)
			}
			if y := net.Forward(x, false); y.Rows() != 0 {
				t.Fatalf("%T %v: %d inference rows from an empty batch", c.layer, p, y.Rows())
			}
		}
	}
}
