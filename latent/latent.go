// Package latent works in a model's code space: the codes of a data set,
// new samples (a VAE's prior, or a Gaussian fitted to a plain
// autoencoder's codes), interpolation between two inputs' codes (linear,
// or spherical for a VAE's Gaussian prior), a VAE's negative
// log-likelihood by importance sampling, 2-D projections of codes (PCA or
// t-SNE), and a scatter picture of codes coloured by label.
package latent

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/bottleneck-ml/bottleneck/internal/plotpng"
)

// Lerp returns steps codes from a to b on the straight line, a and b
// included (steps ≥ 2).
func Lerp(a, b []float32, steps int) [][]float32 {
	out := make([][]float32, steps)
	for i := range out {
		t := float64(i) / float64(max(steps-1, 1))
		z := make([]float32, len(a))
		for j := range z {
			z[j] = float32((1-t)*float64(a[j]) + t*float64(b[j]))
		}
		out[i] = z
	}
	return out
}

// Slerp returns steps codes from a to b along the great circle (White
// 2016, "Sampling generative networks"): under a Gaussian prior, points
// on the straight line between two samples have atypically small norms,
// while slerp keeps them at a typical distance from the origin. It falls
// back to Lerp for (anti)parallel or zero codes.
func Slerp(a, b []float32, steps int) [][]float32 {
	na, nb := norm(a), norm(b)
	if na == 0 || nb == 0 {
		return Lerp(a, b, steps)
	}
	var dot float64
	for j := range a {
		dot += float64(a[j]) * float64(b[j])
	}
	cos := math.Max(-1, math.Min(1, dot/(na*nb)))
	omega := math.Acos(cos)
	so := math.Sin(omega)
	if so < 1e-6 {
		return Lerp(a, b, steps)
	}
	out := make([][]float32, steps)
	for i := range out {
		t := float64(i) / float64(max(steps-1, 1))
		wa := math.Sin((1-t)*omega) / so
		wb := math.Sin(t*omega) / so
		z := make([]float32, len(a))
		for j := range z {
			z[j] = float32(wa*float64(a[j]) + wb*float64(b[j]))
		}
		out[i] = z
	}
	return out
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// palette is matplotlib's tab10, then tab20's light half.
var palette = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255},
	{148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255},
	{188, 189, 34, 255}, {23, 190, 207, 255}, {174, 199, 232, 255}, {255, 187, 120, 255},
	{152, 223, 138, 255}, {255, 152, 150, 255}, {197, 176, 213, 255}, {196, 156, 148, 255},
	{247, 182, 210, 255}, {199, 199, 199, 255}, {219, 219, 141, 255}, {158, 218, 229, 255},
}

// MaxMapClasses is the number of labels Map colours apart; more labels
// are an error (drop --label or pick a coarser column).
const MaxMapClasses = 20

// Map writes a PNG scatter plot of points (x, y) to path, coloured by
// labels (nil: one colour), with a legend, axis names and a title.
func Map(path string, xs, ys []float64, labels []string, title, xName, yName string) (err error) {
	if len(xs) != len(ys) || (labels != nil && len(labels) != len(xs)) {
		return fmt.Errorf("latent: map %s: %d x, %d y and %d labels differ", path, len(xs), len(ys), len(labels))
	}
	if len(xs) == 0 {
		return fmt.Errorf("latent: map %s: no points", path)
	}
	groups := map[string]plotter.XYs{}
	for i := range xs {
		l := ""
		if labels != nil {
			l = labels[i]
		}
		groups[l] = append(groups[l], plotter.XY{X: xs[i], Y: ys[i]})
	}
	if len(groups) > MaxMapClasses {
		return fmt.Errorf("latent: map %s: %d distinct labels, at most %d can be coloured apart; pass a coarser --label or none", path, len(groups), MaxMapClasses)
	}
	names := make([]string, 0, len(groups))
	for k := range groups {
		names = append(names, k)
	}
	slices.SortFunc(names, compareLabels)
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xName
	p.Y.Label.Text = yName
	p.Legend.Top = true
	p.Legend.Left = false
	for i, name := range names {
		s, err := plotter.NewScatter(groups[name])
		if err != nil {
			return fmt.Errorf("latent: map %s: %w", path, err)
		}
		s.GlyphStyle.Color = palette[i%len(palette)]
		s.GlyphStyle.Radius = vg.Points(1.2)
		s.GlyphStyle.Shape = draw.CircleGlyph{}
		p.Add(s)
		if labels != nil {
			p.Legend.Add(name, s)
		}
	}
	if err := plotpng.Save(path, p, 800, 700); err != nil {
		return fmt.Errorf("latent: map %s: %w", path, err)
	}
	return nil
}

// compareLabels orders numeric labels numerically, others as text.
func compareLabels(a, b string) int {
	var fa, fb float64
	_, ea := fmt.Sscan(a, &fa)
	_, eb := fmt.Sscan(b, &fb)
	if ea == nil && eb == nil && fa != fb {
		if fa < fb {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}
