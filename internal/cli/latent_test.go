package cli

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/internal/parallel"
	"github.com/bottleneck-ml/bottleneck/latent"
)

// writeLabelledIDX writes n 8×8 images of a bright bar at row r (noisy)
// and the labels file beside it (label r mod 4), uncompressed.
func writeLabelledIDX(t *testing.T, dir, name string, n int, seed uint64) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 9))
	var img, lab bytes.Buffer
	binary.Write(&img, binary.BigEndian, []uint32{0x803, uint32(n), 8, 8})
	binary.Write(&lab, binary.BigEndian, []uint32{0x801, uint32(n)})
	for i := 0; i < n; i++ {
		r := rng.IntN(4) * 2
		for y := 0; y < 8; y++ {
			for x := 0; x < 8; x++ {
				v := byte(rng.IntN(40))
				if y == r {
					v = byte(200 + rng.IntN(56))
				}
				img.WriteByte(v)
			}
		}
		lab.WriteByte(byte(r / 2))
	}
	p := filepath.Join(dir, name+"-images-idx3-ubyte")
	if err := os.WriteFile(p, img.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+"-labels-idx1-ubyte"), lab.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("%s is not a PNG: %v", path, err)
	}
}

func TestLatentWorkflow(t *testing.T) {
	dir := t.TempDir()
	train := writeLabelledIDX(t, dir, "train", 400, 1)
	test := writeLabelledIDX(t, dir, "test", 200, 2)
	vae := filepath.Join(dir, "vae.safetensors")
	out := mustRun(t, "train", "--arch", "vae", "--data", train, "-o", vae, "--hidden", "16", "--code", "2",
		"--epochs", "4", "--batch", "32", "--kl-warmup", "2", "--binarize", "-q", "--no-plot")
	if !strings.Contains(out, "saved "+vae) {
		t.Fatalf("train --arch vae: %s", out)
	}
	out = mustRun(t, "inspect", vae)
	if !strings.Contains(out, "vae") || !strings.Contains(out, "likelihood bernoulli, β 1, binarised inputs true") {
		t.Errorf("inspect does not show the VAE settings:\n%s", out)
	}

	// encode: the mean code, streamed.
	codes := filepath.Join(dir, "codes.npy")
	out = mustRun(t, "encode", "-m", vae, "--data", test, "-o", codes, "--batch", "7")
	if !strings.Contains(out, "200 codes of size 2") {
		t.Errorf("encode: %s", out)
	}
	b, _ := os.ReadFile(codes)
	if !bytes.Contains(b, []byte("(200, 2)")) || len(b) != 128+200*2*4 {
		t.Errorf("codes.npy: %d bytes, header %q", len(b), b[:min(len(b), 80)])
	}

	// probe
	out = mustRun(t, "probe", "-m", vae, "--train", train, "--test", test, "--json")
	var pr ProbeResult
	if err := json.Unmarshal([]byte(out), &pr); err != nil {
		t.Fatalf("probe --json: %v\n%s", err, out)
	}
	if pr.Accuracy <= 0 || pr.Accuracy > 1 || pr.PCA == nil || pr.Raw == nil || pr.Raw.Features != 64 || pr.PCA.Features != 2 || pr.Classes != 4 {
		t.Errorf("probe result %+v", pr)
	}
	if pr.Raw.Accuracy < 0.95 {
		t.Errorf("raw-pixel probe on separable bars: accuracy %.3f; want ≥ 0.95", pr.Raw.Accuracy)
	}
	out = mustRun(t, "probe", "-m", vae, "--train", train, "--test", test)
	for _, want := range []string{"code", "pca", "raw", "accuracy"} {
		if !strings.Contains(out, want) {
			t.Errorf("probe output lacks %q:\n%s", want, out)
		}
	}

	// eval --nll
	out = mustRun(t, "eval", "-m", vae, "--data", test, "--nll", "--samples", "50", "--json")
	var nr latent.NLLResult
	if err := json.Unmarshal([]byte(out), &nr); err != nil {
		t.Fatalf("eval --nll --json: %v\n%s", err, out)
	}
	if nr.Rows != 200 || !nr.Binarized || nr.NLL <= 0 || nr.NLL > nr.NegELBO {
		t.Errorf("eval --nll = %+v; want 200 binarised rows, 0 < nll ≤ −elbo", nr)
	}
	old := parallel.Threads()
	out2 := mustRun(t, "eval", "-m", vae, "--data", test, "--nll", "--samples", "50", "--json", "--threads", "1")
	parallel.SetThreads(old)
	var nr1 latent.NLLResult
	json.Unmarshal([]byte(out2), &nr1)
	if nr1.NLL != nr.NLL || nr1.NegELBO != nr.NegELBO {
		t.Errorf("eval --nll depends on the thread count:\n%s\n%s", out, out2)
	}

	// generate, interpolate, latent-map
	grid := filepath.Join(dir, "grid.png")
	mustRun(t, "generate", "-m", vae, "-n", "9", "-o", grid)
	checkPNG(t, grid)
	samples := filepath.Join(dir, "samples.npy")
	mustRun(t, "generate", "-m", vae, "-n", "5", "-o", samples)
	strip := filepath.Join(dir, "strip.png")
	out = mustRun(t, "interpolate", "-m", vae, "--data", test, "--from", "0", "--to", "1", "--steps", "5", "-o", strip)
	if !strings.Contains(out, "spherical") {
		t.Errorf("interpolate of a VAE is not spherical: %s", out)
	}
	checkPNG(t, strip)
	// An image file as one end.
	digit := filepath.Join(dir, "bar.png")
	im := image.NewGray(image.Rect(0, 0, 8, 8))
	for x := 0; x < 8; x++ {
		im.SetGray(x, 2, color.Gray{Y: 255})
	}
	f, _ := os.Create(digit)
	png.Encode(f, im)
	f.Close()
	mustRun(t, "interpolate", "-m", vae, "--from", digit, "--to", "1", "--data", test, "-o", strip)
	if code, _, errs := run(t, "interpolate", "-m", vae, "--from", grid, "--to", "1", "--data", test, "-o", strip); code == 0 || !strings.Contains(errs, "the model takes 8×8") {
		t.Errorf("interpolate from an image of the wrong size: exit %d, %s", code, errs)
	}
	lmap := filepath.Join(dir, "map.png")
	out = mustRun(t, "latent-map", "-m", vae, "--data", test, "-o", lmap)
	if !strings.Contains(out, "2-d code") {
		t.Errorf("latent-map of a 2-d code: %s", out)
	}
	checkPNG(t, lmap)

	// A plain sparse autoencoder: mean activation reported; generate needs --data.
	ae := filepath.Join(dir, "sparse.safetensors")
	out = mustRun(t, "train", "--data", train, "-o", ae, "--hidden", "16", "--code", "4", "--epochs", "2",
		"--sparsity", "kl:0.05:1", "--code-activation", "sigmoid", "-q", "--no-plot")
	if !strings.Contains(out, "mean activation") {
		t.Errorf("sparse train does not report the mean activation: %s", out)
	}
	out = mustRun(t, "latent-map", "-m", ae, "--data", test, "-o", lmap)
	if !strings.Contains(out, "PCA") {
		t.Errorf("latent-map of a 4-d code: %s", out)
	}
	mustRun(t, "generate", "-m", ae, "--data", test, "-n", "4", "-o", grid)
	out = mustRun(t, "interpolate", "-m", ae, "--data", test, "--from", "0", "--to", "3", "-o", samples)
	if !strings.Contains(out, "linear") {
		t.Errorf("interpolate of an AE is not linear: %s", out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"eval", "-m", ae, "--data", test, "--nll"}, "needs a VAE"},
		{[]string{"generate", "-m", ae, "-o", grid}, "pass --data"},
		{[]string{"probe", "-m", vae, "--train", train}, "--test are required"},
		{[]string{"train", "--data", train, "-o", ae, "--beta", "2"}, "--arch vae"},
		{[]string{"train", "--arch", "vae", "--data", train, "-o", ae, "--sparsity", "l1:1"}, "plain autoencoders"},
		{[]string{"train", "--data", train, "-o", ae, "--sparsity", "l3"}, "want l1"},
		{[]string{"interpolate", "-m", vae, "--data", test, "--from", "0", "--to", "9999", "-o", strip}, "rows 0 to 199"},
		{[]string{"generate", "-m", "no-such-model", "-o", grid}, "no such file"},
		{[]string{"latent-map", "-m", vae, "--data", test, "-o", "map.jpg"}, ".png"},
	} {
		code, _, errs := run(t, tc.args...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("bottleneck %s: exit %d, stderr %q; want an error containing %q", strings.Join(tc.args, " "), code, errs, tc.want)
		}
	}
}

