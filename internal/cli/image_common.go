package cli

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/internal/zoo"
	"github.com/bottleneck-ml/bottleneck/noise"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Default shipped image models per task.
const (
	defaultDenoiser  = "denoise-gray"
	defaultColorizer = "colorize"
)

func defaultUpscaler(scale int) string { return fmt.Sprintf("upscale-x%d", scale) }

// loadConvModel opens a conv image model from a path or a shipped name.
func loadConvModel(name string) (*ae.ConvModel, error) {
	if _, err := os.Stat(name); err == nil {
		return ae.LoadConv(name)
	}
	if _, b, ok := zoo.Lookup(name); ok {
		m, err := ae.DecodeConv(b)
		if err != nil {
			return nil, fmt.Errorf("shipped model %s: %w", name, err)
		}
		return m, nil
	}
	return nil, usagef("model %q: no such file and no shipped model of that name (shipped: %s)", name, strings.Join(zoo.Names(), ", "))
}

// readImage reads a picture as RGB, or grey if it is stored grey.
func readImage(path string) (*imageio.Image, error) {
	img, err := imageio.Read(path)
	if err != nil {
		return nil, err
	}
	if imageio.IsGrey(img) {
		return imageio.Grey(img), nil
	}
	return imageio.RGB(img), nil
}

// parseScales reads "2", "2,3,4".
func parseScales(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 2 || v > 8 {
			return nil, usagef("--scale %q: want integers from 2 to 8, e.g. 3 or 2,3,4", s)
		}
		out = append(out, v)
	}
	return out, nil
}

// imageScore is one image's PSNR/SSIM against the reference, with the
// baseline (noisy input, bicubic, grey) beside it.
type imageScore struct {
	File     string  `json:"file"`
	PSNR     float64 `json:"psnr"`
	SSIM     float64 `json:"ssim"`
	BasePSNR float64 `json:"baseline_psnr"`
	BaseSSIM float64 `json:"baseline_ssim"`
}

