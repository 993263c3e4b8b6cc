package imagetask

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/noise"
)

// Check says why m cannot do task (ae.TaskDenoise, TaskUpscale,
// TaskColorize or TaskReconstruct) at scale (upscale; 0: any), or returns
// nil. A denoiser may reconstruct and a plain image autoencoder may
// denoise; an upscaler or colorizer does only its own task.
func Check(m *ae.Model, task string, scale int) error {
	c := m.Config
	if m.Preprocess != nil && m.Preprocess.Kind != dataset.KindImage {
		return fmt.Errorf("it reads %s rows, not pictures", m.Preprocess.Kind)
	}
	if in := c.InChannels(); in != 1 && in != 3 {
		return fmt.Errorf("it reads %d channels; pictures have 1 (grey) or 3 (RGB)", in)
	}
	if c.Input != nil && PictureShape(c.Input) == nil {
		return fmt.Errorf("its input %v is not a picture", c.Input)
	}
	trained := c.Task
	if trained == "" {
		trained = ae.TaskReconstruct
	}
	switch task {
	case ae.TaskUpscale, ae.TaskColorize:
		if trained != task {
			return fmt.Errorf("it was trained for %s, not %s", trained, task)
		}
		if task == ae.TaskUpscale && scale > 0 && len(c.Scales) > 0 && !slices.Contains(c.Scales, scale) {
			return fmt.Errorf("it was trained for the scales %v, not %d", c.Scales, scale)
		}
	case ae.TaskDenoise, ae.TaskReconstruct:
		if trained != ae.TaskDenoise && trained != ae.TaskReconstruct {
			return fmt.Errorf("it was trained for %s, not %s", trained, task)
		}
	default:
		return fmt.Errorf("no image task %q; want %s, %s, %s or %s", task, ae.TaskDenoise, ae.TaskUpscale, ae.TaskColorize, ae.TaskReconstruct)
	}
	return nil
}

// PictureShape is the [C, H, W] picture a fixed input shape holds ([C, H,
// W] with 1 or 3 channels, [H, W], or [N] for a square grey picture), or
// nil when it is not a picture.
func PictureShape(in []int) []int {
	switch {
	case len(in) == 3 && (in[0] == 1 || in[0] == 3):
		return slices.Clone(in)
	case len(in) == 2:
		return []int{1, in[0], in[1]}
	case len(in) == 1:
		r := int(math.Round(math.Sqrt(float64(in[0]))))
		if r > 1 && r*r == in[0] {
			return []int{1, r, r}
		}
	}
	return nil
}

// Fit converts a picture to what a model of fixed input size takes: its
// channels, and its size by bicubic resizing (resized says so). Models of
// any size take the picture as it is: the tasks convert colours
// themselves.
func Fit(m *ae.Model, img *imageio.Image) (out *imageio.Image, resized bool, err error) {
	if m.Config.Input == nil {
		return img, false, nil
	}
	shape := PictureShape(m.Config.Input)
	if shape == nil {
		return nil, false, fmt.Errorf("imagetask: the model's input %v is not a picture", m.Config.Input)
	}
	if shape[0] == 1 && img.C == 3 {
		img = imageio.RGBToGrey(img)
	} else if shape[0] == 3 && img.C == 1 {
		img = imageio.GreyToRGB(img)
	}
	if img.H == shape[1] && img.W == shape[2] {
		return img, false, nil
	}
	img, err = imageio.Resize(img, shape[1], shape[2])
	return img, true, err
}

// Apply runs m's task on a picture: Denoise (for denoise and
// reconstruct), Upscale by scale, or Colorize.
func Apply(m *ae.Model, task string, img *imageio.Image, scale int, o Options) (*imageio.Image, error) {
	switch task {
	case ae.TaskUpscale:
		return Upscale(m, img, scale, o)
	case ae.TaskColorize:
		return Colorize(m, img, o)
	case ae.TaskDenoise, ae.TaskReconstruct:
		return Denoise(m, img, o)
	}
	return nil, fmt.Errorf("imagetask: no task %q", task)
}

// Degradation is how Degrade makes a task's input from a clean picture.
type Degradation struct {
	Noise *noise.Model // denoise: the noise to add (nil: Gaussian σ = 25)
	Seed  uint64       // of the noise
	Scale int          // upscale: the factor to shrink by
}

