package ae

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

func TestConvPresetsBuild(t *testing.T) {
	for _, p := range []string{"restore", "restore:4:8", "colorize:8", "mnist-conv:16"} {
		cfg, err := ConvPreset(p, 1)
		if err != nil {
			t.Fatalf("ConvPreset(%q): %v", p, err)
		}
		m, err := NewConv(cfg, 1)
		if err != nil {
			t.Fatalf("NewConv(%q): %v", p, err)
		}
		h := 16
		if cfg.InputShape != nil {
			h = cfg.InputShape[1]
		}
		x := tensor.New(2, cfg.InChannels, h, h)
		y, err := m.Apply(x)
		if err != nil {
			t.Fatal(err)
		}
		if want := []int{2, cfg.OutChannels, h, h}; !slices.Equal(y.Shape, want) {
			t.Errorf("%s: output %v; want %v", p, y.Shape, want)
		}
	}
}

func TestConvSpeed(t *testing.T) {
	if testing.Short() {
		t.Skip("manual")
	}
	cfg, _ := ConvPreset("restore:12:64", 1)
	m, _ := NewConv(cfg, 1)
	x := tensor.New(16, 1, 64, 64)
	y := tensor.New(16, 1, 64, 64)
	m.TrainStep(x, y)
	st := time.Now()
	for range 3 {
		m.TrainStep(x, y)
	}
	t.Logf("step %.2fs", time.Since(st).Seconds()/3)
	_ = context.Background
	_ = filepath.Join
	_ = rand.New
}

func randTensor(rng *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	for i := range t.Data {
		t.Data[i] = rng.Float32()
	}
	return t
}

