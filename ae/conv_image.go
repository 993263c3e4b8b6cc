package ae

import (
	"fmt"

	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Tile sizes for whole-image inference: windows of TileSize² pixels
// overlapping by TileOverlap, so memory stays bounded on any image size.
var (
	TileSize    = 256
	TileOverlap = 64
)

// Run applies the model to one image with InChannels channels and returns
// OutChannels channels of the same size. Fully convolutional models take
// any size (processed in overlapping tiles); models with dense layers take
// exactly their InputShape.
func (m *ConvModel) Run(img *imageio.Image) (*imageio.Image, error) {
	if m.Ensemble && m.Config.InputShape == nil {
		return m.runEnsemble(img)
	}
	return m.run(img)
}

// runEnsemble averages the outputs for the 8 flips and rotations of the
// input, each mapped back (the "self-ensemble" of EDSR, Lim et al. 2017).
func (m *ConvModel) runEnsemble(img *imageio.Image) (*imageio.Image, error) {
	var sum *imageio.Image
	for t := range 8 {
		out, err := m.run(dihedral(img, t, false))
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
	if inverse {
		// pixel (y, x) of the original oh×ow frame sits where t sent it
		out := imageio.New(m.C, oh, ow)
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
	out := imageio.New(m.C, oh, ow)
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

func (m *ConvModel) run(img *imageio.Image) (*imageio.Image, error) {
	if img.C != m.Config.InChannels {
		return nil, fmt.Errorf("ae: the image has %d channels and the model takes %d; convert it (1: grey, 3: RGB)", img.C, m.Config.InChannels)
	}
	apply := func(win *imageio.Image) (*imageio.Image, error) {
		x := &tensor.Tensor{Shape: []int{1, win.C, win.H, win.W}, Data: win.Pix}
		y, err := m.Apply(x)
		if err != nil {
			return nil, err
		}
		return &imageio.Image{C: m.Config.OutChannels, H: win.H, W: win.W, Pix: append([]float32(nil), y.Data...)}, nil
	}
	if s := m.Config.InputShape; s != nil {
		if img.H != s[1] || img.W != s[2] {
			return nil, fmt.Errorf("ae: the image is %d×%d and this model takes only %d×%d images (its code has a fixed size); resize the image, or use a fully convolutional model", img.W, img.H, s[2], s[1])
		}
		return apply(img)
	}
	mult := m.Config.Multiple()
	tile := (TileSize + mult - 1) / mult * mult
	out, err := imageio.Tiled(img, tile, min(TileOverlap, tile/4), mult, m.Config.OutChannels, apply)
	// the activation buffers of a tile-sized net are large: release them
	// (training keeps its own net)
	m.Forget()
	return out, err
}

// Denoise removes noise: a grey model cleans each channel of a colour
// image in turn.
func (m *ConvModel) Denoise(img *imageio.Image) (*imageio.Image, error) {
	if m.Config.InChannels == img.C {
		return m.Run(img)
	}
	if m.Config.InChannels != 1 {
		return nil, fmt.Errorf("ae: the image has %d channels and the model takes %d; convert it (1: grey, 3: RGB)", img.C, m.Config.InChannels)
	}
	var planes []*imageio.Image
	for c := range img.C {
		p, err := m.Run(img.Channels(c, c+1))
		if err != nil {
			return nil, err
		}
		planes = append(planes, p)
	}
	return imageio.Stack(planes...), nil
}

// Upscale enlarges img by scale: the luma (Y of BT.601 YCbCr, or the grey
// image) is upscaled bicubically and refined by the model; chroma is
// upscaled bicubically.
func (m *ConvModel) Upscale(img *imageio.Image, scale int) (*imageio.Image, error) {
	if scale < 2 || scale > 8 {
		return nil, fmt.Errorf("ae: scale %d; want 2 to 8", scale)
	}
	if m.Config.InChannels != 1 || m.Config.OutChannels != 1 {
		return nil, fmt.Errorf("ae: an upscaler works on one channel; this model has %d in, %d out", m.Config.InChannels, m.Config.OutChannels)
	}
	if img.C == 1 {
		return m.Run(imageio.Upscale(img, scale))
	}
	ycc := imageio.Upscale(imageio.RGBToYCbCr(img), scale)
	y, err := m.Run(ycc.Channels(0, 1))
	if err != nil {
		return nil, err
	}
	copy(ycc.Plane(0), y.Pix)
	rgb := imageio.YCbCrToRGB(ycc)
	rgb.Clamp()
	return rgb, nil
}

// ABScale divides Lab's a and b in colorization models (as patches does).
const ABScale = 110

// Colorize makes img grey (the L of Lab), predicts a and b, and returns RGB.
func (m *ConvModel) Colorize(img *imageio.Image) (*imageio.Image, error) {
	if m.Config.InChannels != 1 || m.Config.OutChannels != 2 {
		return nil, fmt.Errorf("ae: a colorizer takes 1 channel and gives 2; this model has %d in, %d out", m.Config.InChannels, m.Config.OutChannels)
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
	ab, err := m.Run(l)
	if err != nil {
		return nil, err
	}
	for i, v := range ab.Pix {
		lab.Pix[len(l.Pix)+i] = v * ABScale
	}
	return imageio.LabToRGB(lab), nil
}
