// Package imagetask applies image models to whole pictures of any size —
// denoise, upscale, colorize, reconstruct — in overlapping tiles so memory
// stays bounded, optionally averaged over the eight flips and rotations of
// the input, and measures them against references (PSNR and SSIM on
// Set12-, Set5- and MNIST-style benchmarks).
//
// Every function takes its settings as an Options value; nothing is a
// package global, so a server may run many pictures at once, each on its
// own ae.Model (a Model is not safe for concurrent use).
package imagetask

import (
	"errors"
	"fmt"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Default tile settings.
const (
	DefaultTile    = 256
	DefaultOverlap = 64
)

// Options control how a model runs over a picture. The zero value uses
// DefaultTile and DefaultOverlap, without the ensemble.
type Options struct {
	// Tile is the side of the windows a large picture is cut into, and
	// Overlap how far neighbouring windows overlap (they are blended
	// without seams); memory grows with Tile², not with the picture.
	Tile, Overlap int
	// Ensemble averages the outputs over the 8 flips and rotations of the
	// input (the "self-ensemble" of EDSR, Lim et al. 2017): 8× the time, a
	// little more accuracy.
	Ensemble bool
	// MaxPixels bounds the pictures a task makes (width × height of the
	// output, an upscaler's included) and so its memory: about 40 bytes per
	// pixel of an RGB output. 0 means imageio.MaxPixels (64 Mpx).
	MaxPixels int
}

// ErrTooLarge is wrapped when a picture would exceed Options.MaxPixels.
var ErrTooLarge = errors.New("imagetask: picture too large")

// checkSize refuses an output of h×w pixels over the limit.
func (o Options) checkSize(h, w int) error {
	limit := o.MaxPixels
	if limit <= 0 {
		limit = imageio.MaxPixels
	}
	if h <= 0 || w <= 0 || h > limit/w {
		return fmt.Errorf("%w: the output would be %d×%d (%.1f Mpx), over the limit of %.1f Mpx; shrink or crop the picture first, or raise the limit (--max-pixels) on a machine with the memory for it", ErrTooLarge, w, h, float64(w)*float64(h)/1e6, float64(limit)/1e6)
	}
	return nil
}

func (o Options) tile() (int, int) {
	t, ov := o.Tile, o.Overlap
	if t <= 0 {
		t = DefaultTile
	}
	if ov <= 0 {
		ov = DefaultOverlap
	}
	return t, ov
}

// Run applies m to one picture with the model's input channels and
// returns the model's output channels at the same size. Fully
// convolutional models take any size (in tiles); models with dense layers
// take exactly their input shape.
func Run(m *ae.Model, img *imageio.Image, o Options) (*imageio.Image, error) {
	if err := o.checkSize(img.H, img.W); err != nil {
		return nil, err
	}
	if o.Ensemble && m.Config.Input == nil {
		return runEnsemble(m, img, o)
	}
	return run(m, img, o)
}

func run(m *ae.Model, img *imageio.Image, o Options) (*imageio.Image, error) {
	c := &m.Config
	if img.C != c.InChannels() {
		return nil, fmt.Errorf("imagetask: the image has %d channels and the model takes %d; convert it (1: grey, 3: RGB)", img.C, c.InChannels())
	}
	outC := m.OutChannels()
	var y *tensor.Tensor
	apply := func(win *imageio.Image) (*imageio.Image, error) {
		x := &tensor.Tensor{Shape: []int{1, win.C, win.H, win.W}, Data: win.Pix}
		var err error
		if y, err = m.Reconstruct(nil, x); err != nil {
			return nil, err
		}
		return &imageio.Image{C: outC, H: win.H, W: win.W, Pix: y.Data}, nil
	}
	if s := c.Input; s != nil {
		if len(s) != 3 || img.H != s[1] || img.W != s[2] {
			return nil, fmt.Errorf("imagetask: the image is %d×%d and this model takes only %v inputs (its code has a fixed size); resize the image, or use a fully convolutional model", img.W, img.H, s)
		}
		return apply(img)
	}
	mult := c.Multiple()
	size, overlap := o.tile()
	tile := (size + mult - 1) / mult * mult
	out, err := imageio.Tiled(img, tile, min(overlap, tile/4), mult, outC, apply)
	// the activation buffers of a tile-sized network are large: release
	// them (training keeps its own)
	m.Forget()
	return out, err
}

// runEnsemble averages the outputs for the 8 flips and rotations of the
// input, each mapped back.
func runEnsemble(m *ae.Model, img *imageio.Image, o Options) (*imageio.Image, error) {
	var sum *imageio.Image
	for t := range 8 {
		out, err := run(m, dihedral(img, t, false), o)
		if err != nil {
			return nil, err
		}
		out = dihedral(out, t, true)
		if sum == nil {
			sum = out
			continue
		}
		for i, v := range out.Pix {
			sum.Pix[i] += v
		}
	}
	for i := range sum.Pix {
		sum.Pix[i] /= 8
	}
	return sum, nil
}

// dihedral applies symmetry t of the square (bit 0: flip x, bit 1: flip y,
// bit 2: transpose, in that order), or its inverse.
func dihedral(m *imageio.Image, t int, inverse bool) *imageio.Image {
	if t == 0 {
		return m
	}
	h, w := m.H, m.W
	oh, ow := h, w
	if t&4 != 0 {
		oh, ow = w, h
	}
	out := imageio.New(m.C, oh, ow)
	if inverse {
		// pixel (y, x) of the original oh×ow frame sits where t sent it
		for c := range m.C {
			for y := range oh {
				for x := range ow {
					sy, sx := forwardIndex(y, x, oh, ow, t)
					out.Pix[(c*oh+y)*ow+x] = m.Pix[(c*h+sy)*w+sx]
				}
			}
		}
		return out
	}
	for c := range m.C {
		for y := range h {
			for x := range w {
				ty, tx := forwardIndex(y, x, h, w, t)
				out.Pix[(c*oh+ty)*ow+tx] = m.Pix[(c*h+y)*w+x]
			}
		}
	}
	return out
}

// forwardIndex is where pixel (y, x) of an h×w image lands under t.
func forwardIndex(y, x, h, w, t int) (int, int) {
	if t&1 != 0 {
		x = w - 1 - x
	}
	if t&2 != 0 {
		y = h - 1 - y
	}
	if t&4 != 0 {
		y, x = x, y
	}
	return y, x
}

// Denoise removes noise: the model's output for the picture. A grey model
// cleans an RGB picture plane by plane in the opponent colour space
// (imageio.RGBToOpponent), where each plane carries less of the noise
// than R, G or B and the two colour planes are smooth in photographs:
// with the shipped denoise-gray, +0.6 / +1.0 / +1.1 dB over cleaning R, G
// and B in turn on Set5 at σ = 15 / 25 / 50, +1.4 / +1.7 / +1.7 dB on
// ten urban100 pictures (docs/RESULTS.md). A grey reconstruction model,
// and other channel counts, go channel by channel: a reconstruction is
// only as good as what the model saw, and it saw plain pictures.
func Denoise(m *ae.Model, img *imageio.Image, o Options) (*imageio.Image, error) {
	in := m.Config.InChannels()
	if in == img.C {
		return Run(m, img, o)
	}
	if in == 3 && img.C == 1 {
		// Replicating the grey plane would give the model noise that is
		// the same in R, G and B, which it never saw in training.
		return nil, fmt.Errorf("imagetask: a grey picture and a colour denoiser (it takes RGB): clean grey pictures with a grey model such as denoise-gray (the default)")
	}
	if in != 1 {
		return nil, fmt.Errorf("imagetask: the image has %d channels and the model takes %d; convert it (1: grey, 3: RGB)", img.C, in)
	}
	src := img
	if img.C == 3 && m.Config.Task == ae.TaskDenoise {
		src = imageio.RGBToOpponent(img)
	}
	var planes []*imageio.Image
	for c := range src.C {
		p, err := Run(m, src.Channels(c, c+1), o)
		if err != nil {
			return nil, err
		}
		planes = append(planes, p)
	}
	out := imageio.Stack(planes...)
	if src != img {
		out = imageio.OpponentToRGB(out)
	}
	return out, nil
}

// Upscale enlarges img by scale: the luma (Y of BT.601 YCbCr, or the grey
// picture) is upscaled bicubically and refined by the model; chroma is
// upscaled bicubically.
func Upscale(m *ae.Model, img *imageio.Image, scale int, o Options) (*imageio.Image, error) {
	if scale < 2 || scale > 8 {
		return nil, fmt.Errorf("imagetask: scale %d; want 2 to 8", scale)
	}
	if m.Config.InChannels() != 1 || m.OutChannels() != 1 {
		return nil, fmt.Errorf("imagetask: an upscaler works on one channel; this model has %d in, %d out", m.Config.InChannels(), m.OutChannels())
	}
	if err := o.checkSize(img.H*scale, img.W*scale); err != nil {
		return nil, err
	}
	if img.C == 1 {
		return Run(m, imageio.Upscale(img, scale), o)
	}
	ycc := imageio.Upscale(imageio.RGBToYCbCr(img), scale)
	y, err := Run(m, ycc.Channels(0, 1), o)
	if err != nil {
		return nil, err
	}
	copy(ycc.Plane(0), y.Pix)
	rgb := imageio.YCbCrToRGB(ycc)
	rgb.Clamp()
	return rgb, nil
}

// ABScale divides Lab's a and b in colorization models (imageio.ABScale).
const ABScale = imageio.ABScale

// Colorize makes img grey (the L of Lab), predicts a and b, and returns
// RGB.
func Colorize(m *ae.Model, img *imageio.Image, o Options) (*imageio.Image, error) {
	if m.Config.InChannels() != 1 || m.OutChannels() != 2 {
		return nil, fmt.Errorf("imagetask: a colorizer takes 1 channel and gives 2; this model has %d in, %d out", m.Config.InChannels(), m.OutChannels())
	}
	rgb := img
	if img.C == 1 {
		rgb = imageio.GreyToRGB(img)
	} else {
		rgb = imageio.GreyToRGB(imageio.RGBToGrey(img))
	}
	lab := imageio.RGBToLab(rgb)
	l := lab.Channels(0, 1)
	for i := range l.Pix {
		l.Pix[i] /= 100
	}
	ab, err := Run(m, l, o)
	if err != nil {
		return nil, err
	}
	for i, v := range ab.Pix {
		lab.Pix[len(l.Pix)+i] = v * ABScale
	}
	return imageio.LabToRGB(lab), nil
}
