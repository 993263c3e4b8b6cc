package imagetask

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/noise"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Score is one picture's PSNR/SSIM against its reference, with the
// baseline's beside it (the noisy input, the bicubic upscale, the grey
// picture).
type Score struct {
	File     string  `json:"file"`
	PSNR     float64 `json:"psnr"`
	SSIM     float64 `json:"ssim"`
	BasePSNR float64 `json:"baseline_psnr"`
	BaseSSIM float64 `json:"baseline_ssim"`
	// Colorizers: how coloured the output is beside the original
	// (imageio.Chroma, imageio.Colourfulness); PSNR alone rewards the
	// safe, washed-out sepia that a squared error drives towards.
	Chroma           float64 `json:"chroma,omitempty"`
	RefChroma        float64 `json:"original_chroma,omitempty"`
	Colourfulness    float64 `json:"colourfulness,omitempty"`
	RefColourfulness float64 `json:"original_colourfulness,omitempty"`
}

// Mean averages scores (NaN for none).
func Mean(s []Score) (psnr, ssim, basePSNR, baseSSIM float64) {
	for _, v := range s {
		psnr += v.PSNR
		ssim += v.SSIM
		basePSNR += v.BasePSNR
		baseSSIM += v.BaseSSIM
	}
	n := float64(len(s))
	if n == 0 {
		return math.NaN(), math.NaN(), math.NaN(), math.NaN()
	}
	return psnr / n, ssim / n, basePSNR / n, baseSSIM / n
}

// ReadImage reads a picture as RGB, or grey if it is stored grey.
func ReadImage(path string) (*imageio.Image, error) {
	img, err := imageio.Read(path)
	if err != nil {
		return nil, err
	}
	if imageio.IsGrey(img) {
		return imageio.Grey(img), nil
	}
	return imageio.RGB(img), nil
}

// BenchDenoise adds noise nm (seeded per picture from seed) to each clean
// picture of files (grey, or RGB for a colour model or with colour: a grey
// model then cleans each picture through Denoise's opponent planes),
// denoises it and measures PSNR/SSIM of the noisy and the denoised picture
// over all channels, both quantised to 8 bits (the DnCNN protocol: noise
// unclipped).
func BenchDenoise(m *ae.Model, files []string, nm noise.Model, seed uint64, colour bool, o Options) ([]Score, error) {
	var out []Score
	for i, f := range files {
		img, err := imageio.Read(f)
		if err != nil {
			return nil, err
		}
		clean := imageio.Grey(img)
		if m.Config.InChannels() == 3 || colour {
			clean = imageio.RGB(img)
		}
		clean.Quantize()
		noisy := clean.Clone()
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		nm.Apply(noisy.Pix, clean.Pix, rng)
		den, err := Denoise(m, noisy, o)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		den.Clamp()
		den.Quantize()
		s := Score{File: f}
		if s.PSNR, err = imageio.PSNR(clean, den, 0); err != nil {
			return nil, err
		}
		s.SSIM, _ = imageio.SSIM(clean, den, 0)
		s.BasePSNR, _ = imageio.PSNR(clean, noisy, 0)
		s.BaseSSIM, _ = imageio.SSIM(clean, noisy, 0)
		out = append(out, s)
	}
	return out, nil
}

