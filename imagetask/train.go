package imagetask

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/noise"
	"github.com/bottleneck-ml/bottleneck/patches"
	"github.com/bottleneck-ml/bottleneck/train"
)

// TrainOptions configure Train.
type TrainOptions struct {
	// Task is reconstruct, denoise, upscale or colorize.
	Task string
	// Data are folders or files of pictures, or one IDX/NPY file of
	// images (MNIST-style).
	Data []string
	// Noise corrupts denoising inputs (see package noise); Scales are an
	// upscaler's factors (default 2, 3 and 4); Colour trains a denoiser or
	// reconstructor on RGB instead of grey.
	Noise  string
	Scales []int
	Colour bool
	// Patch is the training patch side (default 48; an IDX file's image
	// side).
	Patch int
	// The architecture: a Preset (see ae.Preset; default by task), or
	// Encoder and Decoder layer specs with Residual. Loss overrides the
	// preset's (mse, l1, bce). Variational makes a VAE (Likelihood, Beta,
	// Binarize as in ae.Config).
	Preset           string
	Encoder, Decoder []string
	Residual         bool
	Loss             string
	Variational      bool
	Likelihood       string
	Beta             float64
	Binarize         bool
	// Rebalance is λ of an ab-classes colorizer's class rebalancing
	// (nn.ABClassWeights, counted on Data's pictures): 0 means Zhang et
	// al.'s 0.5, 1 weighs every colour alike.
	Rebalance float64

	Batch int    // patches per step (default 16)
	Steps int    // steps per epoch (default 500)
	Seed  uint64 // weights and patches
	// ValData are pictures to report PSNR on after every epoch (for an
	// upscaler "{s}" in it is replaced by each scale), ValNoise the noise
	// a denoiser is checked with (default: the middle of Noise). They do
	// not steer training.
	ValData, ValNoise string
	// Output, when set, receives the model after every epoch (atomically),
	// so a long run can be used before it ends.
	Output string
	// Fit configures the training loop; its Seed is Seed, and KeepLast is
	// set (the last, averaged weights are kept).
	Fit train.Options
	Log io.Writer
}

// Train trains an image model on patches of o.Data for o.Task and returns
// it with its training record.
func Train(ctx context.Context, o TrainOptions) (*ae.Model, error) {
	task := &patches.Task{Kind: o.Task, Patch: o.Patch}
	if task.Patch <= 0 {
		task.Patch = 48
	}
	if o.Noise != "" {
		nm, err := noise.Parse(o.Noise)
		if err != nil {
			return nil, fmt.Errorf("imagetask: %w", err)
		}
		task.Noise = &nm
	}
	if o.Task == ae.TaskUpscale {
		task.Scales = o.Scales
		if len(task.Scales) == 0 {
			task.Scales = []int{2, 3, 4}
		}
	}
	if len(o.Data) == 0 {
		return nil, errors.New("imagetask: no training data: pass a folder of pictures (or several) or an IDX file")
	}
	var fixed []int
	if isArrayFile(o.Data) {
		p, shape, err := arrayPool(o.Data[0])
		if err != nil {
			return nil, err
		}
		task.Pool, fixed = p, shape
		if o.Patch <= 0 {
			task.Patch = shape[1]
		}
	} else {
		colour := o.Colour || o.Task == ae.TaskUpscale || o.Task == ae.TaskColorize
		p, err := patches.Load(o.Data, colour)
		if err != nil {
			return nil, err
		}
		task.Pool = p
	}
	if err := task.Check(); err != nil {
		return nil, err
	}
	cfg, err := o.config(task, fixed)
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.Loss == ae.LossABClasses:
		if cfg.ClassWeights, err = classWeights(task.Pool, o.Rebalance); err != nil {
			return nil, err
		}
	case o.Rebalance != 0:
		return nil, fmt.Errorf("imagetask: rebalance is for colorizers that classify colours (preset colorize-classes); this model's loss is %s", cfg.Loss)
	}
	if cfg.Multiple() > 1 && task.Patch%cfg.Multiple() != 0 {
		return nil, fmt.Errorf("imagetask: patch %d must be a multiple of %d for this architecture", task.Patch, cfg.Multiple())
	}
	m, err := ae.New(cfg, o.Seed)
	if err != nil {
		return nil, err
	}
	batch, steps := o.Batch, o.Steps
	if batch <= 0 {
		batch = 16
	}
	if steps <= 0 {
		steps = 500
	}
	logf(o.Log, "task %s: %d images (%d pixels), %d parameters, patch %d, batch %d, %d steps/epoch\n",
		o.Task, task.Pool.Len(), task.Pool.Pixels(), m.NumParams(), task.Patch, batch, steps)
	fit := o.Fit
	fit.Seed, fit.KeepLast = o.Seed, true
	if fit.Log == nil {
		fit.Log = o.Log
	}
	if fit.Validate, err = validator(&o, task, fixed); err != nil {
		return nil, err
	}
	onEpoch := fit.OnEpoch
	fit.OnEpoch = func(m *ae.Model, rec *train.Record) error {
		rec.Patch = task.Patch
		if o.Output != "" {
			if err := m.Save(o.Output); err != nil {
				return err
			}
		}
		if onEpoch != nil {
			return onEpoch(m, rec)
		}
		return nil
	}
	src := task.Source(batch, steps, o.Seed)
	rec, err := train.Fit(ctx, m, src, nil, fit)
	if err != nil {
		return nil, err
	}
	rec.Patch = task.Patch
	return m, nil
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

