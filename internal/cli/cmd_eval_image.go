package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/internal/safetensors"
	"github.com/bottleneck-ml/bottleneck/internal/zoo"
	"github.com/bottleneck-ml/bottleneck/noise"
)

// imageEvalFlags are eval's flags for image models.
type imageEvalFlags struct {
	noise    string
	seed     uint64
	ensemble bool
}

func (o *imageEvalFlags) add(f *pflag.FlagSet) {
	f.StringVar(&o.noise, "noise", "", "image models: noise added to the clean images before denoising (e.g. gaussian:25; seeded by --noise-seed)")
	f.Uint64Var(&o.seed, "noise-seed", 1, "image models: seed of the noise")
	f.BoolVar(&o.ensemble, "ensemble", false, "image models: average over the 8 flips and rotations of each input")
}

// isConvModel reports whether name (a path or a shipped name) holds a conv
// image model.
func isConvModel(name string) bool {
	var meta map[string]string
	var err error
	if _, serr := os.Stat(name); serr == nil {
		_, meta, err = safetensors.ReadFile(name)
	} else if _, b, ok := zoo.Lookup(name); ok {
		_, meta, err = safetensors.Read(b)
	} else {
		return false
	}
	return err == nil && ae.IsConvFile(meta)
}

// imageEvalResult is what eval prints for an image model.
type imageEvalResult struct {
	Task     string       `json:"task"`
	Data     string       `json:"data"`
	Noise    string       `json:"noise,omitempty"`
	Scale    int          `json:"scale,omitempty"`
	PSNR     float64      `json:"psnr"`
	SSIM     float64      `json:"ssim"`
	Baseline string       `json:"baseline"`
	BasePSNR float64      `json:"baseline_psnr"`
	BaseSSIM float64      `json:"baseline_ssim"`
	Ensemble bool         `json:"ensemble,omitempty"`
	Images   []imageScore `json:"images"`
	Seconds  float64      `json:"seconds"`
}

func runImageEval(ctx context.Context, o *evalOptions, stdout io.Writer) error {
	m, err := loadConvModel(o.model)
	if err != nil {
		return err
	}
	if o.nll.on {
		if o.data.path == "" {
			return usagef("--data is required: the IDX file of images to score")
		}
		return runConvNLL(ctx, o, m, stdout)
	}
	m.Ensemble = o.image.ensemble
	start := time.Now()
	var nm *noise.Model
	if o.image.noise != "" {
		v, err := noise.Parse(o.image.noise)
		if err != nil {
			return usagef("--noise: %v", err)
		}
		nm = &v
	}
	path := o.data.path
	if path == "" {
		return usagef("--data is required: a folder of images (or an IDX file for MNIST-size models)")
	}
	if m.Config.InputShape != nil || filepath.Ext(path) == ".gz" || filepath.Ext(path) == ".idx" {
		ds, err := dataset.Load(path, dataset.LoadOptions{})
		if err != nil {
			return err
		}
		if len(ds.Shape) != 3 {
			return usagef("--data %s: samples have shape %v; want images", path, ds.Shape)
		}
		r, err := idxScore(m, ds, nm, o.image.seed)
		if err != nil {
			return err
		}
		if o.json {
			b, _ := json.Marshal(r)
			fmt.Fprintln(stdout, string(b))
			return nil
		}
		fmt.Fprintf(stdout, "images  %d\n%s\n", r.N, r)
		return nil
	}
	res := imageEvalResult{Task: m.Config.Task, Data: path, Ensemble: m.Ensemble}
	switch m.Config.Task {
	case ae.TaskDenoise:
		if nm == nil {
			return usagef("eval of a denoiser needs --noise, e.g. --noise gaussian:25")
		}
		files, err := imageio.List(path)
		if err != nil {
			return err
		}
		res.Noise, res.Baseline = nm.String(), "noisy"
		res.Images, err = scoreDenoise(m, files, *nm, o.image.seed)
		if err != nil {
			return err
		}
	case ae.TaskUpscale:
		scale := 0
		if o.data.scale != "" && o.data.scale != "auto" {
			sc, err := parseScales(o.data.scale)
			if err != nil || len(sc) != 1 {
				return usagef("--scale %q: give one scale, e.g. --scale 3", o.data.scale)
			}
			scale = sc[0]
		} else if len(m.Config.Scales) == 1 {
			scale = m.Config.Scales[0]
		} else {
			return usagef("the model serves scales %v; pick one with --scale", m.Config.Scales)
		}
		res.Scale, res.Baseline = scale, "bicubic"
		if res.Images, err = scoreUpscale(m, path, scale); err != nil {
			return err
		}
	case ae.TaskColorize:
		res.Baseline = "grey"
		if res.Images, err = scoreColorize(m, path); err != nil {
			return err
		}
	default:
		return usagef("eval of a %q image model on a folder is not supported; pass an IDX file", m.Config.Task)
	}
	res.PSNR, res.SSIM, res.BasePSNR, res.BaseSSIM = meanScores(res.Images)
	res.Seconds = time.Since(start).Seconds()
	if o.json {
		b, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	fmt.Fprintf(stdout, "%-40s %8s %7s   %s PSNR / SSIM\n", "image", "PSNR", "SSIM", res.Baseline)
	for _, s := range res.Images {
		fmt.Fprintf(stdout, "%-40s %8.2f %7.4f   %8.2f %7.4f\n", filepath.Base(s.File), s.PSNR, s.SSIM, s.BasePSNR, s.BaseSSIM)
	}
	fmt.Fprintf(stdout, "%-40s %8.2f %7.4f   %8.2f %7.4f\n", "mean", res.PSNR, res.SSIM, res.BasePSNR, res.BaseSSIM)
	return nil
}
