package report

import (
	"math"

	"github.com/bottleneck-ml/bottleneck/imageio"
)

// Heatmap writes a PNG of three panels to path: the input, its
// reconstruction, and the input in grey with the per-pixel error err (H×W)
// laid over it in red, full red at peak (pass the largest error among the
// pictures drawn, so maps compare). Small pictures are enlarged to about
// 112 pixels.
func Heatmap(path string, in, out *imageio.Image, err []float32, peak float32) error {
	return imageio.WritePNG(path, HeatmapImage(in, out, err, peak))
}

// HeatmapImage is Heatmap's picture.
func HeatmapImage(in, out *imageio.Image, err []float32, peak float32) *imageio.Image {
	if peak <= 0 {
		peak = 1
	}
	h, w := in.H, in.W
	zoom := max(1, int(math.Ceil(112/float64(min(h, w)))))
	canvas := imageio.New(3, h*zoom, 3*w*zoom)
	for y := 0; y < h*zoom; y++ {
		for x := 0; x < w*zoom; x++ {
			sy, sx := y/zoom, x/zoom
			var g float32
			for c := 0; c < in.C; c++ {
				g += in.At(c, sy, sx) / float32(in.C)
			}
			a := min(err[sy*w+sx]/peak, 1)
			a = float32(math.Sqrt(float64(a))) // show small errors too
			for c := 0; c < 3; c++ {
				ic, oc := min(c, in.C-1), min(c, out.C-1)
				canvas.Pix[(c*canvas.H+y)*canvas.W+x] = in.At(ic, sy, sx)
				canvas.Pix[(c*canvas.H+y)*canvas.W+w*zoom+x] = min(max(out.At(oc, sy, sx), 0), 1)
				r := g * (1 - a)
				if c == 0 {
					r += a
				}
				canvas.Pix[(c*canvas.H+y)*canvas.W+2*w*zoom+x] = r
			}
		}
	}
	return canvas
}