// isArrayFile reports whether data is one IDX/NPY file rather than
// pictures.
func isArrayFile(data []string) bool {
	if len(data) != 1 {
		return false
	}
	st, err := os.Stat(data[0])
	if err != nil || st.IsDir() {
		return false
	}
	switch strings.ToLower(filepath.Ext(data[0])) {
	case ".png", ".jpg", ".jpeg", ".bmp":
		return false
	}
	return true
}

// arrayPool turns an IDX/NPY image file (rows in [0,1]) into a patch pool.
func arrayPool(path string) (*patches.Pool, []int, error) {
	ds, err := dataset.Load(path, dataset.LoadOptions{})
	if err != nil {
		return nil, nil, err
	}
	if len(ds.Shape) != 3 || ds.Shape[0] != 1 {
		return nil, nil, fmt.Errorf("imagetask: %s: samples have shape %v; image tasks need grey images [1 H W] or a folder of pictures", path, ds.Shape)
	}
	h, w := ds.Shape[1], ds.Shape[2]
	imgs := make([]image.Image, ds.Len())
	for i := range imgs {
		g := image.NewGray(image.Rect(0, 0, w, h))
		row := ds.X.Data[i*h*w : (i+1)*h*w]
		for j, v := range row {
			g.Pix[j] = uint8(min(max(v*255+0.5, 0), 255))
		}
		imgs[i] = g
	}
	p := patches.FromImages(false, imgs...)
	p.NoAugment = true
	return p, ds.Shape, nil
}

// config builds the architecture for the task.
func (o *TrainOptions) config(task *patches.Task, fixed []int) (ae.Config, error) {
	in, out := task.Channels()
	var cfg ae.Config
	switch {
	case len(o.Encoder) > 0 || len(o.Decoder) > 0:
		cfg = ae.Config{Channels: in, Encoder: o.Encoder, Decoder: o.Decoder, Residual: o.Residual, Loss: ae.LossMSE}
		if cfg.ClassifiesColours() {
			cfg.Loss = ae.LossABClasses // a colorizer's class logits, decoded by abmean
		}
	default:
		preset := o.Preset
		if preset == "" {
			switch {
			case fixed != nil && fixed[1] == 28 && fixed[2] == 28:
				preset = "mnist-conv"
			case o.Task == ae.TaskColorize:
				preset = "colorize"
			case o.Task == ae.TaskReconstruct:
				return cfg, errors.New("imagetask: reconstructing pictures needs a preset or encoder/decoder layers")
			default:
				preset = "restore"
			}
		}
		var err error
		if cfg, err = ae.Preset(preset, in); err != nil {
			return cfg, err
		}
	}
	hasDense := slices.ContainsFunc(append(slices.Clone(cfg.Encoder), cfg.Decoder...), func(s string) bool { return strings.HasPrefix(s, "dense") })
	if fixed != nil && cfg.Input == nil && hasDense {
		cfg.Input, cfg.Channels = fixed, 0
	}
	if cfg.Input != nil && (cfg.Input[1] != task.Patch || cfg.Input[2] != task.Patch) {
		return cfg, fmt.Errorf("imagetask: the architecture takes %d×%d inputs; pass --patch %d", cfg.Input[2], cfg.Input[1], cfg.Input[1])
	}
	switch o.Loss {
	case "":
	case ae.LossL1, ae.LossMSE, ae.LossBCE, ae.LossABClasses:
		cfg.Loss = o.Loss
	default:
		return cfg, fmt.Errorf("imagetask: loss %q: image models take mse, l1, bce (with a sigmoid output) or ab-classes (a colorizer ending in abmean:T)", o.Loss)
	}
	if o.Variational {
		cfg.Variational = true
	}
	if cfg.Variational {
		if o.Task != ae.TaskReconstruct {
			return cfg, fmt.Errorf("imagetask: a convolutional VAE trains to reconstruct (task %s)", o.Task)
		}
		cfg.Loss = ae.LossELBO
		switch o.Likelihood {
		case "", ae.LikelihoodBernoulli:
			cfg.Likelihood = ae.LikelihoodBernoulli
		case ae.LikelihoodGaussian:
			// the decoder's output is the Gaussian's mean: drop a final
			// sigmoid (a preset's)
			cfg.Likelihood = ae.LikelihoodGaussian
			if n := len(cfg.Decoder); n > 0 && cfg.Decoder[n-1] == "sigmoid" {
				cfg.Decoder = cfg.Decoder[:n-1]
			}
		default:
			return cfg, fmt.Errorf("imagetask: likelihood %q: want bernoulli or gaussian", o.Likelihood)
		}
		cfg.Beta = o.Beta
		if cfg.Beta == 0 {
			cfg.Beta = 1
		}
		cfg.Binarize = o.Binarize
	} else if o.Likelihood != "" || o.Binarize || o.Beta != 0 {
		return cfg, errors.New("imagetask: likelihood, beta and binarize are for VAEs (variational, or the mnist-vae-conv preset)")
	}
	cfg.Task = o.Task
	if task.Noise != nil {
		cfg.Noise = task.Noise.String()
	}
	cfg.Scales = task.Scales
	if cfg.Color == "" {
		switch {
		case o.Task == ae.TaskUpscale:
			cfg.Color = "y"
		case in == 3:
			cfg.Color = "rgb"
		default:
			cfg.Color = "grey"
		}
	}
	if cfg.InChannels() != in {
		return cfg, fmt.Errorf("imagetask: the architecture takes %d channels; task %s needs %d to %d", cfg.InChannels(), o.Task, in, out)
	}
	return cfg, cfg.Validate()
}

