package ae

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/internal/safetensors"
	"github.com/bottleneck-ml/bottleneck/optim"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// modelKind is a kind of model the file tests write and read: its config
// and an input batch it takes.
type modelKind struct {
	name  string
	cfg   func(t testing.TB) Config
	input []int // batch shape
}

func modelKinds() []modelKind {
	return []modelKind{
		{"dense", smallDense, []int{3, 12}},
		{"dense-dropout-linear", func(t testing.TB) Config {
			return denseConfig(t, []int{12}, false, Dense{Hidden: []int{8}, Code: 3, Dropout: 0.2})
		}, []int{3, 12}},
		{"dense-sparse-kl", func(t testing.TB) Config {
			c := denseConfig(t, []int{12}, true, Dense{Hidden: []int{8}, Code: 3, CodeActivation: "sigmoid"})
			c.Sparsity = "kl:0.05:1"
			return c
		}, []int{3, 12}},
		{"vae-bernoulli", func(t testing.TB) Config {
			c := smallVAE(t, LikelihoodBernoulli)
			c.Binarize, c.Beta = true, 2
			return c
		}, []int{3, 10}},
		{"vae-gaussian", func(t testing.TB) Config { return smallVAE(t, LikelihoodGaussian) }, []int{3, 10}},
		{"conv", func(t testing.TB) Config { return preset(t, "mnist-conv:8", 1) }, []int{2, 1, 28, 28}},
		{"conv-vae-bernoulli", func(t testing.TB) Config { return smallConvVAE(LikelihoodBernoulli) }, []int{3, 1, 8, 8}},
		{"conv-vae-gaussian", func(t testing.TB) Config { return smallConvVAE(LikelihoodGaussian) }, []int{3, 1, 8, 8}},
		{"residual-bn", func(t testing.TB) Config {
			c := residualBN()
			c.Task, c.Noise, c.Color = TaskDenoise, "gaussian:25", "grey"
			return c
		}, []int{2, 1, 8, 12}},
		{"restore", func(t testing.TB) Config { return preset(t, "restore:3:4", 2) }, []int{2, 2, 8, 8}},
		{"colorize", func(t testing.TB) Config { return preset(t, "colorize:4", 1) }, []int{1, 1, 16, 16}},
		{"conv-bce", func(t testing.TB) Config { return smallConvAE() }, []int{2, 1, 6, 6}},
	}
}

// trained is a model of kind k after a few Adam steps, so that every
// weight, BatchNorm statistic and log-variance differs from its initial
// value.
func trained(t testing.TB, k modelKind, seed uint64) (*Model, *tensor.Tensor) {
	t.Helper()
	m := newModel(t, k.cfg(t), seed)
	x := unitTensor(rand.New(rand.NewPCG(seed, 7)), k.input...)
	target := x
	if m.OutChannels() != m.Config.InChannels() { // colorize: another number of channels
		s, err := m.OutShape(x.Shape[1:])
		if err != nil {
			t.Fatal(err)
		}
		target = unitTensor(rand.New(rand.NewPCG(seed, 8)), append([]int{x.Rows()}, s...)...)
	}
	opt := optim.NewAdam(1e-2, 0.9, 0.999, 1e-8, 0)
	for step := range 3 {
		m.SeedNoise(seed, uint64(step))
		m.Params.ZeroGrad()
		if _, err := m.TrainStep(x, target); err != nil {
			t.Fatal(err)
		}
		opt.Step(m.Params.W, m.Params.G)
	}
	return m, x
}