// SRPairs finds LR/HR pairs for a scale in a folder: *_LR.png with its
// *_HR.png (the Set5/Set14 layout), or plain HR pictures shrunk
// bicubically here.
func SRPairs(dir string, scale int) (lr, hr []*imageio.Image, names []string, err error) {
	files, err := imageio.List(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	hasLR := false
	for _, f := range files {
		if strings.Contains(f, "_LR.") {
			hasLR = true
		}
	}
	for _, f := range files {
		if hasLR && !strings.Contains(f, "_HR.") {
			continue
		}
		h, err := ReadImage(f)
		if err != nil {
			return nil, nil, nil, err
		}
		var l *imageio.Image
		if hasLR {
			lf := strings.Replace(f, "_HR.", "_LR.", 1)
			if l, err = ReadImage(lf); err != nil {
				return nil, nil, nil, err
			}
			if l.C != h.C {
				if l.C == 1 {
					l = imageio.GreyToRGB(l)
				} else {
					h = imageio.GreyToRGB(h)
				}
			}
		} else {
			h = h.Crop(0, 0, h.H/scale*scale, h.W/scale*scale)
			l = imageio.Downscale(h, scale)
			l.Quantize()
		}
		if l.H*scale != h.H || l.W*scale != h.W {
			return nil, nil, nil, fmt.Errorf("%s: LR %d×%d is not 1/%d of HR %d×%d", f, l.W, l.H, scale, h.W, h.H)
		}
		lr, hr, names = append(lr, l), append(hr, h), append(names, f)
	}
	if len(hr) == 0 {
		return nil, nil, nil, errors.New("no images found")
	}
	return lr, hr, names, nil
}

// luma is the BT.601 Y channel (grey pictures as they are).
func luma(m *imageio.Image) *imageio.Image {
	if m.C == 1 {
		return m
	}
	return imageio.RGBToYCbCr(m).Channels(0, 1)
}

// BenchUpscale measures Y-channel PSNR/SSIM with a border of scale pixels
// removed (SRCNN's protocol), for the model and for bicubic, on the pairs
// of dir.
func BenchUpscale(m *ae.Model, dir string, scale int, o Options) ([]Score, error) {
	lrs, hrs, names, err := SRPairs(dir, scale)
	if err != nil {
		return nil, err
	}
	var out []Score
	for i := range lrs {
		sr, err := Upscale(m, lrs[i], scale, o)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", names[i], err)
		}
		sr.Quantize()
		bic := imageio.Upscale(lrs[i], scale)
		bic.Clamp()
		bic.Quantize()
		yh, ys, yb := luma(hrs[i]), luma(sr), luma(bic)
		s := Score{File: names[i]}
		s.PSNR, _ = imageio.PSNR(yh, ys, scale)
		s.SSIM, _ = imageio.SSIM(yh, ys, scale)
		s.BasePSNR, _ = imageio.PSNR(yh, yb, scale)
		s.BaseSSIM, _ = imageio.SSIM(yh, yb, scale)
		out = append(out, s)
	}
	return out, nil
}

// BenchColorize measures RGB PSNR/SSIM of the colorized pictures of dir
// against the originals, beside the grey picture replicated to RGB. Only
// *_HR files are used when the folder has LR/HR pairs.
//
// Pictures that are grey already (each pixel's grey value replicated to
// RGB gives them back exactly) are left out and named in skipped: they say
// nothing about colouring, and the grey baseline's PSNR on them is
// infinite, which would make the mean infinite (urban100's img_095).
func BenchColorize(m *ae.Model, dir string, o Options) (scores []Score, skipped []string, err error) {
	files, err := imageio.List(dir)
	if err != nil {
		return nil, nil, err
	}
	var out []Score
	for _, f := range files {
		if strings.Contains(f, "_LR.") {
			continue
		}
		img, err := imageio.Read(f)
		if err != nil {
			return nil, nil, err
		}
		orig := imageio.RGB(img)
		grey := imageio.GreyToRGB(imageio.RGBToGrey(orig))
		grey.Quantize()
		s := Score{File: f}
		s.BasePSNR, _ = imageio.PSNR(orig, grey, 0)
		if math.IsInf(s.BasePSNR, 1) {
			skipped = append(skipped, f)
			continue
		}
		col, err := Colorize(m, orig, o)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", f, err)
		}
		col.Quantize()
		s.PSNR, _ = imageio.PSNR(orig, col, 0)
		s.SSIM, _ = imageio.SSIM(orig, col, 0)
		s.BaseSSIM, _ = imageio.SSIM(orig, grey, 0)
		s.Chroma, s.RefChroma = imageio.Chroma(col), imageio.Chroma(orig)
		s.Colourfulness, s.RefColourfulness = imageio.Colourfulness(col), imageio.Colourfulness(orig)
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, skipped, fmt.Errorf("imagetask: %s holds only grey pictures; a colorizer is measured on colour pictures", dir)
	}
	return out, skipped, nil
}

// SetResult is a model's score on a set of small images (MNIST-style).
type SetResult struct {
	N         int     `json:"n"`
	MSE       float64 `json:"mse"`                  // per pixel, output vs clean
	BCE       float64 `json:"bce"`                  // per pixel, output vs clean
	PSNR      float64 `json:"psnr"`                 // mean over images, output vs clean
	NoisyPSNR float64 `json:"noisy_psnr,omitempty"` // mean over images, input vs clean (denoising)
	Noise     string  `json:"noise,omitempty"`
}

