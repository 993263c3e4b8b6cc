// Package golden_test pins the outputs of every model shipped in the binary
// and of model files written by earlier releases: fixed inputs go in, and
// the outputs must match the committed JSON files in testdata to 1e-6
// (relative above 1). Run with -update to rewrite them; only do that when a
// change of the outputs is intended and explained in the commit.
package golden_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/imagetask"
	"github.com/bottleneck-ml/bottleneck/internal/cli"
	"github.com/bottleneck-ml/bottleneck/internal/demodata"
	"github.com/bottleneck-ml/bottleneck/tensor"
	"github.com/bottleneck-ml/bottleneck/zoo"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// outputs are the named float arrays of one case.
type outputs map[string][]float64

func (o outputs) put(name string, v []float32) {
	f := make([]float64, len(v))
	for i, x := range v {
		f[i] = float64(x)
	}
	o[name] = f
}

// check compares got with testdata/<name>.json (or writes it with -update).
func check(t *testing.T, name string, got outputs) {
	t.Helper()
	path := filepath.Join("testdata", name+".json")
	if *update {
		// float32 values print exactly with 9 significant digits
		var b bytes.Buffer
		b.WriteString("{\n")
		keys := sortedKeys(got)
		for i, k := range keys {
			fmt.Fprintf(&b, "  %q: [", k)
			for j, v := range got[k] {
				if j > 0 {
					b.WriteByte(',')
				}
				b.WriteString(strconv.FormatFloat(v, 'g', 9, 64))
			}
			b.WriteString("]")
			if i < len(keys)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString("}\n")
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/golden -update once to create it)", err)
	}
	var want outputs
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	for _, k := range sortedKeys(want) {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: output %q missing", name, k)
			continue
		}
		w := want[k]
		if len(g) != len(w) {
			t.Errorf("%s %s: %d values, want %d", name, k, len(g), len(w))
			continue
		}
		worst, at := 0.0, 0
		for i := range w {
			d := math.Abs(g[i]-w[i]) / max(1, math.Abs(w[i]))
			if !(d <= worst) { // NaN too
				worst, at = d, i
			}
		}
		if !(worst <= tolerance) {
			t.Errorf("%s %s: max difference %.3g at %d (got %v, want %v)", name, k, worst, at, g[at], w[at])
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: output %q not in the golden file; run with -update if it is new", name, k)
		}
	}
}

func sortedKeys(o outputs) []string {
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if keys[j] < keys[i] {
				keys[i], keys[j] = keys[j], keys[i]
			}
		}
	}
	return keys
}

// digits returns n embedded MNIST test digits as [n, 784] in [0,1].
func digits(t *testing.T, n int) *tensor.Tensor {
	t.Helper()
	ds, err := dataset.LoadFS(demodata.FS, demodata.TestImages, dataset.LoadOptions{Format: dataset.FormatIDX, MaxRows: n})
	if err != nil {
		t.Fatal(err)
	}
	return ds.X
}

// picture is a deterministic c×h×w test image in [0,1]: smooth gradients,
// an edge and some texture, so every part of a restoration model matters.
func picture(c, h, w int, seed uint64) *imageio.Image {
	rng := rand.New(rand.NewPCG(seed, 99))
	m := imageio.New(c, h, w)
	for ch := range c {
		for y := range h {
			for x := range w {
				v := 0.3 + 0.4*math.Sin(float64(x)/5+float64(ch))*math.Cos(float64(y)/7)
				if x > w/2 && y > h/3 {
					v = 0.85 - 0.1*float64(ch)
				}
				v += 0.05 * rng.NormFloat64()
				m.Pix[(ch*h+y)*w+x] = float32(min(max(v, 0), 1))
			}
		}
	}
	m.Quantize()
	return m
}

// codes are fixed code vectors for decoders.
func codes(n, k int) *tensor.Tensor {
	rng := rand.New(rand.NewPCG(5, 5))
	z := tensor.New(n, k)
	for i := range z.Data {
		z.Data[i] = float32(rng.NormFloat64())
	}
	return z
}

func shipped(t *testing.T, name string) []byte {
	t.Helper()
	_, b, ok := zoo.Lookup(name)
	if !ok {
		t.Fatalf("shipped model %s missing", name)
	}
	return b
}