// TestSaveOpenEveryKind saves a trained model of every kind, opens it, and
// checks the copy is the same model: config, weights, statistics, and
// identical outputs of every method.
func TestSaveOpenEveryKind(t *testing.T) {
	dir := t.TempDir()
	for _, k := range modelKinds() {
		t.Run(k.name, func(t *testing.T) {
			m, x := trained(t, k, 3)
			if len(m.Buffers) > 0 && m.Buffers[0].W[0] == 0 {
				t.Fatal("running mean did not move")
			}
			if m.vae != nil && m.vae.logvar != nil && m.vae.logvar.W[0] == 0 {
				t.Fatal("log-variance did not move")
			}
			path := filepath.Join(dir, k.name+".safetensors")
			if err := m.Save(path); err != nil {
				t.Fatal(err)
			}
			l, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(l.Config, m.Config) {
				t.Errorf("config\n%+v\nafter a round trip; want\n%+v", l.Config, m.Config)
			}
			if !slices.Equal(l.Params.W, m.Params.W) {
				t.Error("weights differ")
			}
			if len(l.Buffers) != len(m.Buffers) {
				t.Fatalf("%d buffers; want %d", len(l.Buffers), len(m.Buffers))
			}
			for i, b := range m.Buffers {
				if l.Buffers[i].Name != b.Name || !slices.Equal(l.Buffers[i].W, b.W) {
					t.Errorf("buffer %s differs", b.Name)
				}
			}
			if l.IsVAE() != m.IsVAE() {
				t.Errorf("IsVAE %v; want %v", l.IsVAE(), m.IsVAE())
			}
			same := func(what string, f func(m *Model) (*tensor.Tensor, error)) {
				t.Helper()
				a, err := f(m)
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				a = &tensor.Tensor{Shape: a.Shape, Data: slices.Clone(a.Data)}
				b, err := f(l)
				if err != nil {
					t.Fatalf("%s of the opened model: %v", what, err)
				}
				if !equalTensors(a, b) {
					t.Errorf("%s differs after Save and Open", what)
				}
			}
			same("Reconstruct", func(m *Model) (*tensor.Tensor, error) { return m.Reconstruct(nil, x) })
			same("Encode", func(m *Model) (*tensor.Tensor, error) { return m.Encode(nil, x) })
			if m.Config.Input != nil {
				z := unitTensor(rand.New(rand.NewPCG(9, 9)), 2, m.CodeSize())
				same("Decode", func(m *Model) (*tensor.Tensor, error) { return m.Decode(nil, z) })
			} else {
				// another size shares the weights
				in := slices.Clone(k.input)
				in[2], in[3] = 2*in[2], in[3]+4
				x2 := unitTensor(rand.New(rand.NewPCG(9, 9)), in...)
				same("Reconstruct at another size", func(m *Model) (*tensor.Tensor, error) { return m.Reconstruct(nil, x2) })
			}
			if la, lb := lossOf(t, m, x), lossOf(t, l, x); la != lb {
				t.Errorf("validation loss %g, after Save and Open %g", la, lb)
			}
			if m.IsVAE() {
				same("Sample", func(m *Model) (*tensor.Tensor, error) { return m.Sample(3, rand.New(rand.NewPCG(5, 5))) })
				a, ea, err := m.LogLikelihood(x, 20, 7, rand.New(rand.NewPCG(4, 4)))
				if err != nil {
					t.Fatal(err)
				}
				b, eb, err := l.LogLikelihood(x, 20, 7, rand.New(rand.NewPCG(4, 4)))
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(a, b) || !slices.Equal(ea, eb) {
					t.Errorf("log p(x) %v, ELBO %v before saving; %v, %v after", a, ea, b, eb)
				}
			}
		})
	}
}

