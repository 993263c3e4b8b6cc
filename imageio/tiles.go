package imageio

import "fmt"

// Tiled applies f to overlapping tile×tile windows of m and blends the
// results with weights that ramp linearly across the overlap, so tile edges
// leave no seams; memory beyond the output is one tile. f receives a window
// padded by mirroring to a multiple of mult on each side and must return an
// image of the same height and width with outC channels. Images smaller
// than a tile are processed whole.
func Tiled(m *Image, tile, overlap, mult, outC int, f func(*Image) (*Image, error)) (*Image, error) {
	if mult < 1 {
		mult = 1
	}
	if tile < 2*overlap+mult {
		return nil, fmt.Errorf("imageio: tile %d too small for overlap %d", tile, overlap)
	}
	out := New(outC, m.H, m.W)
	wsum := make([]float32, m.H*m.W)
	ys := starts(m.H, tile, overlap)
	xs := starts(m.W, tile, overlap)
	for _, y0 := range ys {
		th := min(tile, m.H)
		for _, x0 := range xs {
			tw := min(tile, m.W)
			win := padTo(m.Crop(y0, x0, th, tw), mult)
			res, err := f(win)
			if err != nil {
				return nil, err
			}
			if res.C != outC || res.H != win.H || res.W != win.W {
				return nil, fmt.Errorf("imageio: tile function returned %d×%d×%d for a %d×%d window, want %d channels", res.C, res.H, res.W, win.H, win.W, outC)
			}
			for y := range th {
				wy := ramp(y, th, overlap, y0 == 0, y0+th == m.H)
				for x := range tw {
					wt := wy * ramp(x, tw, overlap, x0 == 0, x0+tw == m.W)
					i := (y0+y)*m.W + x0 + x
					wsum[i] += wt
					for c := range outC {
						out.Pix[c*m.H*m.W+i] += wt * res.Pix[(c*res.H+y)*res.W+x]
					}
				}
			}
		}
	}
	for c := range outC {
		p := out.Plane(c)
		for i := range p {
			p[i] /= wsum[i]
		}
	}
	return out, nil
}

// starts returns tile origins covering n with the given overlap.
func starts(n, tile, overlap int) []int {
	if n <= tile {
		return []int{0}
	}
	step := tile - overlap
	var s []int
	for p := 0; ; p += step {
		if p+tile >= n {
			s = append(s, n-tile)
			break
		}
		s = append(s, p)
	}
	return s
}

// ramp is the blending weight at position i of a window of n. Near an
// inner edge (one shared with another tile) a network sees padding instead
// of the neighbouring pixels, so the first half of the overlap gets weight
// 0 (the neighbour covers it fully) and the rest rises linearly; elsewhere
// the weight is 1.
func ramp(i, n, overlap int, atStart, atEnd bool) float32 {
	w := float32(1)
	if overlap > 0 {
		m := overlap / 2
		edge := func(d int) float32 { // d: distance from the inner edge
			if d < m {
				return 0
			}
			return float32(d-m+1) / float32(overlap-m+1)
		}
		if !atStart && i < overlap {
			w = min(w, edge(i))
		}
		if !atEnd && n-1-i < overlap {
			w = min(w, edge(n-1-i))
		}
	}
	return w
}

// padTo mirrors m on the bottom and right up to a multiple of mult.
func padTo(m *Image, mult int) *Image {
	h := (m.H + mult - 1) / mult * mult
	w := (m.W + mult - 1) / mult * mult
	if h == m.H && w == m.W {
		return m
	}
	out := New(m.C, h, w)
	for c := range m.C {
		for y := range h {
			sy := mirror(y, m.H)
			for x := range w {
				out.Pix[(c*h+y)*w+x] = m.Pix[(c*m.H+sy)*m.W+mirror(x, m.W)]
			}
		}
	}
	return out
}

func mirror(i, n int) int {
	for i < 0 || i >= n {
		if i < 0 {
			i = -i - 1
		}
		if i >= n {
			i = 2*n - 1 - i
		}
	}
	return i
}