// scoreDenoise adds noise (seeded per image) to each clean grey image,
// denoises it and measures PSNR/SSIM of noisy and denoised.
func scoreDenoise(m *ae.ConvModel, files []string, nm noise.Model, seed uint64) ([]imageScore, error) {
	var out []imageScore
	for i, f := range files {
		img, err := imageio.Read(f)
		if err != nil {
			return nil, err
		}
		clean := imageio.Grey(img)
		if m.Config.InChannels == 3 {
			clean = imageio.RGB(img)
		}
		clean.Quantize()
		noisy := clean.Clone()
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		nm.Apply(noisy.Pix, clean.Pix, rng)
		den, err := m.Denoise(noisy)
		if err != nil {
			return nil, err
		}
		den.Clamp()
		den.Quantize()
		s := imageScore{File: f}
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

// srPairs finds LR/HR pairs for a scale in a folder: *_LR.png with its
// *_HR.png (the Set5/Set14 layout), or plain HR images that are shrunk
// bicubically here.
func srPairs(dir string, scale int) (lr, hr []*imageio.Image, names []string, err error) {
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
		h, err := readImage(f)
		if err != nil {
			return nil, nil, nil, err
		}
		var l *imageio.Image
		if hasLR {
			lf := strings.Replace(f, "_HR.", "_LR.", 1)
			if l, err = readImage(lf); err != nil {
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

// lumaOf is the BT.601 Y channel (grey images as they are).
func lumaOf(m *imageio.Image) *imageio.Image {
	if m.C == 1 {
		return m
	}
	return imageio.RGBToYCbCr(m).Channels(0, 1)
}

// scoreUpscale measures Y-channel PSNR/SSIM with a border of scale pixels
// removed (SRCNN's protocol), for the model and for bicubic.
func scoreUpscale(m *ae.ConvModel, dir string, scale int) ([]imageScore, error) {
	lrs, hrs, names, err := srPairs(dir, scale)
	if err != nil {
		return nil, err
	}
	var out []imageScore
	for i := range lrs {
		sr, err := m.Upscale(lrs[i], scale)
		if err != nil {
			return nil, err
		}
		sr.Quantize()
		bic := imageio.Upscale(lrs[i], scale)
		bic.Clamp()
		bic.Quantize()
		yh, ys, yb := lumaOf(hrs[i]), lumaOf(sr), lumaOf(bic)
		s := imageScore{File: names[i]}
		s.PSNR, _ = imageio.PSNR(yh, ys, scale)
		s.SSIM, _ = imageio.SSIM(yh, ys, scale)
		s.BasePSNR, _ = imageio.PSNR(yh, yb, scale)
		s.BaseSSIM, _ = imageio.SSIM(yh, yb, scale)
		out = append(out, s)
	}
	return out, nil
}

// scoreColorize measures RGB PSNR of the colorized image against the
// original, beside the grey image replicated to RGB. Only *_HR files are
// used when a folder has LR/HR pairs.
func scoreColorize(m *ae.ConvModel, dir string) ([]imageScore, error) {
	files, err := imageio.List(dir)
	if err != nil {
		return nil, err
	}
	var out []imageScore
	for _, f := range files {
		if strings.Contains(f, "_LR.") {
			continue
		}
		img, err := imageio.Read(f)
		if err != nil {
			return nil, err
		}
		orig := imageio.RGB(img)
		col, err := m.Colorize(orig)
		if err != nil {
			return nil, err
		}
		col.Quantize()
		grey := imageio.GreyToRGB(imageio.RGBToGrey(orig))
		grey.Quantize()
		s := imageScore{File: f}
		s.PSNR, _ = imageio.PSNR(orig, col, 0)
		s.SSIM, _ = imageio.SSIM(orig, col, 0)
		s.BasePSNR, _ = imageio.PSNR(orig, grey, 0)
		s.BaseSSIM, _ = imageio.SSIM(orig, grey, 0)
		out = append(out, s)
	}
	return out, nil
}

func meanScores(s []imageScore) (psnr, ssim, bpsnr, bssim float64) {
	for _, v := range s {
		psnr += v.PSNR
		ssim += v.SSIM
		bpsnr += v.BasePSNR
		bssim += v.BaseSSIM
	}
	n := float64(len(s))
	if n == 0 {
		return math.NaN(), math.NaN(), math.NaN(), math.NaN()
	}
	return psnr / n, ssim / n, bpsnr / n, bssim / n
}

// idxResult is a conv model's score on an IDX image set.
type idxResult struct {
	N         int     `json:"n"`
	MSE       float64 `json:"mse"`                  // per pixel, output vs clean
	BCE       float64 `json:"bce"`                  // per pixel, output vs clean
	PSNR      float64 `json:"psnr"`                 // mean over images, output vs clean
	NoisyPSNR float64 `json:"noisy_psnr,omitempty"` // mean over images, input vs clean (denoising)
	Noise     string  `json:"noise,omitempty"`
}

func (r idxResult) String() string {
	s := fmt.Sprintf("MSE %.5f BCE %.4f PSNR %.2f dB", r.MSE, r.BCE, r.PSNR)
	if r.Noise != "" {
		s += fmt.Sprintf(" (noisy %.2f dB, %s)", r.NoisyPSNR, r.Noise)
	}
	return s
}

// idxScore runs m over every image of ds (noised with nm when set, seeded)
// and compares the outputs with the clean images.
func idxScore(m *ae.ConvModel, ds *dataset.Dataset, nm *noise.Model, seed uint64) (idxResult, error) {
	h, w := ds.Shape[1], ds.Shape[2]
	px := h * w
	r := idxResult{N: ds.Len()}
	if nm != nil {
		r.Noise = nm.String()
	}
	const bs = 100
	x := tensor.New(bs, 1, h, w)
	rng := rand.New(rand.NewPCG(seed, 7))
	for lo := 0; lo < ds.Len(); lo += bs {
		n := min(bs, ds.Len()-lo)
		xb := &tensor.Tensor{Shape: []int{n, 1, h, w}, Data: x.Data[:n*px]}
		clean := ds.X.Data[lo*px : (lo+n)*px]
		for i := range n {
			if nm != nil {
				nm.Apply(xb.Data[i*px:(i+1)*px], clean[i*px:(i+1)*px], rng)
			} else {
				copy(xb.Data[i*px:(i+1)*px], clean[i*px:(i+1)*px])
			}
		}
		y, err := m.Apply(xb)
		if err != nil {
			return r, err
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
