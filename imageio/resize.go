package imageio

import (
	"fmt"
	"math"
)

// cubic is Keys' cubic convolution kernel with a = -0.5 (MATLAB's bicubic).
func cubic(x float64) float64 {
	ax := math.Abs(x)
	ax2, ax3 := ax*ax, ax*ax*ax
	switch {
	case ax <= 1:
		return 1.5*ax3 - 2.5*ax2 + 1
	case ax <= 2:
		return -0.5*ax3 + 2.5*ax2 - 4*ax + 2
	}
	return 0
}

type contrib struct {
	idx  []int     // per output: taps source indices (len = n*taps)
	w    []float32 // weights
	taps int
}

// contributions computes MATLAB imresize's weights for one dimension
// (antialiasing when shrinking: the kernel is widened by 1/scale).
func contributions(in, out int, scale float64) contrib {
	kw := 4.0
	kscale := 1.0
	if scale < 1 {
		kw /= scale
		kscale = scale
	}
	taps := int(math.Ceil(kw)) + 2
	c := contrib{idx: make([]int, out*taps), w: make([]float32, out*taps), taps: taps}
	for o := range out {
		u := float64(o+1)/scale + 0.5*(1-1/scale)
		left := int(math.Floor(u - kw/2))
		ws := make([]float64, taps)
		sum := 0.0
		for t := range taps {
			j := left + t
			d := u - float64(j)
			w := kscale * cubic(d*kscale)
			ws[t] = w
			sum += w
			// mirror (symmetric) padding, 1-based j
			k := j - 1
			for k < 0 || k >= in {
				if k < 0 {
					k = -k - 1
				}
				if k >= in {
					k = 2*in - 1 - k
				}
			}
			c.idx[o*taps+t] = k
		}
		for t := range taps {
			c.w[o*taps+t] = float32(ws[t] / sum)
		}
	}
	return c
}

// Resize scales m to h×w with MATLAB-compatible bicubic interpolation
// (imresize(..., 'bicubic'), antialiased when shrinking). The scale per
// axis is out/in size, as imresize with an output size uses.
func Resize(m *Image, h, w int) (*Image, error) {
	if h <= 0 || w <= 0 || h > 1<<16 || w > 1<<16 {
		return nil, fmt.Errorf("imageio: resize to %d×%d: size out of range", h, w)
	}
	return ResizeScale(m, h, w, float64(h)/float64(m.H), float64(w)/float64(m.W)), nil
}

// ResizeScale resizes with explicit scale factors (MATLAB imresize(m, s)
// computes the output size as ceil(s·size) and uses s itself).
func ResizeScale(m *Image, h, w int, sy, sx float64) *Image {
	cx := contributions(m.W, w, sx)
	cy := contributions(m.H, h, sy)
	tmp := make([]float32, m.H*w)
	out := New(m.C, h, w)
	for c := range m.C {
		src := m.Plane(c)
		for y := range m.H {
			row := src[y*m.W : (y+1)*m.W]
			for o := range w {
				var s float32
				for t := range cx.taps {
					s += cx.w[o*cx.taps+t] * row[cx.idx[o*cx.taps+t]]
				}
				tmp[y*w+o] = s
			}
		}
		dst := out.Plane(c)
		for o := range h {
			d := dst[o*w : (o+1)*w]
			for t := range cy.taps {
				wt := cy.w[o*cy.taps+t]
				if wt == 0 {
					continue
				}
				r := tmp[cy.idx[o*cy.taps+t]*w:]
				for x := range w {
					d[x] += wt * r[x]
				}
			}
		}
	}
	return out
}

// Downscale shrinks m by an integer factor as imresize(m, 1/s, 'bicubic')
// does (the image is first cropped to a multiple of s).
func Downscale(m *Image, s int) *Image {
	h, w := m.H/s, m.W/s
	if h*s != m.H || w*s != m.W {
		m = m.Crop(0, 0, h*s, w*s)
	}
	return ResizeScale(m, h, w, 1/float64(s), 1/float64(s))
}

// Upscale enlarges m by an integer factor with bicubic interpolation.
func Upscale(m *Image, s int) *Image {
	return ResizeScale(m, m.H*s, m.W*s, float64(s), float64(s))
}