func (r SetResult) String() string {
	s := fmt.Sprintf("MSE %.5f BCE %.4f PSNR %.2f dB", r.MSE, r.BCE, r.PSNR)
	if r.Noise != "" {
		s += fmt.Sprintf(" (noisy %.2f dB, %s)", r.NoisyPSNR, r.Noise)
	}
	return s
}

// BenchSet runs m over every image of ds ([C H W] samples in [0,1]),
// noised with nm when set (seeded), and compares the outputs with the
// clean images.
func BenchSet(m *ae.Model, ds *dataset.Dataset, nm *noise.Model, seed uint64) (SetResult, error) {
	if len(ds.Shape) != 3 {
		return SetResult{}, fmt.Errorf("%s: samples have shape %v; want images", ds.Source, ds.Shape)
	}
	px := tensor.Size(ds.Shape)
	r := SetResult{N: ds.Len()}
	if nm != nil {
		r.Noise = nm.String()
	}
	const bs = 100
	x := tensor.New(append([]int{bs}, ds.Shape...)...)
	var y *tensor.Tensor
	rng := rand.New(rand.NewPCG(seed, 7))
	for lo := 0; lo < ds.Len(); lo += bs {
		n := min(bs, ds.Len()-lo)
		xb := tensor.From(x.Data[:n*px], append([]int{n}, ds.Shape...)...)
		clean := ds.X.Data[lo*px : (lo+n)*px]
		for i := range n {
			if nm != nil {
				nm.Apply(xb.Data[i*px:(i+1)*px], clean[i*px:(i+1)*px], rng)
			} else {
				copy(xb.Data[i*px:(i+1)*px], clean[i*px:(i+1)*px])
			}
		}
		var err error
		if y, err = m.Reconstruct(y, xb); err != nil {
			return r, err
		}
		if len(y.Data) != len(xb.Data) {
			return r, fmt.Errorf("the model gives %v for %v; BenchSet compares outputs with inputs of the same size", y.Shape, xb.Shape)
		}
		for i := range n {
			var se, sen, bce float64
			for j := range px {
				c := float64(clean[i*px+j])
				o := float64(y.Data[i*px+j])
				d := o - c
				se += d * d
				dn := float64(xb.Data[i*px+j]) - c
				sen += dn * dn
				oc := min(max(o, 1e-7), 1-1e-7)
				bce -= c*math.Log(oc) + (1-c)*math.Log(1-oc)
			}
			r.MSE += se
			r.BCE += bce
			r.PSNR += 10 * math.Log10(float64(px)/max(se, 1e-12))
			r.NoisyPSNR += 10 * math.Log10(float64(px)/max(sen, 1e-12))
		}
	}
	r.MSE /= float64(r.N * px)
	r.BCE /= float64(r.N * px)
	r.PSNR /= float64(r.N)
	r.NoisyPSNR /= float64(r.N)
	if nm == nil {
		r.NoisyPSNR = 0
	}
	return r, nil
}

// Benchmark is a model's result on a folder of pictures for its task.
type Benchmark struct {
	Task     string  `json:"task"`
	Data     string  `json:"data"`
	Noise    string  `json:"noise,omitempty"`
	Scale    int     `json:"scale,omitempty"`
	PSNR     float64 `json:"psnr"`
	SSIM     float64 `json:"ssim"`
	Baseline string  `json:"baseline"` // noisy, bicubic or grey
	BasePSNR float64 `json:"baseline_psnr"`
	BaseSSIM float64 `json:"baseline_ssim"`
	Ensemble bool    `json:"ensemble,omitempty"`
	// Colorizers: the means of the per-picture colour statistics.
	Chroma           float64 `json:"chroma,omitempty"`
	RefChroma        float64 `json:"original_chroma,omitempty"`
	Colourfulness    float64 `json:"colourfulness,omitempty"`
	RefColourfulness float64 `json:"original_colourfulness,omitempty"`
	// Skipped names the pictures left out (colorizers: grey pictures).
	Skipped []string `json:"skipped,omitempty"`
	Images  []Score  `json:"images"`
}