// lossOf is the validation loss of a model on x as its own target (0 for
// a model whose output has other channels than its input).
func lossOf(t *testing.T, m *Model, x *tensor.Tensor) float64 {
	t.Helper()
	if m.OutChannels() != m.Config.InChannels() {
		return 0
	}
	l, err := m.Loss(x, x)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestSaveMetadata: the preprocessing, the training record and other
// packages' sections survive Save and Open; tensors are plain safetensors
// under PyTorch-style names; extra tensors and metadata come back from
// OpenWith.
func TestSaveMetadata(t *testing.T) {
	m := newModel(t, smallDense(t), 42)
	m.Preprocess = &dataset.Preprocessor{Kind: "table", InputShape: []int{12}, Scale: "unit", LabelIndex: -1, Missing: "error"}
	m.Training = &Record{Epochs: 3, MaxEpochs: 5, TrainLoss: []float64{0.3, 0.2, 0.1}, Batch: 8, LR: 1e-3, Schedule: "constant", Seed: 1, Stopped: "completed"}
	m.Meta = map[string]json.RawMessage{"detector": json.RawMessage(`{"threshold":1.5}`)}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	extra := &Extra{Tensors: map[string][]float32{"optim.exp_avg": make([]float32, 5)}, Meta: map[string]string{"optim.steps": "12"}}
	if err := m.SaveWith(path, extra); err != nil {
		t.Fatal(err)
	}
	l, got, err := OpenWith(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(l.Preprocess, m.Preprocess) || !reflect.DeepEqual(l.Training, m.Training) {
		t.Errorf("metadata not preserved:\n%+v\n%+v", l.Preprocess, l.Training)
	}
	if string(l.Meta["detector"]) != `{"threshold":1.5}` {
		t.Errorf("detector section %s", l.Meta["detector"])
	}
	if !reflect.DeepEqual(got.Tensors, extra.Tensors) || got.Meta["optim.steps"] != "12" {
		t.Errorf("extra = %+v; want %+v", got, extra)
	}
	// Open → Save keeps sections this package does not know.
	path2 := filepath.Join(t.TempDir(), "m2.safetensors")
	if err := l.Save(path2); err != nil {
		t.Fatal(err)
	}
	l2, err := Open(path2)
	if err != nil {
		t.Fatal(err)
	}
	if string(l2.Meta["detector"]) != `{"threshold":1.5}` {
		t.Errorf("detector section after Open → Save: %s", l2.Meta["detector"])
	}
	ts, meta, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if meta["format"] != FormatName || meta["format_version"] != "2" {
		t.Errorf("format %q version %q; want %q 2", meta["format"], meta["format_version"], FormatName)
	}
	names := map[string][]int{}
	for _, ts := range ts {
		names[ts.Name] = ts.Shape
	}
	for name, shape := range map[string][]int{"encoder.0.weight": {8, 12}, "encoder.0.bias": {8}, "decoder.4.weight": {12, 8}} {
		if !slices.Equal(names[name], shape) {
			t.Errorf("tensor %s has shape %v; want %v", name, names[name], shape)
		}
	}
	// BatchNorm statistics and a Gaussian VAE's log-variance are tensors too.
	for _, tc := range []struct {
		cfg   Config
		names []string
	}{
		{residualBN(), []string{"encoder.1.running_mean", "encoder.1.running_var", "decoder.1.running_var"}},
		{smallVAE(t, LikelihoodGaussian), []string{"likelihood.logvar", "encoder.2.weight"}},
		{smallConvVAE(LikelihoodBernoulli), []string{"encoder.3.weight", "decoder.0.weight", "decoder.3.weight"}},
	} {
		p := filepath.Join(t.TempDir(), "x.safetensors")
		if err := newModel(t, tc.cfg, 1).Save(p); err != nil {
			t.Fatal(err)
		}
		ts, _, err := safetensors.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range tc.names {
			if !slices.ContainsFunc(ts, func(t safetensors.Tensor) bool { return t.Name == n }) {
				t.Errorf("%v: no tensor %q", tc.cfg.Encoder, n)
			}
		}
	}
}

func TestSaveErrors(t *testing.T) {
	dir := t.TempDir()
	m := newModel(t, smallDense(t), 1)
	for _, tc := range []struct {
		name  string
		meta  map[string]json.RawMessage
		extra *Extra
		want  string
	}{
		{"reserved-extra-meta", nil, &Extra{Meta: map[string]string{"config": "x"}}, `"config"`},
		{"extra-tensor-collides", nil, &Extra{Tensors: map[string][]float32{"encoder.0.bias": {1}}}, `"encoder.0.bias"`},
		{"reserved-section", map[string]json.RawMessage{"training": json.RawMessage(`{}`)}, nil, "reserved"},
		{"invalid-section", map[string]json.RawMessage{"detector": json.RawMessage(`{`)}, nil, "not valid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m.Meta = tc.meta
			path := filepath.Join(dir, tc.name)
			err := m.SaveWith(path, tc.extra)
			if !wantErr(err, tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("SaveWith = %v; want an error naming %s and mentioning %s", err, path, tc.want)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a failed save left a file: %v", err)
			}
		})
	}
}

// TestSaveKeepsOldFileOnError: a save that fails leaves the file it would
// have replaced as it was.
func TestSaveKeepsOldFileOnError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	m := newModel(t, smallDense(t), 1)
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SaveWith(path, &Extra{Meta: map[string]string{"config": "x"}}); err == nil {
		t.Fatal("saving with a reserved metadata key succeeded")
	}
	m.Meta = map[string]json.RawMessage{"detector": json.RawMessage("{")}
	if err := m.Save(path); err == nil {
		t.Fatal("saving an invalid section succeeded")
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("a failed save changed the existing file")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the directory holds %d entries after failed saves; want only the model", len(entries))
	}
}

