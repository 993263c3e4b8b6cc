package report

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/imagetask"
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

// Heatmaps draws the n highest-scoring of the pictures that d scored as
// res (one result per picture; ties keep their order) into dir, created
// if need be, as rank001-row17.png, … : Heatmap panels, full red at the
// largest pixel error among the pictures drawn, so that the maps compare.
// It scores those pictures again for their errors and reconstructions,
// which scoring many does not keep, and returns how many it drew.
func Heatmaps(dir string, d *anomaly.Detector, images []*imageio.Image, res []anomaly.Result, n int) (int, error) {
	if len(res) != len(images) {
		return 0, fmt.Errorf("report: heat-maps of %d pictures with %d results; pass one result per picture", len(images), len(res))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	order := make([]int, len(res))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return res[order[a]].Score > res[order[b]].Score })
	order = order[:min(max(n, 0), len(order))]
	rs := make([]*anomaly.ImageResult, len(order))
	var peak float32
	for k, i := range order {
		r, err := d.ScoreImage(images[i], imagetask.Options{})
		if err != nil {
			return 0, err
		}
		rs[k] = r
		for _, v := range r.Heat {
			peak = max(peak, v)
		}
	}
	for k, i := range order {
		name := filepath.Join(dir, fmt.Sprintf("rank%03d-row%d.png", k+1, i))
		if err := Heatmap(name, images[i], rs[k].Reconstruction, rs[k].Heat, peak); err != nil {
			return 0, err
		}
	}
	return len(order), nil
}