// Degrade makes a task's input from a clean picture the way its
// benchmarks do, and returns it with the reference to measure the result
// against and a note saying what was done: for denoise the noise added
// (the noisy picture clamped and quantised to 8 bits, as a PNG holds it),
// for upscale a bicubic shrink of the picture cropped to a multiple of the
// scale (the crop is the reference), for colorize its grey; reconstruct
// takes the picture as it is.
func Degrade(task string, clean *imageio.Image, d Degradation) (in, ref *imageio.Image, note string, err error) {
	ref = clean
	switch task {
	case ae.TaskDenoise:
		nm := d.Noise
		if nm == nil {
			g, _ := noise.Parse("gaussian:25")
			nm = &g
		}
		in = clean.Clone()
		in.Quantize()
		nm.Apply(in.Pix, in.Pix, rand.New(rand.NewPCG(d.Seed, 0)))
		in.Clamp()
		in.Quantize()
		return in, ref, fmt.Sprintf("noise %s added (seed %d)", nm, d.Seed), nil
	case ae.TaskUpscale:
		s := d.Scale
		if s < 2 {
			return nil, nil, "", fmt.Errorf("imagetask: upscale needs a scale of 2 or more, not %d", s)
		}
		h, w := clean.H/s*s, clean.W/s*s
		if h == 0 || w == 0 {
			return nil, nil, "", fmt.Errorf("imagetask: the picture is %d×%d, smaller than the scale %d", clean.W, clean.H, s)
		}
		ref = clean.Crop(0, 0, h, w)
		in = imageio.Downscale(ref, s)
		in.Clamp()
		in.Quantize()
		return in, ref, fmt.Sprintf("shrunk to 1/%d (bicubic) from the picture cropped to %d×%d", s, w, h), nil
	case ae.TaskColorize:
		if clean.C != 3 {
			return nil, nil, "", errors.New("imagetask: colorize is measured against a colour picture; this one is grey")
		}
		return imageio.RGBToGrey(clean), ref, "made grey", nil
	case ae.TaskReconstruct:
		return clean, ref, "", nil
	}
	return nil, nil, "", fmt.Errorf("imagetask: no task %q", task)
}

// Baseline is what a task's result is compared with beside the reference,
// and its name: the input itself ("noisy" for denoise, "input" for
// reconstruct), its bicubic upscale ("bicubic"), or its grey ("grey").
func Baseline(task string, in *imageio.Image, scale int) (*imageio.Image, string) {
	switch task {
	case ae.TaskUpscale:
		return imageio.Upscale(in, max(scale, 1)), "bicubic"
	case ae.TaskColorize:
		if in.C == 3 {
			return imageio.RGBToGrey(in), "grey"
		}
		return in, "grey"
	case ae.TaskDenoise:
		return in, "noisy"
	}
	return in, "input"
}

// Comparison measures a result and its baseline against the reference.
type Comparison struct {
	PSNR, SSIM                 float64 // the result's (dB; ∞ for identical pictures is given as 999)
	Baseline                   string  // what the baseline is (see Baseline)
	BaselinePSNR, BaselineSSIM float64
}

// Compare measures out and the baseline of in against ref, both quantised
// to 8 bits as saved pictures are, with the channels of ref (a grey
// result against a colour reference is compared as grey made RGB). For
// upscale the border of scale pixels is left out, as the
// super-resolution benchmarks do. The pictures must be ref's size.
func Compare(task string, out, in, ref *imageio.Image, scale int) (Comparison, error) {
	if out.H != ref.H || out.W != ref.W {
		return Comparison{}, fmt.Errorf("the reference is %d×%d and the result %d×%d: compare with the clean picture the input was made from", ref.W, ref.H, out.W, out.H)
	}
	base, name := Baseline(task, in, scale)
	border := 0
	if task == ae.TaskUpscale {
		border = scale
	}
	c := Comparison{Baseline: name}
	for i, m := range []*imageio.Image{out, base} {
		m = m.Clone()
		m.Clamp()
		m.Quantize()
		switch {
		case m.C == ref.C:
		case m.C == 1:
			m = imageio.GreyToRGB(m)
		default:
			m = imageio.RGBToGrey(m)
		}
		p, err := imageio.PSNR(m, ref, border)
		if err != nil {
			return c, err
		}
		s, err := imageio.SSIM(m, ref, border)
		if err != nil {
			return c, err
		}
		if math.IsInf(p, 1) {
			p = 999
		}
		if i == 0 {
			c.PSNR, c.SSIM = p, s
		} else {
			c.BaselinePSNR, c.BaselineSSIM = p, s
		}
	}
	return c, nil
}
