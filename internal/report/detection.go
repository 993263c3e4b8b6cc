package report

import (
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/internal/atomicfile"
	"github.com/bottleneck-ml/bottleneck/internal/plotpng"
)

var (
	colNormal  = color.RGBA{R: 31, G: 119, B: 180, A: 255}
	colAnomaly = color.RGBA{R: 214, G: 39, B: 40, A: 255}
	colThresh  = color.RGBA{R: 44, G: 160, B: 44, A: 255}
)

// Detection writes roc.png, pr.png, scores.png (histograms of log10
// score for normal and anomalous rows, threshold marked) and metrics.json
// into dir, for scores against labels y (true = anomalous).
func Detection(dir string, scores []float64, y []bool, th *anomaly.Threshold, r *anomaly.Metrics) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %s: %w", dir, err)
	}
	c := anomaly.Curves(scores, y)
	// ROC
	roc := plot.New()
	roc.Title.Text = fmt.Sprintf("ROC (AUC %.4f)", r.ROCAUC)
	roc.X.Label.Text, roc.Y.Label.Text = "false-positive rate", "true-positive rate"
	roc.X.Min, roc.X.Max, roc.Y.Min, roc.Y.Max = 0, 1, 0, 1.01
	roc.Add(plotter.NewGrid())
	pts := plotter.XYs{{X: 0, Y: 0}}
	for i := range c.FPR {
		pts = append(pts, plotter.XY{X: c.FPR[i], Y: c.TPR[i]})
	}
	if err := addLine(roc, pts, colNormal, "detector"); err != nil {
		return err
	}
	if err := addLine(roc, plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}}, color.Gray{Y: 150}, "chance"); err != nil {
		return err
	}
	if r.FAR != nil {
		addPoint(roc, *r.FAR, *r.Recall, "threshold")
	}
	// PR
	pr := plot.New()
	pr.Title.Text = fmt.Sprintf("precision-recall (AP %.4f)", r.PRAUC)
	pr.X.Label.Text, pr.Y.Label.Text = "recall", "precision"
	pr.X.Min, pr.X.Max, pr.Y.Min, pr.Y.Max = 0, 1, 0, 1.01
	pr.Add(plotter.NewGrid())
	pts = plotter.XYs{}
	for i := range c.TPR {
		pts = append(pts, plotter.XY{X: c.TPR[i], Y: c.Precision[i]})
	}
	if err := addLine(pr, pts, colNormal, "detector"); err != nil {
		return err
	}
	base := float64(r.Anomalies) / float64(len(y))
	if err := addLine(pr, plotter.XYs{{X: 0, Y: base}, {X: 1, Y: base}}, color.Gray{Y: 150}, "chance"); err != nil {
		return err
	}
	if r.Precision != nil {
		addPoint(pr, *r.Recall, *r.Precision, "threshold")
	}
	// Histogram of log10 scores.
	hist := plot.New()
	hist.Title.Text = "scores (log10 reconstruction error)"
	hist.X.Label.Text, hist.Y.Label.Text = "log10 score", "fraction of rows"
	var norm, anom plotter.Values
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, s := range scores {
		v := math.Log10(max(s, 1e-12))
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		lo, hi = min(lo, v), max(hi, v)
		if y[i] {
			anom = append(anom, v)
		} else {
			norm = append(norm, v)
		}
	}
	for _, s := range []struct {
		v    plotter.Values
		c    color.RGBA
		name string
	}{{norm, colNormal, "normal"}, {anom, colAnomaly, "anomalous"}} {
		if len(s.v) == 0 {
			continue
		}
		h, err := plotter.NewHist(s.v, 40)
		if err != nil {
			return fmt.Errorf("report: histogram: %w", err)
		}
		h.Normalize(1)
		fill := s.c
		fill.A = 110
		h.FillColor = fill
		h.LineStyle.Color = s.c
		hist.Add(h)
		hist.Legend.Add(s.name, h)
	}
	if th != nil && th.Value > 0 {
		tv := math.Log10(th.Value)
		hist.X.Min, hist.X.Max = min(lo, tv), max(hi, tv)
		l, err := plotter.NewLine(plotter.XYs{{X: tv, Y: 0}, {X: tv, Y: 1}})
		if err == nil {
			l.Color = colThresh
			l.Width = vg.Points(2)
			l.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
			hist.Add(l)
			hist.Legend.Add(fmt.Sprintf("threshold %.3g", th.Value), l)
		}
	}
	hist.Legend.Top = true
	for name, p := range map[string]*plot.Plot{"roc.png": roc, "pr.png": pr, "scores.png": hist} {
		if err := savePlot(filepath.Join(dir, name), p, 700, 500); err != nil {
			return err
		}
	}
	raw, _ := json.MarshalIndent(r, "", "  ")
	return atomicfile.WriteFile(filepath.Join(dir, "metrics.json"), func(w io.Writer) error {
		_, err := w.Write(append(raw, '\n'))
		return err
	}, 0o644)
}

func addLine(p *plot.Plot, pts plotter.XYs, c color.Color, name string) error {
	l, err := plotter.NewLine(pts)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	l.Color = c
	l.Width = vg.Points(1.5)
	p.Add(l)
	p.Legend.Add(name, l)
	p.Legend.Top = false
	p.Legend.Left = false
	return nil
}

func addPoint(p *plot.Plot, x, y float64, name string) {
	s, err := plotter.NewScatter(plotter.XYs{{X: x, Y: y}})
	if err != nil {
		return
	}
	s.Color = colThresh
	s.Radius = vg.Points(5)
	s.Shape = draw.CircleGlyph{}
	p.Add(s)
	p.Legend.Add(name, s)
}

// savePlot draws p into a w×h pixel PNG at path, atomically; a panic inside
// gonum/plot becomes an error.
func savePlot(path string, p *plot.Plot, w, h int) error {
	if err := plotpng.Save(path, p, w, h); err != nil {
		return fmt.Errorf("report: %s: %w", path, err)
	}
	return nil
}
