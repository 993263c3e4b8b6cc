package onnx

import (
	"cmp"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/onnx/onnxpb"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

func readNPY(t *testing.T, name string) *tensor.Tensor {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, shape, err := dataset.ReadNPY(f)
	if err != nil {
		t.Fatal(err)
	}
	return tensor.From(data, shape...)
}

func maxAbs(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var m float64
	for i := range a {
		m = max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m
}

// TestImportTorch imports the autoencoders torch.onnx.export wrote
// (testdata/make_torch_fixtures.py) and compares reconstruct and encode
// with PyTorch's outputs: 1e-5 for the dense one, 1e-4 for the
// convolutional ones.
func TestImportTorch(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tol   float64
		specs string // the layers the import must find
	}{
		{"dense", 1e-5, "dense:16,tanh,dense:4 | dense:16,leakyrelu,dense:20,sigmoid"},
		{"conv", 1e-4, "conv:8:3:s2,relu,conv:16:3:s2,relu,maxpool:2,flatten,dense:10 | dense:64,relu,reshape:16:2:2,upsample:2,convt:8:3:s2,relu,upsample:2:bilinear,conv:1:3,sigmoid"},
		{"fconv", 1e-4, "conv:8:3,leakyrelu,avgpool:2,conv:8:3,tanh | upsample:2,conv:1:3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mp, err := Load(filepath.Join("testdata", "torch_"+tc.name+".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			m, err := Import(mp, ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(m.Config.Encoder, ",") + " | " + strings.Join(m.Config.Decoder, ","); got != tc.specs {
				t.Errorf("layers %s;\nwant   %s", got, tc.specs)
			}
			x := readNPY(t, "torch_"+tc.name+"_x.npy")
			rec, err := m.Reconstruct(nil, x)
			if err != nil {
				t.Fatal(err)
			}
			code, err := m.Encode(nil, x)
			if err != nil {
				t.Fatal(err)
			}
			dr := maxAbs(rec.Data, readNPY(t, "torch_"+tc.name+"_recon.npy").Data)
			dc := maxAbs(code.Data, readNPY(t, "torch_"+tc.name+"_code.npy").Data)
			t.Logf("%s: reconstruct max |Δ| %.2g, encode max |Δ| %.2g against PyTorch (%s)", tc.name, dr, dc, m.Config.Summary())
			if dr > tc.tol || dc > tc.tol {
				t.Errorf("import of torch_%s.onnx differs from PyTorch: reconstruct %g, encode %g > %g", tc.name, dr, dc, tc.tol)
			}
		})
	}
}

// TestRoundTrip exports every shipped model, the synthetic models and the
// NSL-KDD detector, imports them back and checks that reconstruct, encode
// and score give the same values as before, and that the config,
// preprocessing and detector come back.
func TestRoundTrip(t *testing.T) {
	cases := append(shippedCases(t), syntheticCases(t)...)
	if !testing.Short() {
		if kdd := kddOrNil(t); kdd != nil {
			cases = append(cases, kdd)
		}
	}
	for _, c := range cases {
		mp, err := Export(c.d, ExportOptions{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		b, err := Marshal(mp)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Import(back, ImportOptions{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		d, err := anomaly.New(m)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		orig := c.d.Model()
		if !sameConfig(orig.Config, m.Config) {
			t.Errorf("%s: config %+v came back as %+v", c.name, orig.Config, m.Config)
		}
		if maxAbs(orig.Params.W, m.Params.W) != 0 {
			t.Errorf("%s: the weights changed in the round trip", c.name)
		}
		if d.Version() != c.d.Version() {
			t.Errorf("%s: version %s came back as %s", c.name, c.d.Version(), d.Version())
		}
		for _, x := range c.model {
			a, _ := orig.Clone().Reconstruct(nil, x)
			bb, err := m.Reconstruct(nil, x)
			if err != nil {
				t.Fatal(err)
			}
			if dd := maxAbs(a.Data, bb.Data); dd != 0 {
				t.Errorf("%s: reconstruct differs by %g after the round trip", c.name, dd)
			}
			if c.d.Threshold() != nil && c.d.Window() == 1 {
				s0, _ := c.d.Score(x)
				s1, err := d.Score(x)
				if err != nil {
					t.Fatal(err)
				}
				for i := range s0 {
					if s0[i].Score != s1[i].Score || s0[i].Anomaly != s1[i].Anomaly {
						t.Fatalf("%s row %d: score %v came back as %v", c.name, i, s0[i], s1[i])
					}
				}
			}
		}
	}
}

func sameConfig(a, b ae.Config) bool {
	return strings.Join(a.Encoder, ",") == strings.Join(b.Encoder, ",") && strings.Join(a.Decoder, ",") == strings.Join(b.Decoder, ",") &&
		a.Variational == b.Variational && a.Residual == b.Residual && a.Loss == b.Loss && a.Task == b.Task
}

// TestImportGraphs imports small hand-built graphs: operator variants
// torch does not write for the fixtures, and graphs that must be refused
// with the operator's name and node.
func TestImportGraphs(t *testing.T) {
	w := func(b *builder, name string, n int, dims ...int) string {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(i%7)/7 - 0.4
		}
		return b.floats(name, v, dims...)
	}
	graph := func(in []dim, opset int, build func(b *builder) string) *onnxpb.ModelProto {
		b := newBuilder("test")
		b.g.Input = append(b.g.Input, valueInfo("input", onnxpb.TensorProto_FLOAT, in))
		out := build(b)
		b.g.Output = append(b.g.Output, valueInfo(out, onnxpb.TensorProto_FLOAT, nil))
		return model(b, opset, nil, "")
	}
	dir := t.TempDir()
	var accepted []ortRun
	var models []*ae.Model
	flat := []dim{{param: "N"}, {v: 6}}
	img := []dim{{param: "N"}, {v: 2}, {param: "H"}, {param: "W"}}
	for _, tc := range []struct {
		name  string
		in    []dim
		build func(b *builder) string
		want  string // specs, or the error's text
		code  string
		opset int
	}{
		{"matmul+add, identity, dropout, batchnorm1d folded", flat, func(b *builder) string {
			h := b.node("MatMul", "", []string{"input", w(b, "w1", 18, 6, 3)})
			h = b.node("Add", "", []string{h, w(b, "b1", 3, 3)})
			h = b.node("BatchNormalization", "", []string{h, w(b, "s", 3, 3), w(b, "bb", 3, 3), w(b, "mu", 3, 3), b.floats("var", []float32{1, 2, 3}, 3)})
			h = b.node("Identity", "", []string{h})
			h = b.node("Dropout", "", []string{h})
			h = b.node("Gemm", "", []string{h, w(b, "w2", 18, 3, 6), w(b, "b2", 6, 6)})
			return b.node("Sigmoid", "", []string{h})
		}, "dense:3 | dense:6,sigmoid", "", 0},
		{"gemm without transB, --code", flat, func(b *builder) string {
			h := b.node("Gemm", "", []string{"input", w(b, "w1", 24, 6, 4)})
			h = b.node("Relu", "enc", []string{h})
			h = b.node("Gemm", "", []string{h, w(b, "w2", 8, 4, 2)})
			h = b.node("Gemm", "", []string{h, w(b, "w3", 12, 2, 6)})
			return h
		}, "dense:4,relu | dense:2,dense:6", "enc", 0},
		{"bn with epsilon 1e-3, depth-to-space, resize (half_pixel)", img, func(b *builder) string {
			h := b.node("Conv", "", []string{"input", w(b, "c", 8*2*9, 8, 2, 3, 3)}, attrInts("pads", 1, 1, 1, 1))
			h = b.node("BatchNormalization", "", []string{h, w(b, "s", 8, 8), w(b, "bb", 8, 8), w(b, "mu", 8, 8), b.floats("var", []float32{1, 2, 3, 1, 2, 3, 1, 2}, 8)}, attrFloat("epsilon", 1e-3))
			h = b.node("MaxPool", "", []string{h}, attrInts("kernel_shape", 2, 2), attrInts("strides", 2, 2))
			h = b.node("MaxPool", "", []string{h}, attrInts("kernel_shape", 2, 2), attrInts("strides", 2, 2))
			h = b.node("DepthToSpace", "", []string{h}, attrInt("blocksize", 2), attrString("mode", "CRD"))
			h = b.node("Resize", "", []string{h, "", b.floats("", []float32{1, 1, 2, 2}, 4)}, attrString("mode", "nearest"))
			return b.node("Conv", "", []string{h, w(b, "c2", 2*2*9, 2, 2, 3, 3)}, attrInts("pads", 1, 1, 1, 1))
		}, "conv:8:3,bn,maxpool:2,maxpool:2,shuffle:2 | upsample:2,conv:2:3", "", 0},
		{"opset 9: upsample op, unshuffle by space-to-depth", img, func(b *builder) string {
			h := b.node("SpaceToDepth", "", []string{"input"}, attrInt("blocksize", 2))
			h = b.node("Gather", "", []string{h, b.ints("", unshufflePerm(2, 2), 8)}, attrInt("axis", 1))
			h = b.node("Conv", "", []string{h, w(b, "c", 3*8*9, 3, 8, 3, 3)}, attrInts("pads", 1, 1, 1, 1))
			h = b.node("Relu", "", []string{h})
			h = b.node("Upsample", "", []string{h, b.floats("", []float32{1, 1, 2, 2}, 4)}, attrString("mode", "nearest"))
			return b.node("Conv", "", []string{h, w(b, "c2", 2*3*9, 2, 3, 3, 3)}, attrInts("pads", 1, 1, 1, 1))
		}, "unshuffle:2,conv:3:3,relu | upsample:2,conv:2:3", "", 9},
		{"opset 20: gelu, flatten of flat rows", flat, func(b *builder) string {
			h := b.node("Flatten", "", []string{"input"})
			h = b.node("Gemm", "", []string{h, w(b, "w1", 24, 4, 6), w(b, "b1", 4, 4)}, attrInt("transB", 1))
			h = b.node("Gelu", "", []string{h})
			return b.node("Gemm", "", []string{h, w(b, "w2", 24, 6, 4)}, attrInt("transB", 1))
		}, "dense:4,gelu | dense:6", "", 20},
		{"softmax refused", flat, func(b *builder) string {
			h := b.node("Gemm", "", []string{"input", w(b, "w1", 24, 4, 6)}, attrInt("transB", 1))
			return b.node("Softmax", "", []string{h})
		}, `node "Softmax_1" (Softmax): operator Softmax is not a layer bottleneck has`, "", 0},
		{"softmax over classes with other centres refused", img, func(b *builder) string {
			q := nn.ABClassCount()
			h := b.node("Conv", "", []string{"input", w(b, "c", q*2, q, 2, 1, 1)}, attrInts("kernel_shape", 1, 1))
			h = b.node("Softmax", "", []string{h}, attrInt("axis", 1))
			return b.node("Conv", "", []string{h, w(b, "centres", 2*q, 2, q, 1, 1)}, attrInts("kernel_shape", 1, 1))
		}, `node "Conv_2" (Conv): weights that are not bottleneck's a,b class centres`, "", 0},
		{"skip connection refused", flat, func(b *builder) string {
			h := b.node("Gemm", "", []string{"input", w(b, "w1", 36, 6, 6)}, attrInt("transB", 1))
			h2 := b.node("Relu", "", []string{h})
			return b.node("Add", "", []string{h2, h})
		}, `node "Add_2" (Add): it combines 2 tensors computed from the input`, "", 0},
		{"valid padding refused", img, func(b *builder) string {
			return b.node("Conv", "", []string{"input", w(b, "c", 2*2*9, 2, 2, 3, 3)})
		}, `node "Conv_0" (Conv): padding 0 with kernel 3`, "", 0},
		{"leaky slope refused", flat, func(b *builder) string {
			h := b.node("Gemm", "", []string{"input", w(b, "w1", 24, 4, 6)}, attrInt("transB", 1))
			return b.node("LeakyRelu", "", []string{h}, attrFloat("alpha", 0.2))
		}, `node "LeakyRelu_1" (LeakyRelu): slope alpha=0.2`, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mp := graph(tc.in, cmp.Or(tc.opset, 17), tc.build)
			m, err := Import(mp, ImportOptions{Code: tc.code})
			if strings.Contains(tc.want, "node ") {
				if err == nil || !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Import = %v; want an error containing %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(m.Config.Encoder, ",") + " | " + strings.Join(m.Config.Decoder, ","); got != tc.want {
				t.Errorf("layers %s; want %s", got, tc.want)
			}
			x := uniform(3, 2, 6)
			if len(tc.in) == 4 {
				x = uniform(3, 2, 2, 8, 12)
			}
			accepted = append(accepted, ortRun{model: saveONNX(t, dir, "graph"+strconv.Itoa(len(accepted)), mp), inputs: map[string]*tensor.Tensor{"input": x}})
			models = append(models, m)
		})
	}
	// the imported models compute what ONNX Runtime computes on the graphs
	t.Run("ort", func(t *testing.T) {
		res := runORT(t, accepted)
		for i, r := range accepted {
			want, err := models[i].Reconstruct(nil, r.inputs["input"])
			if err != nil {
				t.Fatal(err)
			}
			out := res[i][mp0(t, r.model)]
			d := maxDiff(t, r.model, out.F, want.Data)
			t.Logf("%s: imported model against ONNX Runtime on the graph: max |Δ| %.2g", filepath.Base(r.model), d)
			if d > 1e-5 {
				t.Errorf("%s: the imported model differs from ONNX Runtime by %g", r.model, d)
			}
		}
	})
}

// mp0 is the name of the first output of the model in file f.
func mp0(t *testing.T, f string) string {
	mp, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	return mp.GetGraph().GetOutput()[0].GetName()
}
