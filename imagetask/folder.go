package imagetask

import (
	"fmt"

	"github.com/bottleneck-ml/bottleneck/imageio"
)

// ReadFolder reads the pictures of dir (.png, .jpg, .bmp, in name order;
// see imageio.List) in channels colours, 1 (grey) or 3 (RGB), the ones a
// model takes: a grey picture is repeated in three channels for an RGB
// model, a colour one reduced to its luma for a grey model. It returns
// the pictures and their files, in the same order.
func ReadFolder(dir string, channels int) ([]*imageio.Image, []string, error) {
	if channels != 1 && channels != 3 {
		return nil, nil, fmt.Errorf("imagetask: %s: pictures have 1 or 3 channels, not %d", dir, channels)
	}
	files, err := imageio.List(dir)
	if err != nil {
		return nil, nil, err
	}
	images := make([]*imageio.Image, len(files))
	for i, f := range files {
		img, err := ReadImage(f)
		if err != nil {
			return nil, nil, err
		}
		switch {
		case img.C == channels:
		case channels == 1:
			img = imageio.RGBToGrey(img)
		default:
			img = imageio.GreyToRGB(img)
		}
		images[i] = img
	}
	return images, files, nil
}
