package imageio

import (
	"fmt"
	"math"
)

// PSNR is the peak signal-to-noise ratio in dB of b against the reference
// a, both with peak 1, over every channel, ignoring border pixels at each
// edge (SRCNN removes scale pixels for super-resolution). Identical images
// give +Inf.
func PSNR(a, b *Image, border int) (float64, error) {
	if err := sameSize(a, b, border); err != nil {
		return 0, err
	}
	var se float64
	n := 0
	for c := range a.C {
		for y := border; y < a.H-border; y++ {
			for x := border; x < a.W-border; x++ {
				d := float64(a.At(c, y, x)) - float64(b.At(c, y, x))
				se += d * d
				n++
			}
		}
	}
	if se == 0 {
		return math.Inf(1), nil
	}
	return 10 * math.Log10(float64(n)/se), nil
}

func sameSize(a, b *Image, border int) error {
	if a.C != b.C || a.H != b.H || a.W != b.W {
		return fmt.Errorf("imageio: compare %d×%d×%d with %d×%d×%d: sizes differ", a.C, a.H, a.W, b.C, b.H, b.W)
	}
	if border < 0 || 2*border >= a.H || 2*border >= a.W {
		return fmt.Errorf("imageio: border %d leaves nothing of a %d×%d image", border, a.H, a.W)
	}
	return nil
}

// SSIM is the mean structural similarity of Wang et al. (2004) as their
// reference MATLAB code ssim_index.m computes it: an 11×11 Gaussian window
// with σ = 1.5, K1 = 0.01, K2 = 0.03, dynamic range 1, only windows fully
// inside the image, averaged over channels. border pixels are removed first.
func SSIM(a, b *Image, border int) (float64, error) {
	if err := sameSize(a, b, border); err != nil {
		return 0, err
	}
	h, w := a.H-2*border, a.W-2*border
	if h < 11 || w < 11 {
		return 0, fmt.Errorf("imageio: SSIM needs at least 11×11 pixels, have %d×%d", h, w)
	}
	var g [11]float64
	s := 0.0
	for i := range g {
		d := float64(i - 5)
		g[i] = math.Exp(-d * d / (2 * 1.5 * 1.5))
		s += g[i]
	}
	for i := range g {
		g[i] /= s
	}
	const c1, c2 = 0.01 * 0.01, 0.03 * 0.03
	total := 0.0
	for c := range a.C {
		pa := make([]float64, h*w)
		pb := make([]float64, h*w)
		for y := range h {
			for x := range w {
				pa[y*w+x] = float64(a.At(c, y+border, x+border))
				pb[y*w+x] = float64(b.At(c, y+border, x+border))
			}
		}
		prod := func(p, q []float64) []float64 {
			o := make([]float64, len(p))
			for i := range p {
				o[i] = p[i] * q[i]
			}
			return o
		}
		mu1, mu2 := filterValid(pa, h, w, g[:]), filterValid(pb, h, w, g[:])
		s11 := filterValid(prod(pa, pa), h, w, g[:])
		s22 := filterValid(prod(pb, pb), h, w, g[:])
		s12 := filterValid(prod(pa, pb), h, w, g[:])
		sum := 0.0
		for i := range mu1 {
			m1, m2 := mu1[i], mu2[i]
			v1, v2, cv := s11[i]-m1*m1, s22[i]-m2*m2, s12[i]-m1*m2
			sum += ((2*m1*m2 + c1) * (2*cv + c2)) / ((m1*m1 + m2*m2 + c1) * (v1 + v2 + c2))
		}
		total += sum / float64(len(mu1))
	}
	return total / float64(a.C), nil
}

// filterValid correlates p (h×w) with the separable window g⊗g, keeping
// only positions where the window lies inside.
func filterValid(p []float64, h, w int, g []float64) []float64 {
	k := len(g)
	ow, oh := w-k+1, h-k+1
	tmp := make([]float64, h*ow)
	for y := range h {
		for x := range ow {
			s := 0.0
			for t := range k {
				s += g[t] * p[y*w+x+t]
			}
			tmp[y*ow+x] = s
		}
	}
	out := make([]float64, oh*ow)
	for y := range oh {
		for x := range ow {
			s := 0.0
			for t := range k {
				s += g[t] * tmp[(y+t)*ow+x]
			}
			out[y*ow+x] = s
		}
	}
	return out
}

// Chroma is the mean CIE L*a*b* chroma √(a*²+b*²) of an RGB picture: 0 for
// grey, about 10–30 for everyday photographs. A colorizer that plays safe
// under a squared error gives pictures with a fraction of the original's.
func Chroma(m *Image) float64 {
	if m.C != 3 || len(m.Pix) == 0 {
		return 0
	}
	lab := RGBToLab(m)
	a, b := lab.Plane(1), lab.Plane(2)
	var s float64
	for i := range a {
		s += math.Hypot(float64(a[i]), float64(b[i]))
	}
	return s / float64(len(a))
}

// Colourfulness is Hasler and Süsstrunk's colourfulness M (2003) of an RGB
// picture on the 0–255 scale: √(σ_rg²+σ_yb²) + 0.3·√(μ_rg²+μ_yb²) over the
// opponent channels rg = R−G, yb = (R+G)/2−B. It rises with both the
// saturation and the spread of hues, so a sepia picture (one hue) scores low
// even where its chroma is not; 0 is grey, ~15 "slightly", ~33 "moderately",
// ~59 "quite" colourful in their scale.
func Colourfulness(m *Image) float64 {
	if m.C != 3 || len(m.Pix) == 0 {
		return 0
	}
	r, g, b := m.Plane(0), m.Plane(1), m.Plane(2)
	var srg, syb, qrg, qyb float64
	for i := range r {
		R, G, B := 255*float64(r[i]), 255*float64(g[i]), 255*float64(b[i])
		rg, yb := R-G, (R+G)/2-B
		srg += rg
		syb += yb
		qrg += rg * rg
		qyb += yb * yb
	}
	n := float64(len(r))
	mrg, myb := srg/n, syb/n
	vrg, vyb := max(qrg/n-mrg*mrg, 0), max(qyb/n-myb*myb, 0)
	return math.Sqrt(vrg+vyb) + 0.3*math.Hypot(mrg, myb)
}
