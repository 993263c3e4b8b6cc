// Package plotpng writes gonum/plot plots as PNG files: one place for the
// margin, the resolution, the atomic write and the recovery from a panic
// inside gonum/plot (which a degenerate series can cause), shared by the
// reports and the latent map.
package plotpng

import (
	"fmt"
	"io"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/bottleneck-ml/bottleneck/internal/atomicfile"
)

// DPI is the resolution of the pictures: w×h pixels at 100 dots per inch.
const DPI = 100

// Save draws p on a w×h-pixel canvas and writes it to path as a PNG,
// atomically: the file appears complete or not at all.
func Save(path string, p *plot.Plot, w, h int) error {
	c := vgimg.NewWith(vgimg.UseWH(vg.Length(w)/DPI*vg.Inch, vg.Length(h)/DPI*vg.Inch), vgimg.UseDPI(DPI))
	if err := draw1(p, c); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, func(wr io.Writer) error {
		_, err := vgimg.PngCanvas{Canvas: c}.WriteTo(wr)
		return err
	}, 0o644)
}

// draw1 draws p on c with a margin that keeps lines and labels off the
// picture's edge, turning a panic inside gonum/plot into an error.
func draw1(p *plot.Plot, c *vgimg.Canvas) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("draw plot: %v", r)
		}
	}()
	m := vg.Points(10)
	p.Draw(draw.Crop(draw.New(c), m, -m, m/2, -m/2))
	return nil
}