// BenchOptions configure Bench.
type BenchOptions struct {
	Noise *noise.Model // denoisers: the noise added to the clean pictures
	Seed  uint64       // of the noise (per picture: PCG(Seed, i))
	Scale int          // upscalers: the scale (0: the model's only one)
	// Colour measures a grey denoiser on the RGB pictures (colour models
	// always are).
	Colour bool
	Options
}

// Bench measures m on the pictures in dir by its task: a denoiser against
// the clean pictures after o.Noise, an upscaler against the HR pictures
// (BenchUpscale), a colorizer against the colour originals.
func Bench(m *ae.Model, dir string, o BenchOptions) (*Benchmark, error) {
	b := &Benchmark{Task: m.Config.Task, Data: dir, Ensemble: o.Ensemble}
	var err error
	switch m.Config.Task {
	case ae.TaskDenoise:
		if o.Noise == nil {
			return nil, errors.New("imagetask: benchmarking a denoiser needs a noise model, e.g. gaussian:25")
		}
		files, err := imageio.List(dir)
		if err != nil {
			return nil, err
		}
		b.Noise, b.Baseline = o.Noise.String(), "noisy"
		b.Images, err = BenchDenoise(m, files, *o.Noise, o.Seed, o.Colour, o.Options)
		if err != nil {
			return nil, err
		}
	case ae.TaskUpscale:
		if o.Scale == 0 {
			if len(m.Config.Scales) != 1 {
				return nil, fmt.Errorf("imagetask: the model serves scales %v; pick one", m.Config.Scales)
			}
			o.Scale = m.Config.Scales[0]
		}
		b.Scale, b.Baseline = o.Scale, "bicubic"
		b.Images, err = BenchUpscale(m, dir, o.Scale, o.Options)
	case ae.TaskColorize:
		b.Baseline = "grey"
		b.Images, b.Skipped, err = BenchColorize(m, dir, o.Options)
	default:
		return nil, fmt.Errorf("imagetask: benchmarking a %q model on pictures is not supported; pass an IDX file", m.Config.Task)
	}
	if err != nil {
		return nil, err
	}
	b.PSNR, b.SSIM, b.BasePSNR, b.BaseSSIM = Mean(b.Images)
	if b.Task == ae.TaskColorize && len(b.Images) > 0 {
		for _, s := range b.Images {
			b.Chroma += s.Chroma
			b.RefChroma += s.RefChroma
			b.Colourfulness += s.Colourfulness
			b.RefColourfulness += s.RefColourfulness
		}
		n := float64(len(b.Images))
		b.Chroma, b.RefChroma, b.Colourfulness, b.RefColourfulness = b.Chroma/n, b.RefChroma/n, b.Colourfulness/n, b.RefColourfulness/n
	}
	return b, nil
}

// WriteText writes the benchmark as `bottleneck eval` prints it: one line
// per picture, then the means, beside the baseline's.
func (r *Benchmark) WriteText(w io.Writer) error {
	var b strings.Builder
	colour := r.Task == ae.TaskColorize
	fmt.Fprintf(&b, "%-40s %8s %7s   %s PSNR / SSIM", "image", "PSNR", "SSIM", r.Baseline)
	if colour {
		fmt.Fprintf(&b, "   chroma (original)   colourfulness (original)")
	}
	b.WriteByte('\n')
	line := func(name string, s Score) {
		fmt.Fprintf(&b, "%-40s %8.2f %7.4f   %8.2f %7.4f", name, s.PSNR, s.SSIM, s.BasePSNR, s.BaseSSIM)
		if colour {
			fmt.Fprintf(&b, "   %6.2f (%6.2f)     %6.2f (%6.2f)", s.Chroma, s.RefChroma, s.Colourfulness, s.RefColourfulness)
		}
		b.WriteByte('\n')
	}
	for _, s := range r.Images {
		line(filepath.Base(s.File), s)
	}
	line("mean", Score{PSNR: r.PSNR, SSIM: r.SSIM, BasePSNR: r.BasePSNR, BaseSSIM: r.BaseSSIM,
		Chroma: r.Chroma, RefChroma: r.RefChroma, Colourfulness: r.Colourfulness, RefColourfulness: r.RefColourfulness})
	for _, f := range r.Skipped {
		fmt.Fprintf(&b, "skipped %s: a grey picture, nothing to colour\n", filepath.Base(f))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
