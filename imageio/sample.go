package imageio

import (
	"fmt"
	"image/color"
	"os"
)

// ReadSample reads a picture file that must be exactly shape [C H W] (C 1
// or 3) as one sample of pixels/255, channel-major: the input of a model
// that takes images of a fixed size.
func ReadSample(path string, shape []int) ([]float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w; pass an image file or a row index of --data", path, err)
	}
	defer f.Close()
	img, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c, h, w := shape[0], shape[1], shape[2]
	bounds := img.Bounds()
	if bounds.Dx() != w || bounds.Dy() != h {
		return nil, fmt.Errorf("%s: image is %d×%d, the model takes %d×%d", path, bounds.Dx(), bounds.Dy(), w, h)
	}
	out := make([]float32, c*h*w)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			px := img.At(bounds.Min.X+x, bounds.Min.Y+y)
			if c == 1 {
				out[y*w+x] = float32(color.GrayModel.Convert(px).(color.Gray).Y) / 255
				continue
			}
			r, g, b, _ := px.RGBA()
			out[y*w+x] = float32(r>>8) / 255
			out[h*w+y*w+x] = float32(g>>8) / 255
			out[2*h*w+y*w+x] = float32(b>>8) / 255
		}
	}
	return out, nil
}
