package report

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"

	"github.com/bottleneck-ml/bottleneck/internal/atomicfile"
)

// Gap is the width in pixels of the lines between ImageGrid tiles.
const Gap = 2

// gapColor fills the gaps and the places of missing tiles.
var gapColor = color.Gray{Y: 255}

// maxGridPixels bounds the picture ImageGrid will allocate.
const maxGridPixels = 1 << 26

// ImageGrid writes a PNG of images laid out in a grid to path: rows[r] is
// drawn as row r, one tile per image, with Gap-pixel white lines between
// tiles (no outer border). Each image is the flat data of one sample with
// shape [C, H, W] (C = 1 grey or 3 RGB, channel-major as in CHW) or
// [H, W]; values are clamped to [0, 1] and NaN is drawn black. A row shows
// its first cols images; cols <= 0 means as many as the longest row has,
// and shorter rows leave blank tiles. The picture is
// cols·W + (cols−1)·Gap pixels wide and len(rows)·H + (len(rows)−1)·Gap
// high; grey images give a greyscale PNG.
//
// Passing the originals and their reconstructions as two rows draws
// originals above reconstructions.
func ImageGrid(path string, rows [][][]float32, shape []int, cols int) error {
	img, err := grid(rows, shape, cols)
	if err != nil {
		return fmt.Errorf("report: image grid %s: %w", path, err)
	}
	err = atomicfile.WriteFile(path, func(w io.Writer) error {
		return png.Encode(w, img)
	}, 0o644)
	if err != nil {
		return fmt.Errorf("report: image grid: %w", err)
	}
	return nil
}

// Tiles lays n samples stored end to end in x out in rows of cols samples
// (cols <= 0: ⌈√n⌉, a square grid), the last row possibly shorter: the
// rows ImageGrid and Grid take, sharing x's memory.
func Tiles(x []float32, n, cols int) [][][]float32 {
	if n <= 0 {
		return nil
	}
	if cols <= 0 {
		cols = int(math.Ceil(math.Sqrt(float64(n))))
	}
	per := len(x) / n
	var rows [][][]float32
	for lo := 0; lo < n; lo += cols {
		var row [][]float32
		for i := lo; i < min(lo+cols, n); i++ {
			row = append(row, x[i*per:(i+1)*per])
		}
		rows = append(rows, row)
	}
	return rows
}

// Grid is ImageGrid's picture, for callers that encode it themselves.
func Grid(rows [][][]float32, shape []int, cols int) (image.Image, error) {
	return grid(rows, shape, cols)
}

func grid(rows [][][]float32, shape []int, cols int) (image.Image, error) {
	var c, h, w int
	switch len(shape) {
	case 2:
		c, h, w = 1, shape[0], shape[1]
	case 3:
		c, h, w = shape[0], shape[1], shape[2]
	default:
		return nil, fmt.Errorf("shape %v: want [C H W] or [H W]", shape)
	}
	if c != 1 && c != 3 {
		return nil, fmt.Errorf("shape %v has %d channels: want 1 (grey) or 3 (RGB)", shape, c)
	}
	if h <= 0 || w <= 0 {
		return nil, fmt.Errorf("shape %v: height and width must be positive", shape)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("no rows of images to draw")
	}
	longest := 0
	for _, r := range rows {
		longest = max(longest, len(r))
	}
	if cols <= 0 {
		cols = longest
	}
	if cols == 0 {
		return nil, fmt.Errorf("every row is empty; no images to draw")
	}
	// Bound the size before multiplying so nothing overflows.
	if h > maxGridPixels || w > maxGridPixels || cols > maxGridPixels || len(rows) > maxGridPixels {
		return nil, fmt.Errorf("grid of %d×%d tiles of %d×%d pixels is too large", len(rows), cols, h, w)
	}
	width := cols*w + (cols-1)*Gap
	height := len(rows)*h + (len(rows)-1)*Gap
	if width*height > maxGridPixels {
		return nil, fmt.Errorf("grid of %d×%d tiles of %d×%d pixels is %d×%d pixels, over the %d-pixel limit; pass fewer images", len(rows), cols, h, w, width, height, maxGridPixels)
	}
	n := c * h * w
	for r, row := range rows {
		for i, im := range row[:min(len(row), cols)] {
			if len(im) != n {
				return nil, fmt.Errorf("row %d image %d has %d values; shape %v needs %d", r, i, len(im), shape, n)
			}
		}
	}

	bounds := image.Rect(0, 0, width, height)
	var dst draw.Image
	if c == 1 {
		dst = image.NewGray(bounds)
	} else {
		dst = image.NewRGBA(bounds)
	}
	draw.Draw(dst, bounds, image.NewUniform(gapColor), image.Point{}, draw.Src)
	plane := h * w
	for r, row := range rows {
		y0 := r * (h + Gap)
		for i, im := range row[:min(len(row), cols)] {
			x0 := i * (w + Gap)
			switch d := dst.(type) {
			case *image.Gray:
				for y := range h {
					for x := range w {
						d.SetGray(x0+x, y0+y, color.Gray{Y: toByte(im[y*w+x])})
					}
				}
			case *image.RGBA:
				for y := range h {
					for x := range w {
						k := y*w + x
						d.SetRGBA(x0+x, y0+y, color.RGBA{
							R: toByte(im[k]),
							G: toByte(im[plane+k]),
							B: toByte(im[2*plane+k]),
							A: 255,
						})
					}
				}
			}
		}
	}
	return dst, nil
}

// toByte maps [0, 1] to 0..255, clamping out-of-range values; NaN is 0.
func toByte(v float32) uint8 {
	switch {
	case !(v > 0): // also NaN
		return 0
	case v >= 1:
		return 255
	}
	return uint8(math.Round(float64(v) * 255))
}

// Enlarge repeats every pixel of an image ([H,W] or [C,H,W]) f×f times
// and returns it with its shape.
func Enlarge(img []float32, shape []int, f int) ([]float32, []int) {
	h, w := shape[len(shape)-2], shape[len(shape)-1]
	c := len(img) / (h * w)
	out := make([]float32, c*h*f*w*f)
	for ch := 0; ch < c; ch++ {
		for y := 0; y < h*f; y++ {
			for x := 0; x < w*f; x++ {
				out[(ch*h*f+y)*w*f+x] = img[(ch*h+y/f)*w+x/f]
			}
		}
	}
	big := append([]int(nil), shape...)
	big[len(big)-2], big[len(big)-1] = h*f, w*f
	return out, big
}

// PairGrid writes a PNG of the first n images of a (shape [C H W] or
// [H W] each) above the first n of b, small images enlarged so the grid is
// readable on a screen (reconstructions under their inputs, say).
func PairGrid(path string, shape []int, a, b []float32, n int) error {
	per := 1
	for _, d := range shape {
		per *= d
	}
	f := max(1, 84/shape[len(shape)-2])
	rows := [][][]float32{{}, {}}
	var big []int
	for i := range n {
		var x, y []float32
		x, big = Enlarge(a[i*per:(i+1)*per], shape, f)
		y, _ = Enlarge(b[i*per:(i+1)*per], shape, f)
		rows[0], rows[1] = append(rows[0], x), append(rows[1], y)
	}
	return ImageGrid(path, rows, big, n)
}
