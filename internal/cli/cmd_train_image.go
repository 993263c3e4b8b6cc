package cli

import (
	"context"
	"fmt"
	"image"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/noise"
	"github.com/bottleneck-ml/bottleneck/patches"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// imageTrainFlags are train's flags for image tasks (--task).
type imageTrainFlags struct {
	task     string
	noise    string
	patch    int
	preset   string
	encoder  string
	decoder  string
	residual bool
	steps    int
	valData  string
	valNoise string
	colour   bool
	ema      float64
	flags    *pflag.FlagSet
}

func (o *imageTrainFlags) add(f *pflag.FlagSet) {
	o.flags = f
	f.StringVar(&o.task, "task", "", "image task: reconstruct, denoise, upscale or colorize (trains a convolutional model on patches of --data, a folder of images, several joined by commas, or an IDX file)")
	f.StringVar(&o.noise, "noise", "", "corruption for denoising: gaussian:SIGMA, gaussian:LO-HI (blind), saltpepper:P, mask:P, block:F (a square F × the side zeroed), speckle:S, poisson:PEAK, shift:PIXELS; chain kinds with + (shift:2+block:0.5); σ on the 0-255 scale; ',clip' clamps to [0,1]")
	f.IntVar(&o.patch, "patch", 48, "image tasks: training patch side in pixels")
	f.StringVar(&o.preset, "preset", "", "image tasks: architecture preset: restore[:DEPTH[:WIDTH]], colorize[:WIDTH], mnist-conv[:CODE] (default by task)")
	f.StringVar(&o.encoder, "encoder", "", "image tasks: encoder layer specs, e.g. conv:32:3:s2,relu,conv:64:3:s2,relu (overrides --preset; see ae.ConvConfig)")
	f.StringVar(&o.decoder, "decoder", "", "image tasks: decoder layer specs, e.g. convt:32:3:s2,relu,convt:1:3:s2,sigmoid")
	f.BoolVar(&o.residual, "residual", false, "image tasks with --encoder: add the input to the output (predict the residual)")
	f.IntVar(&o.steps, "steps", 500, "image tasks: training steps per epoch (data is drawn fresh every step)")
	f.StringVar(&o.valData, "val-data", "", "image tasks: images to report PSNR on after every epoch (not used for training decisions)")
	f.StringVar(&o.valNoise, "val-noise", "", "denoise: noise for --val-data (default: the middle of --noise)")
	f.Float64Var(&o.ema, "ema", 0, "image tasks: keep an exponential moving average of the weights with this decay per step (e.g. 0.998) and save it as the model")
	f.BoolVar(&o.colour, "colour", false, "denoise/reconstruct: train on RGB instead of grey")
}

// idxPool turns an IDX/NPY image file (rows in [0,1]) into a patch pool.
func idxPool(path string) (*patches.Pool, []int, error) {
	ds, err := dataset.Load(path, dataset.LoadOptions{})
	if err != nil {
		return nil, nil, err
	}
	if len(ds.Shape) != 3 || ds.Shape[0] != 1 {
		return nil, nil, usagef("--data %s: samples have shape %v; image tasks need grey images [1 H W] or a folder of pictures", path, ds.Shape)
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

func runImageTrain(ctx context.Context, o *trainOptions, g *globalOptions, stderr io.Writer) error {
	it := &o.image
	if o.output == "" {
		return usagef("-o/--output is required: pass the model file to write")
	}
	task := &patches.Task{Kind: it.task, Patch: it.patch}
	if it.noise != "" {
		nm, err := noise.Parse(it.noise)
		if err != nil {
			return usagef("--noise: %v", err)
		}
		task.Noise = &nm
	}
	if it.task == "upscale" {
		// --scale is shared with the table data flags: for --task upscale it
		// names the scale factors ("auto": 2,3,4, one model for all three)
		spec := o.data.scale
		if spec == "" || spec == "auto" {
			spec = "2,3,4"
		}
		sc, err := parseScales(spec)
		if err != nil {
			return err
		}
		task.Scales = sc
	}
	log := stderr
	if g.quiet {
		log = io.Discard
	}
	start := time.Now()
	// data
	var fixed []int
	isIDX := false
	if st, err := os.Stat(o.data.path); err == nil && !st.IsDir() && !strings.Contains(o.data.path, ",") {
		switch strings.ToLower(filepath.Ext(o.data.path)) {
		case ".png", ".jpg", ".jpeg", ".bmp":
		default:
			isIDX = true
		}
	}
	if o.data.path == "" {
		return usagef("--data is required: a folder of images (or several, comma-separated) or an IDX file")
	}
	if isIDX {
		p, shape, err := idxPool(o.data.path)
		if err != nil {
			return err
		}
		task.Pool, fixed = p, shape
		if !it.flags.Changed("patch") {
			task.Patch = shape[1]
		}
	} else {
		colour := it.colour || it.task == "upscale" || it.task == "colorize"
		p, err := patches.Load(strings.Split(o.data.path, ","), colour)
		if err != nil {
			return err
		}
		task.Pool = p
	}
	if err := task.Check(); err != nil {
		return usagef("%v", err)
	}
	in, out := task.Channels()
	// architecture
	var cfg ae.ConvConfig
	var err error
	switch {
	case it.encoder != "" || it.decoder != "":
		cfg = ae.ConvConfig{Arch: ae.ArchConv, InChannels: in, OutChannels: out, Encoder: splitSpecs(it.encoder), Decoder: splitSpecs(it.decoder), Residual: it.residual, Loss: "mse"}
	default:
		preset := it.preset
		if preset == "" {
			switch {
			case fixed != nil && fixed[1] == 28 && fixed[2] == 28:
				preset = "mnist-conv"
			case it.task == "colorize":
				preset = "colorize"
			case it.task == "reconstruct":
				return usagef("--task reconstruct on pictures needs --preset or --encoder/--decoder")
			default:
				preset = "restore"
			}
		}
		if cfg, err = ae.ConvPreset(preset, in); err != nil {
			return usagef("--preset: %v", err)
		}
	}
	if fixed != nil && cfg.InputShape == nil && strings.Contains(strings.Join(append(cfg.Encoder, cfg.Decoder...), ","), "dense") {
		cfg.InputShape = fixed
	}
	if cfg.InputShape != nil && (cfg.InputShape[1] != task.Patch || cfg.InputShape[2] != task.Patch) {
		return usagef("the architecture takes %d×%d inputs; pass --patch %d", cfg.InputShape[1], cfg.InputShape[2], cfg.InputShape[1])
	}
	switch o.loss {
	case "":
	case "l1", "mse", "bce":
		cfg.Loss = o.loss
	default:
		return usagef("--loss %q: image models take mse, l1 or bce (with a sigmoid output)", o.loss)
	}
	if err := o.latent.applyConv(&cfg, o.arch, it.task, o.loss); err != nil {
		return err
	}
	cfg.Task = it.task
	if task.Noise != nil {
		cfg.Noise = task.Noise.String()
	}
	cfg.Scales = task.Scales
	if cfg.Color == "" {
		switch {
		case it.task == "upscale":
			cfg.Color = "y"
		case in == 3:
			cfg.Color = "rgb"
		default:
			cfg.Color = "grey"
		}
	}
	if cfg.InChannels != in || cfg.OutChannels != out {
		return usagef("the architecture maps %d to %d channels; task %s needs %d to %d", cfg.InChannels, cfg.OutChannels, it.task, in, out)
	}
	m, err := ae.NewConv(cfg, o.fit.Seed)
	if err != nil {
		return usagef("%v", err)
	}
	batch := o.fit.Batch
	if !it.flags.Changed("batch") {
		batch = 16
	}
	fmt.Fprintf(log, "task %s: %d images (%d pixels), %d parameters, patch %d, batch %d, %d steps/epoch\n",
		it.task, task.Pool.Len(), task.Pool.Pixels(), m.NumParams(), task.Patch, batch, it.steps)
	validate, err := imageValidator(it, task, fixed)
	if err != nil {
		return err
	}
	rec, err := ae.FitConv(ctx, m, ae.ConvFitOptions{
		Epochs: o.fit.Epochs, Steps: it.steps, Batch: batch, Patch: task.Patch, LR: o.fit.LR,
		Schedule: o.fit.Schedule, ClipNorm: o.fit.ClipNorm, Seed: o.fit.Seed,
		Output: o.output, Resume: o.resume, Log: log, EMA: it.ema, KLWarmup: o.latent.klWarmup,
		Fill:     func(x, y *tensor.Tensor, rng *rand.Rand) { task.Fill(x, y, rng) },
		Validate: validate,
	}, "bottleneck "+strings.Join(os.Args[1:], " "))
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "wrote %s (%d epochs, %.0f s training, %.0f s total)\n", o.output, rec.Epochs, rec.Seconds, time.Since(start).Seconds())
	return nil
}

func splitSpecs(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// imageValidator returns the per-epoch report for --val-data.
func imageValidator(it *imageTrainFlags, task *patches.Task, fixed []int) (func(*ae.ConvModel) string, error) {
	if it.valData == "" {
		return nil, nil
	}
	switch it.task {
	case "denoise":
		nm := *task.Noise
		if it.valNoise != "" {
			var err error
			if nm, err = noise.Parse(it.valNoise); err != nil {
				return nil, usagef("--val-noise: %v", err)
			}
		} else {
			nm.Lo = (nm.Lo + nm.Hi) / 2
			nm.Hi = nm.Lo
		}
		if fixed != nil {
			return idxValidator(it.valData, &nm)
		}
		files, err := imageio.List(it.valData)
		if err != nil {
			return nil, err
		}
		return func(m *ae.ConvModel) string {
			s, err := scoreDenoise(m, files, nm, 1)
			if err != nil {
				return "val error: " + err.Error()
			}
			p, _, b, _ := meanScores(s)
			return fmt.Sprintf("val %s PSNR %.2f dB (noisy %.2f)", nm, p, b)
		}, nil
	case "upscale":
		return func(m *ae.ConvModel) string {
			var parts []string
			for _, sc := range task.Scales {
				s, err := scoreUpscale(m, strings.ReplaceAll(it.valData, "{s}", fmt.Sprint(sc)), sc)
				if err != nil {
					return "val error: " + err.Error()
				}
				p, _, b, _ := meanScores(s)
				parts = append(parts, fmt.Sprintf("x%d %.2f (bicubic %.2f)", sc, p, b))
			}
			return "val Y-PSNR " + strings.Join(parts, ", ")
		}, nil
	case "colorize":
		return func(m *ae.ConvModel) string {
			s, err := scoreColorize(m, it.valData)
			if err != nil {
				return "val error: " + err.Error()
			}
			p, _, b, _ := meanScores(s)
			return fmt.Sprintf("val RGB PSNR %.2f dB (grey %.2f)", p, b)
		}, nil
	case "reconstruct":
		if fixed != nil {
			return idxValidator(it.valData, nil)
		}
	}
	return nil, nil
}

// idxValidator reports MSE and PSNR on the first 1000 images of an IDX file.
func idxValidator(path string, nm *noise.Model) (func(*ae.ConvModel) string, error) {
	ds, err := dataset.Load(path, dataset.LoadOptions{MaxRows: 1000})
	if err != nil {
		return nil, err
	}
	return func(m *ae.ConvModel) string {
		r, err := idxScore(m, ds, nm, 1)
		if err != nil {
			return "val error: " + err.Error()
		}
		return r.String()
	}, nil
}