func TestShippedDenseVAEs(t *testing.T) {
	for _, name := range []string{"mnist-vae", "fashion-vae"} {
		t.Run(name, func(t *testing.T) {
			m, err := ae.Decode(shipped(t, name))
			if err != nil {
				t.Fatal(err)
			}
			x := digits(t, 2)
			got := outputs{}
			got.put("encode", must(m.Encode(nil, x)).Data)
			got.put("reconstruct", must(m.Reconstruct(nil, x)).Data)
			got.put("decode", must(m.Decode(nil, codes(1, m.CodeSize()))).Data)
			logp, elbo, err := m.LogLikelihood(tensor.From(x.Data[:2*784], 2, 784), 16, 8, rand.New(rand.NewPCG(3, 4)))
			if err != nil {
				t.Fatal(err)
			}
			got["logp"], got["elbo"] = logp, elbo
			check(t, name, got)
		})
	}
}

// TestShippedConvVAE pins the shipped convolutional VAE (stored in half
// precision; it computes in float32 from the stored weights).
func TestShippedConvVAE(t *testing.T) {
	m, err := ae.Decode(shipped(t, "mnist-vae-conv"))
	if err != nil {
		t.Fatal(err)
	}
	x := digits(t, 2)
	x4 := tensor.From(x.Data, 2, 1, 28, 28)
	got := outputs{}
	got.put("encode", must(m.Encode(nil, x4)).Data)
	got.put("reconstruct", must(m.Reconstruct(nil, x4)).Data)
	got.put("decode", must(m.Decode(nil, codes(1, m.CodeSize()))).Data)
	logp, elbo, err := m.LogLikelihood(tensor.From(x.Data[:2*784], 2, 1, 28, 28), 16, 8, rand.New(rand.NewPCG(3, 4)))
	if err != nil {
		t.Fatal(err)
	}
	got["logp"], got["elbo"] = logp, elbo
	check(t, "mnist-vae-conv", got)
}

func TestShippedMNISTConv(t *testing.T) {
	for _, name := range []string{"mnist-conv", "mnist-features"} {
		t.Run(name, func(t *testing.T) {
			m, err := ae.Decode(shipped(t, name))
			if err != nil {
				t.Fatal(err)
			}
			x := digits(t, 2)
			x4 := tensor.From(x.Data, 2, 1, 28, 28)
			got := outputs{}
			got.put("encode", must(m.Encode(nil, x4)).Data)
			got.put("reconstruct", must(m.Reconstruct(nil, x4)).Data)
			got.put("decode", must(m.Decode(nil, codes(1, m.CodeSize()))).Data)
			check(t, name, got)
		})
	}
}

func TestShippedMNISTDenoise(t *testing.T) {
	m, err := ae.Decode(shipped(t, "mnist-denoise"))
	if err != nil {
		t.Fatal(err)
	}
	x := digits(t, 2)
	rng := rand.New(rand.NewPCG(7, 7))
	for i, v := range x.Data {
		x.Data[i] = float32(min(max(float64(v)+0.5*rng.NormFloat64(), 0), 1))
	}
	y, err := m.Reconstruct(nil, tensor.From(x.Data, 2, 1, 28, 28))
	if err != nil {
		t.Fatal(err)
	}
	got := outputs{}
	got.put("denoise", y.Data)
	check(t, "mnist-denoise", got)
}

func must(t *tensor.Tensor, err error) *tensor.Tensor {
	if err != nil {
		panic(err)
	}
	return t
}