func TestModelsCommand(t *testing.T) {
	out := mustRun(t, "models", "--json")
	var es []map[string]any
	if err := json.Unmarshal([]byte(out), &es); err != nil {
		t.Fatalf("models --json: %v\n%s", err, out)
	}
	dir := t.TempDir()
	for _, e := range es {
		if e["kind"] != "vae" {
			continue
		}
		name := e["name"].(string)
		grid := filepath.Join(dir, name+".png")
		mustRun(t, "generate", "-m", name, "-n", "4", "-o", grid)
		checkPNG(t, grid)
	}
	mustRun(t, "models")
}

// TestProbeConvModel probes a small convolutional image model.
func TestProbeConvModel(t *testing.T) {
	dir := t.TempDir()
	train := writeLabelledIDX(t, dir, "train", 200, 1)
	test := writeLabelledIDX(t, dir, "test", 100, 2)
	model := filepath.Join(dir, "conv.safetensors")
	mustRun(t, "train", "--task", "reconstruct", "--data", train, "--encoder", "conv:2:3:s2,relu", "--decoder", "convt:1:3:s2,sigmoid",
		"--patch", "8", "--epochs", "1", "--steps", "5", "--batch", "16", "-o", model, "-q", "--no-plot")
	out := mustRun(t, "probe", "-m", model, "--train", train, "--test", test, "--json", "--baselines=false")
	var pr ProbeResult
	if err := json.Unmarshal([]byte(out), &pr); err != nil {
		t.Fatalf("probe --json: %v\n%s", err, out)
	}
	if pr.Arch != "conv" || pr.Code.Features != 2*4*4 || pr.Accuracy <= 0 {
		t.Errorf("probe of a conv model = %+v; want arch conv, 32 code features", pr)
	}
	codes := filepath.Join(dir, "codes.csv")
	out = mustRun(t, "encode", "-m", model, "--data", test, "-o", codes)
	if !strings.Contains(out, "100 codes of size 32") {
		t.Errorf("encode of a conv model: %s", out)
	}
}