// TestConvSaveLoadBatchNorm trains a model with BatchNorm a few steps (so
// the running statistics move), saves and loads it, and checks that the
// loaded model gives the same outputs in inference mode.
func TestConvSaveLoadBatchNorm(t *testing.T) {
	cfg := ConvConfig{Arch: ArchConv, Task: TaskDenoise, InChannels: 1, OutChannels: 1,
		Encoder: []string{"conv:4:3:s2", "bn", "relu"}, Decoder: []string{"convt:4:3:s2", "bn", "relu", "conv:1:3"},
		Residual: true, Loss: "mse"}
	m, err := NewConv(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Buffers) != 4 {
		t.Fatalf("%d buffers; want 4 (2 BatchNorm × mean, var)", len(m.Buffers))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := randTensor(rng, 4, 1, 8, 8)
	for range 3 {
		m.Params.ZeroGrad()
		if _, err := m.TrainStep(x, x); err != nil {
			t.Fatal(err)
		}
	}
	if m.Buffers[0].W[0] == 0 {
		t.Fatal("running mean did not move")
	}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	l, err := LoadConv(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Buffers {
		if !slices.Equal(m.Buffers[i].W, l.Buffers[i].W) {
			t.Errorf("buffer %s differs after load", m.Buffers[i].Name)
		}
	}
	// a different size shares the weights
	x2 := randTensor(rng, 1, 1, 12, 16)
	a, _ := m.Apply(x2)
	want := slices.Clone(a.Data)
	b, err := l.Apply(x2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(b.Data, want) {
		t.Error("loaded model gives different outputs")
	}
	if _, err := Load(path); !errors.Is(err, ErrConvModel) {
		t.Errorf("ae.Load(conv file) = %v; want ErrConvModel", err)
	}
	if _, err := l.Apply(randTensor(rng, 1, 1, 9, 9)); err == nil {
		t.Error("odd input for a stride-2 model: want an error")
	}
}

// TestConvGrad checks TrainStep's weight gradients of a residual model with
// a pixel (un)shuffle against central differences of the loss.
func TestConvGrad(t *testing.T) {
	cfg, _ := ConvPreset("restore:3:4", 1)
	m, err := NewConv(cfg, 5)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	x := randTensor(rng, 2, 1, 6, 6)
	y := randTensor(rng, 2, 1, 6, 6)
	m.Params.ZeroGrad()
	if _, err := m.TrainStep(x, y); err != nil {
		t.Fatal(err)
	}
	g := slices.Clone(m.Params.G)
	const eps = 1e-2
	for _, i := range []int{0, 7, 40, 100, len(g) / 2, len(g) - 5, len(g) - 1} {
		w := m.Params.W[i]
		m.Params.W[i] = w + eps
		lp, _ := m.Loss(x, y)
		m.Params.W[i] = w - eps
		lm, _ := m.Loss(x, y)
		m.Params.W[i] = w
		num := (lp - lm) / (2 * eps)
		if d := math.Abs(num - float64(g[i])); d > 1e-2*math.Max(math.Abs(num), 1e-3)+1e-5 {
			t.Errorf("grad[%d] = %v; numeric %v", i, g[i], num)
		}
	}
}

// TestFitConvResume trains a tiny denoiser two epochs, resumes to four,
// and checks the loss went down and the checkpoint carried on.
func TestFitConvResume(t *testing.T) {
	cfg, _ := ConvPreset("restore:3:8", 1)
	m, _ := NewConv(cfg, 1)
	dir := t.TempDir()
	out := filepath.Join(dir, "d.safetensors")
	fill := func(x, y *tensor.Tensor, rng *rand.Rand) {
		for i := range y.Data {
			y.Data[i] = float32(i%8) / 8
			x.Data[i] = y.Data[i] + 0.1*float32(rng.NormFloat64())
		}
	}
	opt := ConvFitOptions{Epochs: 2, Steps: 20, Batch: 4, Patch: 8, LR: 3e-3, Output: out, Fill: fill, EMA: 0.9}
	rec, err := FitConv(context.Background(), m, opt, "test")
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := NewConv(cfg, 1)
	opt.Epochs, opt.Resume = 4, true
	rec2, err := FitConv(context.Background(), m2, opt, "test")
	if err != nil {
		t.Fatal(err)
	}
	if rec2.Epochs != 4 || len(rec2.TrainLoss) != 4 || rec2.TrainLoss[0] != rec.TrainLoss[0] {
		t.Fatalf("resumed record %+v", rec2)
	}
	if rec2.TrainLoss[3] >= rec2.TrainLoss[0] {
		t.Errorf("loss did not fall: %v", rec2.TrainLoss)
	}
	l, err := LoadConv(out)
	if err != nil || !slices.Equal(l.Params.W, m2.Params.W) {
		t.Errorf("saved model differs from trained: %v", err)
	}
}

// TestRunTiledMatchesWhole runs a small fully convolutional model over an
// image larger than a tile and compares with one pass over the whole image:
// the overlapping tiles must blend without visible seams.
func TestRunTiledMatchesWhole(t *testing.T) {
	cfg, _ := ConvPreset("restore:3:4", 1)
	m, _ := NewConv(cfg, 2)
	rng := rand.New(rand.NewPCG(9, 9))
	img := imageio.New(1, 90, 70)
	for y := range img.H {
		for x := range img.W {
			img.Pix[y*img.W+x] = 0.5 + 0.3*float32(math.Sin(float64(x)/5)*math.Cos(float64(y)/7)) + 0.05*rng.Float32()
		}
	}
	old, oldO := TileSize, TileOverlap
	TileSize, TileOverlap = 48, 16
	defer func() { TileSize, TileOverlap = old, oldO }()
	tiled, err := m.Run(img)
	if err != nil {
		t.Fatal(err)
	}
	whole, err := m.Apply(&tensor.Tensor{Shape: []int{1, 1, 90, 70}, Data: img.Pix})
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for i := range tiled.Pix {
		worst = math.Max(worst, math.Abs(float64(tiled.Pix[i]-whole.Data[i])))
	}
	if worst > 2e-3 {
		t.Errorf("tiled vs whole: max difference %v", worst)
	}
	t.Logf("tiled vs whole: max difference %.2g", worst)
}

func TestDihedralInverse(t *testing.T) {
	img := imageio.New(2, 3, 5)
	for i := range img.Pix {
		img.Pix[i] = float32(i)
	}
	for tr := range 8 {
		back := dihedral(dihedral(img, tr, false), tr, true)
		if back.H != 3 || back.W != 5 || !slices.Equal(back.Pix, img.Pix) {
			t.Errorf("dihedral %d: inverse does not undo it", tr)
		}
	}
	// the ensemble of a model runs and keeps the size
	cfg, _ := ConvPreset("restore:3:4", 1)
	m, _ := NewConv(cfg, 1)
	m.Ensemble = true
	out, err := m.Run(imageio.New(1, 10, 14))
	if err != nil || out.H != 10 || out.W != 14 {
		t.Fatalf("ensemble Run: %v", err)
	}
}

// TestConvGradBCE checks the gradients of a sigmoid model trained with BCE
// on its logits.
func TestConvGradBCE(t *testing.T) {
	cfg := ConvConfig{Arch: ArchConv, InChannels: 1, OutChannels: 1, Encoder: []string{"conv:3:3", "relu", "maxpool:2"},
		Decoder: []string{"upsample:2", "conv:1:3", "sigmoid"}, Loss: "bce"}
	m, err := NewConv(cfg, 5)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	x := randTensor(rng, 2, 1, 6, 6)
	y := randTensor(rng, 2, 1, 6, 6)
	m.Params.ZeroGrad()
	if _, err := m.TrainStep(x, y); err != nil {
		t.Fatal(err)
	}
	g := slices.Clone(m.Params.G)
	const eps = 1e-2
	for i := range g {
		w := m.Params.W[i]
		m.Params.W[i] = w + eps
		lp, _ := m.Loss(x, y)
		m.Params.W[i] = w - eps
		lm, _ := m.Loss(x, y)
		m.Params.W[i] = w
		num := (lp - lm) / (2 * eps)
		if d := math.Abs(num - float64(g[i])); d > 1e-2*math.Max(math.Abs(num), 1e-3)+1e-5 {
			t.Errorf("grad[%d] = %v; numeric %v", i, g[i], num)
		}
	}
	cfg.Decoder[2] = "relu"
	if _, err := NewConv(cfg, 1); err == nil {
		t.Error("bce without a sigmoid output: want an error")
	}
}

// TestFitConvEMABatchNorm checks that with EMA the saved model carries
// averaged BatchNorm statistics (not the raw model's, which the checkpoint
// keeps), and that a run resumed from a checkpoint ends where an
// uninterrupted one does.
func TestFitConvEMABatchNorm(t *testing.T) {
	cfg := ConvConfig{Arch: ArchConv, InChannels: 1, OutChannels: 1, Encoder: []string{"conv:4:3", "bn", "relu"},
		Decoder: []string{"conv:1:3"}, Residual: true, Loss: "mse"}
	fill := func(x, y *tensor.Tensor, rng *rand.Rand) {
		for i := range y.Data {
			y.Data[i] = float32(i%8) / 8
			x.Data[i] = y.Data[i] + 0.3*float32(rng.NormFloat64())
		}
	}
	dir := t.TempDir()
	run := func(name string, epochs ...int) *ConvModel {
		m, err := NewConv(cfg, 1)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, name)
		for _, e := range epochs {
			opt := ConvFitOptions{Epochs: e, Steps: 15, Batch: 4, Patch: 8, LR: 3e-3, Output: out, Resume: true, Fill: fill, EMA: 0.8}
			if _, err := FitConv(context.Background(), m, opt, "test"); err != nil {
				t.Fatal(err)
			}
		}
		return m
	}
	whole := run("whole.safetensors", 3)
	parts := run("parts.safetensors", 1, 3)
	saved, err := LoadConv(filepath.Join(dir, "parts.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	ckpt, err := LoadConv(filepath.Join(dir, "parts.safetensors.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range saved.Buffers {
		if !slices.Equal(b.W, whole.Buffers[i].W) || !slices.Equal(b.W, parts.Buffers[i].W) {
			t.Errorf("%s: saved %v, uninterrupted run %v", b.Name, b.W, whole.Buffers[i].W)
		}
		if slices.Equal(b.W, ckpt.Buffers[i].W) {
			t.Errorf("%s: the saved model has the raw running statistics %v; want their average", b.Name, b.W)
		}
	}
	if !slices.Equal(saved.Params.W, whole.Params.W) {
		t.Error("resumed run's weights differ from the uninterrupted run's")
	}
}