func TestShippedImageModels(t *testing.T) {
	grey := picture(1, 24, 28, 1)
	noisy := grey.Clone()
	rng := rand.New(rand.NewPCG(2, 2))
	for i, v := range noisy.Pix {
		noisy.Pix[i] = v + float32(25.0/255*rng.NormFloat64())
	}
	colour := picture(3, 20, 24, 3)
	small := picture(3, 10, 9, 4)
	big := picture(1, 40, 48, 5)
	for i, v := range big.Pix {
		big.Pix[i] = v + float32(15.0/255*rng.NormFloat64())
	}

	// Each denoiser's outputs on named pictures with named options.
	type run struct {
		key string
		img *imageio.Image
		o   imagetask.Options
	}
	for _, c := range []struct {
		name string
		runs []run
	}{
		{"denoise-gray", []run{
			{"grey", noisy, imagetask.Options{}},
			{"colour", colour, imagetask.Options{}},
			{"tiled", big, imagetask.Options{Tile: 24, Overlap: 8}},
			{"ensemble", noisy.Crop(0, 0, 16, 20), imagetask.Options{Ensemble: true}},
		}},
		{"denoise-color", []run{
			{"colour", colour, imagetask.Options{}},
			{"tiled", colour, imagetask.Options{Tile: 12, Overlap: 4}},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := ae.Decode(shipped(t, c.name))
			if err != nil {
				t.Fatal(err)
			}
			got := outputs{}
			for _, r := range c.runs {
				out, err := imagetask.Denoise(m, r.img, r.o)
				if err != nil {
					t.Fatalf("%s: %v", r.key, err)
				}
				got.put(r.key, out.Pix)
			}
			check(t, c.name, got)
		})
	}
	for _, c := range []struct {
		name  string
		scale int
	}{{"upscale-x2", 2}, {"upscale-x3", 3}, {"upscale-x4", 4}} {
		t.Run(c.name, func(t *testing.T) {
			m, err := ae.Decode(shipped(t, c.name))
			if err != nil {
				t.Fatal(err)
			}
			got := outputs{}
			out, err := imagetask.Upscale(m, small, c.scale, imagetask.Options{})
			if err != nil {
				t.Fatal(err)
			}
			got.put("colour", out.Pix)
			if out, err = imagetask.Upscale(m, small.Channels(1, 2), c.scale, imagetask.Options{}); err != nil {
				t.Fatal(err)
			}
			got.put("grey", out.Pix)
			check(t, c.name, got)
		})
	}
	for _, name := range []string{"colorize", "colorize-vivid"} {
		t.Run(name, func(t *testing.T) {
			m, err := ae.Decode(shipped(t, name))
			if err != nil {
				t.Fatal(err)
			}
			out, err := imagetask.Colorize(m, colour, imagetask.Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := outputs{}
			got.put("colour", out.Pix)
			check(t, name, got)
		})
	}
}

// run runs the command line in process and fails the test on a non-zero
// exit.
func run(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := cli.Run(context.Background(), args, &out, &errb); code != 0 {
		t.Fatalf("bottleneck %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
	}
	return out.String()
}

// TestV1TableModel scores rows with a table detector written by the first
// release (format v1): testdata/v1/fraud.safetensors was trained by
// TestMakeV1Files with dropout, so its layer names include the dropout
// layers, and holds a Mahalanobis threshold.
func TestV1TableModel(t *testing.T) {
	out := run(t, "score", "-m", "testdata/v1/fraud.safetensors", "--data", "testdata/v1/transactions.csv", "--top", "3")
	check(t, "v1-fraud-scores", scoresCSV(t, out))
	dir := t.TempDir()
	run(t, "encode", "-m", "testdata/v1/fraud.safetensors", "--data", "testdata/v1/transactions.csv", "-o", filepath.Join(dir, "codes.csv"))
	check(t, "v1-fraud-codes", matrixCSV(t, filepath.Join(dir, "codes.csv")))
}

// TestV1SeriesModel scores a time series with a windowed detector.
func TestV1SeriesModel(t *testing.T) {
	out := run(t, "score", "-m", "testdata/v1/series.safetensors", "--data", "testdata/v1/series.csv", "--top", "2")
	check(t, "v1-series-scores", scoresCSV(t, out))
}

// scoresCSV turns score's CSV into numbers: score, anomaly flag and the
// shares of the top features (with a hash of their names, so a changed
// order or name shows).
func scoresCSV(t *testing.T, s string) outputs {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(s), "\n")
	header := strings.Split(lines[0], ",")
	o := outputs{}
	for _, line := range lines[1:] {
		f := strings.Split(line, ",")
		for i, h := range header {
			switch {
			case h == "row" || h == "label":
			case strings.HasSuffix(h, "_share") || h == "score" || h == "anomaly":
				v, err := strconv.ParseFloat(f[i], 64)
				if err != nil {
					t.Fatalf("%s: %q", h, f[i])
				}
				o[h] = append(o[h], v)
			case strings.HasPrefix(h, "top"):
				var sum float64
				for _, r := range f[i] {
					sum = sum*31 + float64(r)
					sum = math.Mod(sum, 1<<20)
				}
				o[h+"_name"] = append(o[h+"_name"], sum)
			}
		}
	}
	return o
}

func matrixCSV(t *testing.T, path string) outputs {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	var vals []float64
	for _, line := range lines[1:] {
		for _, f := range strings.Split(line, ",") {
			v, err := strconv.ParseFloat(f, 64)
			if err != nil {
				t.Fatal(err)
			}
			vals = append(vals, v)
		}
	}
	return outputs{"values": vals}
}