// validator returns the per-epoch report on o.ValData, or nil.
func validator(o *TrainOptions, task *patches.Task, fixed []int) (func(*ae.Model) string, error) {
	if o.ValData == "" {
		return nil, nil
	}
	switch o.Task {
	case ae.TaskDenoise:
		nm := *task.Noise
		if o.ValNoise != "" {
			var err error
			if nm, err = noise.Parse(o.ValNoise); err != nil {
				return nil, fmt.Errorf("imagetask: validation noise: %w", err)
			}
		} else {
			nm.Lo = (nm.Lo + nm.Hi) / 2
			nm.Hi = nm.Lo
		}
		if fixed != nil {
			return setValidator(o.ValData, &nm)
		}
		files, err := imageio.List(o.ValData)
		if err != nil {
			return nil, err
		}
		return func(m *ae.Model) string {
			s, err := BenchDenoise(m, files, nm, 1, false, Options{})
			if err != nil {
				return "val error: " + err.Error()
			}
			p, _, b, _ := Mean(s)
			return fmt.Sprintf("val %s PSNR %.2f dB (noisy %.2f)", nm, p, b)
		}, nil
	case ae.TaskUpscale:
		return func(m *ae.Model) string {
			var parts []string
			for _, sc := range task.Scales {
				s, err := BenchUpscale(m, strings.ReplaceAll(o.ValData, "{s}", fmt.Sprint(sc)), sc, Options{})
				if err != nil {
					return "val error: " + err.Error()
				}
				p, _, b, _ := Mean(s)
				parts = append(parts, fmt.Sprintf("x%d %.2f (bicubic %.2f)", sc, p, b))
			}
			return "val Y-PSNR " + strings.Join(parts, ", ")
		}, nil
	case ae.TaskColorize:
		return func(m *ae.Model) string {
			s, _, err := BenchColorize(m, o.ValData, Options{})
			if err != nil {
				return "val error: " + err.Error()
			}
			p, _, b, _ := Mean(s)
			return fmt.Sprintf("val RGB PSNR %.2f dB (grey %.2f)", p, b)
		}, nil
	case ae.TaskReconstruct:
		if fixed != nil {
			return setValidator(o.ValData, nil)
		}
	}
	return nil, nil
}

// setValidator reports MSE and PSNR on the first 1000 images of an IDX
// file.
func setValidator(path string, nm *noise.Model) (func(*ae.Model) string, error) {
	ds, err := dataset.Load(path, dataset.LoadOptions{MaxRows: 1000})
	if err != nil {
		return nil, err
	}
	return func(m *ae.Model) string {
		r, err := BenchSet(m, ds, nm, 1)
		if err != nil {
			return "val error: " + err.Error()
		}
		return r.String()
	}, nil
}

// classWeights counts the colour classes of the pool's pictures, one per
// 4×4 block (a colorize-classes model's grid), and returns the
// rebalancing weights for λ (nil for λ = 1: every class alike).
func classWeights(p *patches.Pool, lambda float64) ([]float32, error) {
	if lambda == 0 {
		lambda = 0.5
	}
	if !(lambda > 0 && lambda <= 1) {
		return nil, fmt.Errorf("imagetask: rebalance λ %v: want 0 < λ ≤ 1 (1: no rebalancing)", lambda)
	}
	if lambda == 1 {
		return nil, nil
	}
	if !p.Colour {
		return nil, errors.New("imagetask: colour classes are counted on colour pictures")
	}
	counts := make([]float64, nn.ABClassCount())
	for i := range p.Len() {
		lab := imageio.RGBToLab(p.Image(i))
		nn.CountABClasses(counts, lab.Plane(1), lab.Plane(2), lab.W, 4)
	}
	return nn.ABClassWeights(counts, lambda)
}