// validFile is the bytes of a saved small dense model.
func validFile(t testing.TB, c Config) []byte {
	t.Helper()
	m, err := New(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rewrite parses a model file, lets mod change its metadata and tensors,
// and writes it again.
func rewrite(t testing.TB, file []byte, mod func(meta map[string]string, ts []safetensors.Tensor) []safetensors.Tensor) []byte {
	t.Helper()
	ts, meta, err := safetensors.Read(file)
	if err != nil {
		t.Fatal(err)
	}
	ts = mod(meta, ts)
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, ts, meta); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func setMeta(key, value string) func(map[string]string, []safetensors.Tensor) []safetensors.Tensor {
	return func(m map[string]string, ts []safetensors.Tensor) []safetensors.Tensor {
		if value == "" {
			delete(m, key)
		} else {
			m[key] = value
		}
		return ts
	}
}

func renameTensor(from, to string) func(map[string]string, []safetensors.Tensor) []safetensors.Tensor {
	return func(_ map[string]string, ts []safetensors.Tensor) []safetensors.Tensor {
		for i := range ts {
			if ts[i].Name == from {
				ts[i].Name = to
			}
		}
		return ts
	}
}

func editConfig(from, to string) func(map[string]string, []safetensors.Tensor) []safetensors.Tensor {
	return func(m map[string]string, ts []safetensors.Tensor) []safetensors.Tensor {
		m["config"] = strings.Replace(m["config"], from, to, 1)
		return ts
	}
}

// TestOpenBadFiles: damaged, foreign and hostile files are refused with an
// error that names the file and says what is wrong.
func TestOpenBadFiles(t *testing.T) {
	good := validFile(t, smallDense(t))
	goodConv := validFile(t, residualBN())
	v1, err := os.ReadFile("../internal/golden/testdata/v1/series.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	v1conv, err := os.ReadFile("../internal/golden/testdata/v1/conv-residual-bn.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "0 bytes"},
		{"truncated-header", good[:20], "truncated"},
		{"truncated-data", good[:len(good)-10], "truncated"},
		{"garbage", []byte("this is not a model file at all, just text......"), "safetensors"},
		{"not-model", rewrite(t, good, setMeta("format", "")), "not a bottleneck model"},
		{"other-format", rewrite(t, good, setMeta("format", "keras")), `"keras"`},
		{"future-version", rewrite(t, good, setMeta("format_version", "99")), "upgrade"},
		{"version-zero", rewrite(t, good, setMeta("format_version", "0")), "format version 0"},
		{"version-text", rewrite(t, good, setMeta("format_version", "two")), "not a number"},
		{"bad-config", rewrite(t, good, setMeta("config", "{")), "config"},
		{"no-config", rewrite(t, good, setMeta("config", "")), "config"},
		{"unknown-field", rewrite(t, good, editConfig(`{`, `{"hidden":[3],`)), "unknown field"},
		{"bad-preprocess", rewrite(t, good, setMeta("preprocess", "[1")), "preprocess"},
		{"bad-training", rewrite(t, good, setMeta("training", `{"epochs":"x"}`)), "training"},
		{"invalid-config", rewrite(t, good, editConfig(`"loss":"bce"`, `"loss":"hinge"`)), `loss "hinge"`},
		{"huge-input", rewrite(t, good, editConfig(`"input":[12]`, `"input":[1000000000]`)), "out of range"},
		{"huge-image", rewrite(t, good, editConfig(`"input":[12]`, `"input":[3,16384,16384]`)), "too large"},
		{"more-weights", rewrite(t, good, editConfig(`"dense:8"`, `"dense:60000"`)), "needs"},
		{"missing-tensor", rewrite(t, good, renameTensor("encoder.0.bias", "encoder.0.b")), `"encoder.0.bias" is missing`},
		{"missing-statistics", rewrite(t, goodConv, renameTensor("decoder.1.running_var", "decoder.1.var")), `"decoder.1.running_var" is missing`},
		{"wrong-shape", rewrite(t, good, editConfig(`"dense:3"`, `"dense:2"`)), "has shape"},
		{"nan-weight", rewrite(t, good, func(_ map[string]string, ts []safetensors.Tensor) []safetensors.Tensor {
			ts[len(ts)-1].Data[0] = float32(math.NaN())
			return ts
		}), "NaN"},
		{"v1-huge", rewrite(t, v1, setMeta("config", `{"arch":"dense","input_shape":[1000000000],"code":3}`)), "out of range"},
		{"v1-absurd-code", rewrite(t, v1, setMeta("config", `{"arch":"dense","input_shape":[12],"code":1000000000}`)), "absurd"},
		{"v1-no-shape", rewrite(t, v1, setMeta("config", `{"arch":"dense","hidden":[12],"code":3}`)), "no input shape"},
		{"v1-arch", rewrite(t, v1, setMeta("config", `{"arch":"rnn","input_shape":[12]}`)), `"rnn"`},
		{"v1-bad-json", rewrite(t, v1, setMeta("config", `{"arch":`)), "not valid JSON"},
		{"v1-conv-channels", rewrite(t, v1conv, setMeta("config", `{"arch":"conv","in_channels":1,"input_shape":[3,8,8],"encoder":["conv:4:3"],"decoder":["conv:3:3"],"loss":"mse"}`)), "channels"},
		{"v1-renamed-tensor", rewrite(t, v1conv, renameTensor("7.weight", "decoder.1.weight")), `"7.weight" is missing`},
	}
	dir := t.TempDir()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "m-"+tc.name)
			if err := os.WriteFile(p, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Open(p)
			if !wantErr(err, tc.want) {
				t.Fatalf("Open(%s) = %v; want an error mentioning %q", tc.name, err, tc.want)
			}
			if !strings.Contains(err.Error(), p) {
				t.Errorf("Open(%s) = %q; want it to name the file", tc.name, err)
			}
			if _, err := Decode(tc.data); !wantErr(err, tc.want) {
				t.Errorf("Decode(%s) = %v; want an error mentioning %q", tc.name, err, tc.want)
			}
		})
	}
	if _, err := Open(filepath.Join(dir, "does-not-exist")); err == nil || !strings.Contains(err.Error(), "does-not-exist") {
		t.Errorf("Open(missing) = %v; want an error naming the file", err)
	}
	_, err = Open(filepath.Join(dir, "m-not-model"))
	if !errors.Is(err, ErrNotModel) {
		t.Errorf("Open(not a model) = %v; want ErrNotModel", err)
	}
	_, err = Open(filepath.Join(dir, "m-invalid-config"))
	if !errors.Is(err, ErrConfig) {
		t.Errorf("Open(invalid config) = %v; want ErrConfig", err)
	}
}