// TestConvVAEWorkflow trains a small convolutional VAE and runs every
// latent command on it: encode (μ), probe, generate, interpolate and
// eval --nll; and checks the flags that make no sense for it are refused.
func TestConvVAEWorkflow(t *testing.T) {
	dir := t.TempDir()
	train := writeLabelledIDX(t, dir, "train", 200, 1)
	test := writeLabelledIDX(t, dir, "test", 60, 2)
	model := filepath.Join(dir, "cvae.safetensors")
	mustRun(t, "train", "--task", "reconstruct", "--arch", "vae", "--data", train,
		"--encoder", "conv:4:3:s2,relu,flatten,dense:8", "--decoder", "dense:64,relu,reshape:4:4:4,convt:1:3:s2,sigmoid",
		"--binarize", "--kl-warmup", "1", "--patch", "8", "--epochs", "2", "--steps", "10", "--batch", "16", "-o", model, "-q", "--no-plot")
	out := mustRun(t, "inspect", model)
	for _, want := range []string{"convolutional VAE", "code 4", "binarised inputs true", "training     2/2 epochs"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect of a conv VAE lacks %q:\n%s", want, out)
		}
	}
	out = mustRun(t, "encode", "-m", model, "--data", test, "-o", filepath.Join(dir, "codes.npy"))
	if !strings.Contains(out, "60 codes of size 4") {
		t.Errorf("encode of a conv VAE writes μ (4 values): %s", out)
	}
	grid := filepath.Join(dir, "grid.png")
	out = mustRun(t, "generate", "-m", model, "-n", "9", "-o", grid)
	if !strings.Contains(out, "prior N(0, I)") {
		t.Errorf("generate: %s", out)
	}
	checkPNG(t, grid)
	strip := filepath.Join(dir, "strip.png")
	out = mustRun(t, "interpolate", "-m", model, "--data", test, "--from", "0", "--to", "5", "--steps", "4", "-o", strip)
	if !strings.Contains(out, "spherical") {
		t.Errorf("interpolate: %s", out)
	}
	checkPNG(t, strip)
	lmap := filepath.Join(dir, "tsne.png")
	out = mustRun(t, "latent-map", "-m", model, "--data", test, "--method", "tsne", "--perplexity", "5", "-n", "40", "-o", lmap)
	if !strings.Contains(out, "40 points, t-SNE of the 4-d codes") {
		t.Errorf("latent-map --method tsne: %s", out)
	}
	checkPNG(t, lmap)
	if code, _, _ := run(t, "latent-map", "-m", model, "--data", test, "--method", "umap", "-o", lmap); code == 0 {
		t.Error("latent-map --method umap: no error")
	}
	out = mustRun(t, "eval", "-m", model, "--data", test, "--nll", "--samples", "30", "--json")
	var r latent.NLLResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("eval --nll --json: %v\n%s", err, out)
	}
	if r.Rows != 60 || !r.Binarized || !(r.NLL > 0 && r.NLL <= r.NegELBO) {
		t.Errorf("eval --nll = %+v; want 60 binarised rows, 0 < NLL ≤ −ELBO", r)
	}
	// The same estimate at 1 and 2 threads.
	one := mustRun(t, "--threads", "1", "eval", "-m", model, "--data", test, "--nll", "--samples", "30", "--json")
	var r1 latent.NLLResult
	json.Unmarshal([]byte(one), &r1)
	if r1.NLL != r.NLL {
		t.Errorf("NLL %v at 1 thread, %v at the default", r1.NLL, r.NLL)
	}
	for _, args := range [][]string{
		{"train", "--task", "denoise", "--noise", "gaussian:25", "--arch", "vae", "--data", train, "--preset", "mnist-vae-conv", "-o", model + "2"},
		{"train", "--task", "reconstruct", "--data", train, "--encoder", "conv:2:3:s2,relu", "--decoder", "convt:1:3:s2,sigmoid", "--patch", "8", "--beta", "2", "-o", model + "3"},
		{"train", "--task", "reconstruct", "--arch", "vae", "--data", train, "--encoder", "conv:2:3:s2,relu,flatten,dense:7", "--decoder", "dense:64,relu,reshape:4:4:4,convt:1:3:s2,sigmoid", "--patch", "8", "-o", model + "4"},
	} {
		if code, _, errs := run(t, args...); code == 0 || errs == "" {
			t.Errorf("bottleneck %s: exit %d, stderr %q; want a usage error", strings.Join(args, " "), code, errs)
		}
	}
}

