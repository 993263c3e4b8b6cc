package ae

import (
	"fmt"

	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Tile sizes for whole-image inference: windows of TileSize² pixels
// overlapping by TileOverlap, so memory stays bounded on any image size.
var (
	TileSize    = 192
	TileOverlap = 24
)

// Run applies the model to one image with InChannels channels and returns
// OutChannels channels of the same size. Fully convolutional models take
// any size (processed in overlapping tiles); models with dense layers take
// exactly their InputShape.
func (m *ConvModel) Run(img *imageio.Image) (*imageio.Image, error) {
	if img.C != m.Config.InChannels {
		return nil, fmt.Errorf("ae: image has %d channels, model takes %d", img.C, m.Config.InChannels)
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
			return nil, fmt.Errorf("ae: model takes %d×%d images, got %d×%d", s[1], s[2], img.H, img.W)
		}
		return apply(img)
	}
	mult := m.Config.Multiple()
	tile := (TileSize + mult - 1) / mult * mult
	out, err := imageio.Tiled(img, tile, TileOverlap, mult, m.Config.OutChannels, apply)
	// keep only the nets of the last sizes used: tiles have at most four
	if len(m.nets) > 8 {
		m.Forget()
	}
	return out, err
}

// Denoise removes noise: a grey model cleans each channel of a colour
// image in turn.
func (m *ConvModel) Denoise(img *imageio.Image) (*imageio.Image, error) {
	if m.Config.InChannels == img.C {
		return m.Run(img)
	}
	if m.Config.InChannels != 1 {
		return nil, fmt.Errorf("ae: model takes %d channels, image has %d", m.Config.InChannels, img.C)
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
