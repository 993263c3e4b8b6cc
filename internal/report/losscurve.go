// Package report draws training pictures: loss curves (gonum/plot) and
// grids of images such as originals above their reconstructions. Files are
// written atomically, so a crash never leaves half a PNG behind.
package report

import (
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/bottleneck-ml/bottleneck/internal/plotpng"
)

// Size of the LossCurve picture in pixels.
const (
	LossCurveWidth  = 800
	LossCurveHeight = 500
)

// LossCurve writes a PNG line plot of the training and validation loss per
// epoch (epoch 1 is the first value) to path. val may be empty. NaN and
// infinite losses are skipped, leaving a gap in the line. The y axis is
// logarithmic when the positive losses span more than two decades.
func LossCurve(path string, train, val []float64, title string) (err error) {
	if len(train) == 0 && len(val) == 0 {
		return fmt.Errorf("report: loss curve %s: no losses to plot; train for at least one epoch", path)
	}
	logY := spansDecades(2, train, val)

	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = "loss"
	p.X.Tick.Marker = integerTicks{}
	p.Add(plotter.NewGrid())
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	p.Legend.Top = true

	series := []struct {
		name   string
		losses []float64
		color  color.Color
		dashes []vg.Length
	}{
		{"train", train, color.RGBA{R: 31, G: 119, B: 180, A: 255}, nil},
		{"validation", val, color.RGBA{R: 255, G: 127, B: 14, A: 255}, []vg.Length{vg.Points(6), vg.Points(3)}},
	}
	for _, s := range series {
		if len(s.losses) == 0 {
			continue
		}
		if err := addSeries(p, s.name, s.losses, s.color, s.dashes, logY); err != nil {
			return fmt.Errorf("report: loss curve %s: %w", path, err)
		}
	}

	if err := plotpng.Save(path, p, LossCurveWidth, LossCurveHeight); err != nil {
		return fmt.Errorf("report: loss curve %s: %w", path, err)
	}
	return nil
}

// usable reports whether v can be drawn on the y axis.
func usable(v float64, logY bool) bool {
	return !math.IsNaN(v) && !math.IsInf(v, 0) && (!logY || v > 0)
}

// addSeries adds one loss series as lines over its runs of usable values;
// a lone value between gaps is drawn as a dot so it stays visible.
func addSeries(p *plot.Plot, name string, losses []float64, c color.Color, dashes []vg.Length, logY bool) error {
	var run plotter.XYs
	flush := func() error {
		switch len(run) {
		case 0:
			return nil
		case 1:
			s, err := plotter.NewScatter(run)
			if err != nil {
				return err
			}
			s.GlyphStyle.Color = c
			s.GlyphStyle.Shape = draw.CircleGlyph{}
			s.GlyphStyle.Radius = vg.Points(2)
			p.Add(s)
		default:
			l, err := plotter.NewLine(run)
			if err != nil {
				return err
			}
			l.LineStyle.Color = c
			l.LineStyle.Width = vg.Points(1.5)
			l.LineStyle.Dashes = dashes
			p.Add(l)
		}
		run = nil
		return nil
	}
	for i, v := range losses {
		if !usable(v, logY) {
			if err := flush(); err != nil {
				return err
			}
			continue
		}
		run = append(run, plotter.XY{X: float64(i + 1), Y: v})
	}
	if err := flush(); err != nil {
		return err
	}
	// The legend entry is a line in the series' style even when every
	// value was skipped, so the reader sees the series was expected.
	p.Legend.Add(name, &plotter.Line{LineStyle: draw.LineStyle{Color: c, Width: vg.Points(1.5), Dashes: dashes}})
	return nil
}

// spansDecades reports whether every finite value is positive and the
// largest is more than 10^d times the smallest.
func spansDecades(d float64, series ...[]float64) bool {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, v := range s {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			if v <= 0 {
				return false
			}
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	return hi > lo*math.Pow(10, d)
}

// integerTicks marks only whole epochs.
type integerTicks struct{}

func (integerTicks) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for _, t := range (plot.DefaultTicks{}).Ticks(lo, hi) {
		if t.Value == math.Trunc(t.Value) {
			if t.Label != "" {
				t.Label = strconv.FormatFloat(t.Value, 'f', -1, 64)
			}
			out = append(out, t)
		}
	}
	if len(out) == 0 { // a range inside one epoch: label its ends
		for _, v := range []float64{math.Ceil(lo), math.Floor(hi)} {
			if v >= lo && v <= hi {
				out = append(out, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
			}
		}
	}
	return out
}