// TestConvEncodeNPY encodes the same images from IDX and from a float NPY
// file in [0,1] (streamed; uint8 NPY files are read as pixels 0–255 like
// IDX): the codes must agree.
func TestConvEncodeNPY(t *testing.T) {
	dir := t.TempDir()
	var raw bytes.Buffer // 30 random 28×28 images, the shipped mnist-conv's size
	binary.Write(&raw, binary.BigEndian, []uint32{0x803, 30, 28, 28})
	rng := rand.New(rand.NewPCG(8, 8))
	for range 30 * 28 * 28 {
		raw.WriteByte(byte(rng.IntN(256)))
	}
	test := filepath.Join(dir, "rand-images-idx3-ubyte")
	if err := os.WriteFile(test, raw.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.Load(test, dataset.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, scale float32) string {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		x := make([]float32, len(ds.X.Data))
		for i, v := range ds.X.Data {
			x[i] = float32(math.Round(float64(v*255))) * scale
		}
		if err := dataset.WriteNPY(f, x, []int{30, 1, 28, 28}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	unit := write("unit.npy", 1.0/255)
	var codes [][]float32
	for _, in := range []string{test, unit} {
		out := filepath.Join(dir, "codes.npy")
		mustRun(t, "encode", "-m", "mnist-conv", "--data", in, "-o", out, "--batch", "7")
		f, _ := os.Open(out)
		c, shape, err := dataset.ReadNPY(f)
		f.Close()
		if err != nil || len(shape) != 2 || shape[0] != 30 || shape[1] != 32 {
			t.Fatalf("encode %s: shape %v, %v", in, shape, err)
		}
		codes = append(codes, c)
	}
	for k := 1; k < len(codes); k++ {
		for i := range codes[0] {
			if math.Abs(float64(codes[k][i]-codes[0][i])) > 1e-4 {
				t.Fatalf("input %d: code[%d] = %v, from IDX %v", k, i, codes[k][i], codes[0][i])
			}
		}
	}
}

// TestConvVAEGaussianCLI trains a Gaussian conv VAE from the preset (its
// sigmoid dropped) and checks inspect and eval --nll.
func TestConvVAEGaussianCLI(t *testing.T) {
	dir := t.TempDir()
	var raw bytes.Buffer
	binary.Write(&raw, binary.BigEndian, []uint32{0x803, 64, 28, 28})
	rng := rand.New(rand.NewPCG(2, 2))
	for range 64 * 28 * 28 {
		raw.WriteByte(byte(rng.IntN(256)))
	}
	data := filepath.Join(dir, "rand-images-idx3-ubyte")
	if err := os.WriteFile(data, raw.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "g.safetensors")
	mustRun(t, "train", "--task", "reconstruct", "--preset", "mnist-vae-conv:4", "--likelihood", "gaussian", "--data", data,
		"--patch", "28", "--epochs", "1", "--steps", "3", "--batch", "8", "-o", model, "-q", "--no-plot")
	out := mustRun(t, "inspect", model)
	if !strings.Contains(out, "likelihood gaussian") || strings.Contains(out, "sigmoid") {
		t.Errorf("inspect of a Gaussian conv VAE:\n%s", out)
	}
	out = mustRun(t, "eval", "-m", model, "--data", data, "--nll", "--samples", "5", "--max-rows", "4", "--json")
	var r latent.NLLResult
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Rows != 4 || r.Binarized {
		t.Errorf("eval --nll: %+v, %v", r, err)
	}
	if code, _, _ := run(t, "train", "--task", "reconstruct", "--preset", "mnist-vae-conv:4", "--likelihood", "gaussian", "--binarize",
		"--data", data, "--patch", "28", "-o", model+"2"); code == 0 {
		t.Error("gaussian with --binarize: no error")
	}
}