// TestOpenHostileFiles: a small file whose config asks for a huge model is
// refused before the model's memory is allocated: its weights (more than
// the file holds), or the tables its layers build before any weight is
// bound (a convolution's per-pixel table at a huge probe size or after
// upsampling, BatchNorm statistics of a huge number of channels).
func TestOpenHostileFiles(t *testing.T) {
	good := validFile(t, smallDense(t))
	goodConv := validFile(t, residualBN())
	setConfig := func(cfg string) func(map[string]string, []safetensors.Tensor) []safetensors.Tensor {
		return setMeta("config", cfg)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		// 16384² weights (1 GiB) in the first layer
		{"dense-width", rewrite(t, good, editConfig(`"input":[12],"encoder":["dense:8"`, `"input":[16384],"encoder":["dense:16384"`)), "the file holds"},
		{"conv-channels", rewrite(t, goodConv, editConfig(`"conv:4:3:s2"`, `"conv:65536:3:s2"`)), "the file holds"},
		{"v1-width", rewrite(t, good, func(m map[string]string, ts []safetensors.Tensor) []safetensors.Tensor {
			m["format_version"] = "1"
			m["config"] = `{"arch":"dense","input_shape":[16384],"hidden":[16384],"code":3}`
			return ts
		}), "the file holds"},
		// a model of any size is built for a probe 4× its input multiple:
		// 64³ makes that 2²⁰ pixels a side
		{"probe-size", rewrite(t, goodConv, setConfig(`{"channels":1,"encoder":["conv:1:3:s64","conv:1:3:s64","conv:1:3:s64"],"decoder":["upsample:64","upsample:64","upsample:64","conv:1:3"],"loss":"mse"}`)), "too large to build"},
		{"upsampled", rewrite(t, goodConv, setConfig(`{"channels":1,"encoder":["upsample:65536","conv:1:3"],"decoder":["avgpool:65536"],"loss":"mse"}`)), "too large to build"},
		{"fixed-input-layers", rewrite(t, goodConv, setConfig(`{"input":[1,4096,4096],"encoder":["conv:1:1","conv:1:1","conv:1:1","conv:1:1","conv:1:1"],"decoder":["conv:1:1"],"loss":"mse"}`)), "too large to build"},
		{"bn-channels", rewrite(t, goodConv, setConfig(`{"channels":1,"encoder":["unshuffle:65536","bn"],"decoder":["shuffle:65536"],"loss":"mse"}`)), "channels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := Decode(tc.data)
			runtime.ReadMemStats(&after)
			if !wantErr(err, tc.want) {
				t.Errorf("Decode = %v; want an error mentioning %q", err, tc.want)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 64<<20 {
				t.Errorf("Decode allocated %d MiB before refusing the file", n>>20)
			}
		})
	}
}

