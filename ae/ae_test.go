package ae

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bottleneck-ml/bottleneck/internal/safetensors"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

func testConfig() Config {
	c := Config{InputShape: []int{12}, Hidden: []int{8, 6}, Code: 3}
	c.Defaults(true)
	return c
}

func randomBatch(rng *rand.Rand, n, d int) *tensor.Tensor {
	x := tensor.New(n, d)
	for i := range x.Data {
		x.Data[i] = rng.Float32()
	}
	return x
}

func TestConfigDefaults(t *testing.T) {
	c := Config{InputShape: []int{4}, Hidden: []int{3}, Code: 2}
	c.Defaults(true)
	if c.Output != "sigmoid" || c.Loss != "bce" || c.Activation != "relu" {
		t.Errorf("unit-range defaults = %+v; want sigmoid output, bce, relu", c)
	}
	c = Config{InputShape: []int{4}, Hidden: []int{3}, Code: 2}
	c.Defaults(false)
	if c.Output != "identity" || c.Loss != "mse" {
		t.Errorf("standardised defaults = %+v; want identity output, mse", c)
	}
	if got := c.Decoder(); len(got) != 1 || got[0] != 3 {
		t.Errorf("mirrored decoder = %v; want [3]", got)
	}
}

func TestDenseMNISTShape(t *testing.T) {
	// dense-mnist from ../shared/bench/MODELS.md: 1,100,112 parameters.
	c := Config{InputShape: []int{784}, Hidden: []int{512, 256}, Code: 64}
	c.Defaults(true)
	m, err := New(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.NumParams() != 1100112 {
		t.Errorf("dense-mnist has %d parameters; want 1,100,112", m.NumParams())
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.Code = 0 }, "code size"},
		{func(c *Config) { c.Activation = "swish" }, "unknown activation"},
		{func(c *Config) { c.Loss = "hinge" }, "loss"},
		{func(c *Config) { c.Output = "identity"; c.Loss = "bce" }, "sigmoid output"},
		{func(c *Config) { c.Arch = "rnn" }, "architecture"},
		{func(c *Config) { c.Dropout = 1 }, "dropout"},
	} {
		c := testConfig()
		tc.mod(&c)
		_, err := New(c, 1)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) error = %v; want it to mention %q", c, err, tc.want)
		}
	}
}

// TestTrainStepGradient checks the whole model's gradient (including the
// fused sigmoid + BCE-with-logits path) against central differences.
func TestTrainStepGradient(t *testing.T) {
	for _, loss := range []string{"bce", "mse", "l1"} {
		t.Run(loss, func(t *testing.T) {
			c := testConfig()
			c.Loss = loss
			c.Activation = "tanh" // smooth, so differences are clean
			m, err := New(c, 7)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(3, 4))
			x := randomBatch(rng, 5, 12)
			m.Params.ZeroGrad()
			m.TrainStep(x, x)
			grad := append([]float32(nil), m.Params.G...)
			const eps = 1e-2
			checked := 0
			for i := 0; i < m.Params.Len(); i += 7 {
				w := m.Params.W[i]
				m.Params.W[i] = w + eps
				lp := m.Loss(x, x)
				m.Params.W[i] = w - eps
				lm := m.Loss(x, x)
				m.Params.W[i] = w
				num := (lp - lm) / (2 * eps)
				if d := math.Abs(num - float64(grad[i])); d > 2e-3+2e-2*math.Abs(num) {
					t.Errorf("param %d: analytic %g, numeric %g", i, grad[i], num)
				}
				checked++
			}
			if checked < 10 {
				t.Fatalf("checked only %d parameters", checked)
			}
		})
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	m, err := New(testConfig(), 42)
	if err != nil {
		t.Fatal(err)
	}
	m.Preprocess = []byte(`{"kind":"table"}`)
	m.Training = []byte(`{"epochs":3}`)
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	x := randomBatch(rand.New(rand.NewPCG(1, 1)), 4, 12)
	want := m.Reconstruct(x).Clone()
	have := got.Reconstruct(x)
	for i := range want.Data {
		if want.Data[i] != have.Data[i] {
			t.Fatalf("output %d: saved model %v, loaded %v", i, want.Data[i], have.Data[i])
		}
	}
	if string(got.Preprocess) != string(m.Preprocess) || string(got.Training) != string(m.Training) {
		t.Errorf("metadata not preserved: %s %s", got.Preprocess, got.Training)
	}
	// Weights are readable as plain safetensors under PyTorch-style names.
	ts, _, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if ts[0].Name != "encoder.0.weight" || ts[0].Shape[0] != 8 || ts[0].Shape[1] != 12 {
		t.Errorf("first tensor %s %v; want encoder.0.weight [8 12]", ts[0].Name, ts[0].Shape)
	}
}

func TestSaveKeepsOldFileOnError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	m, _ := New(testConfig(), 1)
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	err := m.SaveWith(path, &Extra{Meta: map[string]string{"config": "x"}})
	if err == nil {
		t.Fatal("saving with a reserved metadata key succeeded")
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("a failed save changed the existing file")
	}
}

func validFile(t testing.TB) []byte {
	m, err := New(testConfig(), 1)
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

func TestLoadBadFiles(t *testing.T) {
	good := validFile(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	meta := func(mod func(map[string]string), tensors func([]safetensors.Tensor) []safetensors.Tensor) []byte {
		ts, md, err := safetensors.Read(good)
		if err != nil {
			t.Fatal(err)
		}
		mod(md)
		if tensors != nil {
			ts = tensors(ts)
		}
		var buf bytes.Buffer
		if err := safetensors.Write(&buf, ts, md); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "m-empty"},
		{"truncated-header", good[:20], "truncated"},
		{"truncated-data", good[:len(good)-10], "truncated"},
		{"garbage", []byte("this is not a model file at all, just text......"), "safetensors"},
		{"not-model", meta(func(m map[string]string) { delete(m, "format") }, nil), "not a bottleneck model"},
		{"future-version", meta(func(m map[string]string) { m["format_version"] = "99" }, nil), "upgrade"},
		{"bad-config", meta(func(m map[string]string) { m["config"] = "{" }, nil), "config"},
		{"huge-config", meta(func(m map[string]string) { m["config"] = `{"arch":"dense","input_shape":[1000000000],"code":3}` }, nil), "absurd"},
		{"missing-tensor", meta(func(map[string]string) {}, func(ts []safetensors.Tensor) []safetensors.Tensor { return ts[1:] }), "missing"},
		{"wrong-shape", meta(func(m map[string]string) {
			m["config"] = strings.Replace(m["config"], `"code":3`, `"code":4`, 1)
		}, nil), "shape"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := write("m-"+tc.name, tc.data)
			_, err := Load(p)
			if err == nil {
				t.Fatalf("Load(%s) succeeded", tc.name)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load(%s) = %q; want it to mention %q", tc.name, err, tc.want)
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "does-not-exist")); err == nil || !strings.Contains(err.Error(), "does-not-exist") {
		t.Errorf("Load(missing) = %v; want an error naming the file", err)
	}
}

func FuzzDecode(f *testing.F) {
	good := validFile(f)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			return
		}
		// Anything accepted must be usable.
		x := tensor.New(2, m.Config.Input())
		m.Reconstruct(x)
	})
}