// TestOpenV1Files reads model files of the first release (format version
// 1, before the one-model redesign): a dense detector, a dense VAE and
// three conv models. Their tensors land in the right layers: a dense
// model's output is recomputed here from the file's raw tensors, and the
// conv models' tensors, named by their index in the whole layer stack,
// are compared by name. (internal/golden checks their outputs against
// those the first release gave.)
func TestOpenV1Files(t *testing.T) {
	const dir = "../internal/golden/testdata/v1/"
	raw := func(t *testing.T, name string) map[string]safetensors.Tensor {
		ts, meta, err := safetensors.ReadFile(dir + name)
		if err != nil {
			t.Fatal(err)
		}
		if meta["format_version"] != "1" {
			t.Fatalf("%s has format version %q; want a version 1 file", name, meta["format_version"])
		}
		byName := map[string]safetensors.Tensor{}
		for _, t := range ts {
			byName[t.Name] = t
		}
		return byName
	}
	open := func(t *testing.T, path string) *Model {
		m, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	// sameTensors checks that each model tensor (by its v2 name) holds the
	// file's tensor of its v1 name.
	sameTensors := func(t *testing.T, m *Model, file map[string]safetensors.Tensor, v1Name func(string) string) {
		t.Helper()
		all := append(slices.Clone(m.Params.Params), m.Buffers...)
		if len(all) != len(file) {
			t.Errorf("the model has %d tensors, the file %d", len(all), len(file))
		}
		for _, p := range all {
			f, ok := file[v1Name(p.Name)]
			if !ok || !slices.Equal(f.Shape, p.Shape) || !slices.Equal(f.Data, p.W) {
				t.Errorf("tensor %s does not hold the file's %s", p.Name, v1Name(p.Name))
			}
		}
	}
	same := func(s string) string { return s }

	for _, tc := range []struct {
		file       string
		in, hidden int
		enc        []string
		layers     int // dense layers
	}{
		{"series.safetensors", 12, 12, []string{"dense:12", "relu", "dense:3", "identity"}, 4},
		{"fraud.safetensors", 18, 16, []string{"dense:16", "relu", "dropout:0.1", "dense:8", "relu", "dropout:0.1", "dense:4", "identity"}, 6},
	} {
		t.Run(tc.file, func(t *testing.T) {
			m := open(t, dir+tc.file)
			file := raw(t, tc.file)
			c := m.Config
			if c.Kind() != "dense" || !slices.Equal(c.Input, []int{tc.in}) || c.Loss != LossMSE || !slices.Equal(c.Encoder, tc.enc) {
				t.Errorf("config %+v; want a dense %d-input model with encoder %v and mse", c, tc.in, tc.enc)
			}
			if m.Preprocess == nil || m.Training == nil || m.Training.Epochs == 0 {
				t.Errorf("preprocess %+v, training %+v; want both from the file", m.Preprocess, m.Training)
			}
			if !json.Valid(m.Meta["threshold"]) {
				t.Errorf("the detector's threshold section is lost: %q", m.Meta["threshold"])
			}
			sameTensors(t, m, file, same)
			// recompute the output from the raw tensors: dense layers with
			// ReLU between them, linear code and output
			x := unitTensor(rand.New(rand.NewPCG(1, 1)), 3, tc.in)
			var names []string
			for _, p := range m.Params.Params {
				if w, ok := strings.CutSuffix(p.Name, ".weight"); ok {
					names = append(names, w)
				}
			}
			if len(names) != tc.layers {
				t.Fatalf("%d dense layers %v; want %d", len(names), names, tc.layers)
			}
			want := make([]float64, 0, len(x.Data))
			for r := range x.Rows() {
				h := make([]float64, tc.in)
				for j := range h {
					h[j] = float64(x.Data[r*tc.in+j])
				}
				for li, n := range names {
					w, b := file[n+".weight"], file[n+".bias"]
					out := make([]float64, w.Shape[0])
					for o := range out {
						s := float64(b.Data[o])
						for i, v := range h {
							s += float64(w.Data[o*w.Shape[1]+i]) * v
						}
						if li != len(names)/2-1 && li != len(names)-1 {
							s = max(s, 0)
						}
						out[o] = s
					}
					h = out
				}
				want = append(want, h...)
			}
			y, err := m.Reconstruct(nil, x)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range y.Data {
				if math.Abs(float64(v)-want[i]) > 1e-5*(1+math.Abs(want[i])) {
					t.Fatalf("output %d = %v; the file's weights give %v", i, v, want[i])
				}
			}
		})
	}

	t.Run("dense-gauss-vae", func(t *testing.T) {
		m := open(t, dir+"dense-gauss-vae.safetensors")
		c := m.Config
		if c.Kind() != "vae" || c.Likelihood != LikelihoodGaussian || c.Beta != 1 || m.CodeSize() != 4 {
			t.Errorf("config %+v, code %d; want a Gaussian dense VAE with a 4-d code", c, m.CodeSize())
		}
		sameTensors(t, m, raw(t, "dense-gauss-vae.safetensors"), same)
	})

	// conv files name tensors by the layer's index in the whole stack
	// (with a VAE's sampling step counted)
	v1Conv := func(nEnc int) func(string) string {
		return func(name string) string {
			if rest, ok := strings.CutPrefix(name, "encoder."); ok {
				return rest
			}
			if rest, ok := strings.CutPrefix(name, "decoder."); ok {
				i, tail, _ := strings.Cut(rest, ".")
				j, err := strconv.Atoi(i)
				if err != nil {
					t.Fatalf("tensor name %q", name)
				}
				return strconv.Itoa(nEnc+j) + "." + tail
			}
			return name
		}
	}
	for _, tc := range []struct {
		file       string
		lik        string
		beta       float64
		binarize   bool
		code, nEnc int
	}{
		{"conv-vae.safetensors", LikelihoodBernoulli, 1, true, 3, 7},
		{"conv-gauss-vae.safetensors", LikelihoodGaussian, 0.5, false, 4, 5},
	} {
		t.Run(tc.file, func(t *testing.T) {
			m := open(t, dir+tc.file)
			c := m.Config
			if c.Kind() != "conv-vae" || c.Loss != LossELBO || c.Likelihood != tc.lik || c.Beta != tc.beta || c.Binarize != tc.binarize ||
				!slices.Equal(c.Input, []int{1, 28, 28}) || c.Color != "grey" || c.Task != TaskReconstruct || m.CodeSize() != tc.code {
				t.Errorf("config %+v, code %d", c, m.CodeSize())
			}
			sameTensors(t, m, raw(t, tc.file), v1Conv(tc.nEnc))
			s, err := m.Sample(2, rand.New(rand.NewPCG(1, 1)))
			if err != nil || !slices.Equal(s.Shape, []int{2, 1, 28, 28}) {
				t.Errorf("Sample: %v, shape %v", err, s.Shape)
			}
		})
	}

	t.Run("conv-residual-bn", func(t *testing.T) {
		m := open(t, dir+"conv-residual-bn.safetensors")
		c := m.Config
		if c.Kind() != "conv" || c.Input != nil || c.Channels != 1 || !c.Residual || c.Loss != LossL1 ||
			c.Task != TaskDenoise || c.Noise != "gaussian:25" || len(m.Buffers) != 2 {
			t.Errorf("config %+v, %d buffers; want a residual fully convolutional denoiser with one BatchNorm", c, len(m.Buffers))
		}
		sameTensors(t, m, raw(t, "conv-residual-bn.safetensors"), v1Conv(6))
		for _, b := range m.Buffers {
			if slices.Equal(b.W, make([]float32, len(b.W))) || slices.Equal(b.W, slices.Repeat([]float32{1}, len(b.W))) {
				t.Errorf("%s = %v; want the trained statistics", b.Name, b.W)
			}
		}
		x := unitTensor(rand.New(rand.NewPCG(1, 1)), 1, 1, 12, 20)
		y, err := m.Reconstruct(nil, x)
		if err != nil || !slices.Equal(y.Shape, x.Shape) {
			t.Fatalf("Reconstruct: %v, shape %v", err, y.Shape)
		}
	})

	// a v1 model saved again is a version 2 file of the same model
	for _, name := range []string{"fraud.safetensors", "conv-vae.safetensors", "conv-residual-bn.safetensors"} {
		t.Run("resave-"+name, func(t *testing.T) {
			m := open(t, dir+name)
			p := filepath.Join(t.TempDir(), name)
			if err := m.Save(p); err != nil {
				t.Fatal(err)
			}
			if _, meta, err := safetensors.ReadFile(p); err != nil || meta["format_version"] != "2" {
				t.Fatalf("saved version %q (%v); want 2", meta["format_version"], err)
			}
			l2 := open(t, p)
			if !reflect.DeepEqual(l2.Config, m.Config) || !slices.Equal(l2.Params.W, m.Params.W) || !reflect.DeepEqual(l2.Meta, m.Meta) {
				t.Error("the resaved model differs")
			}
		})
	}
}

// FuzzDecode feeds Decode mutations of model files (the seed corpus in
// testdata/fuzz/FuzzDecode holds version 1 files; a version 2 file of
// each kind is added here). Decode must never panic, and what it accepts
// must run.
func FuzzDecode(f *testing.F) {
	good := validFile(f, smallDense(f))
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{})
	f.Add(validFile(f, smallVAE(f, LikelihoodGaussian)))
	f.Add(validFile(f, residualBN()))
	f.Add(validFile(f, smallConvVAE(LikelihoodBernoulli)))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			if m != nil {
				t.Fatal("Decode returned a model and an error")
			}
			return
		}
		// Anything accepted must be usable.
		in := m.Config.Input
		if in == nil {
			k := 4 * m.Config.Multiple()
			in = []int{m.Config.Channels, k, k}
		}
		if tensor.Size(in) > 1<<12 {
			return // too large to run here; not a failure of Decode
		}
		x := tensor.New(append([]int{2}, in...)...)
		if _, err := m.Reconstruct(nil, x); err != nil {
			t.Fatalf("Reconstruct of a model Decode accepted: %v", err)
		}
		if _, err := m.Encode(nil, x); err != nil {
			t.Fatalf("Encode of a model Decode accepted: %v", err)
		}
	})
}
