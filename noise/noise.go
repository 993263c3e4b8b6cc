// Package noise corrupts images for denoising autoencoders. A Model is
// parsed from a flag value:
//
//	gaussian:25        additive Gaussian noise, σ = 25 on the 0–255 scale
//	gaussian:0-55      σ drawn uniformly from [0, 55] per image (blind models)
//	saltpepper:0.1     a fraction of pixels set to 0 or 1
//	mask:0.3           a fraction of pixels dropped to 0 (masking noise)
//	block:0.5          a square 0.5 × the image side dropped to 0 at a random
//	                   place (cutout; the slice is one square grey image or C of them)
//	speckle:0.2        multiplicative: x + x·n, n ~ N(0, 0.2²)
//	poisson:30         shot noise with peak 30 (photons at white)
//	shift:2            the image translated by up to 2 pixels in x and y
//	                   (zero-filled); with a clean, unshifted target the
//	                   model learns to undo it, so its code ignores position
//	flip:0.5           the image mirrored left to right with probability 0.5
//	rotate:0.75        the image turned by 90°, 180° or 270° with probability
//	                   0.75 (each turn alike); with an upright target the
//	                   model must know what the picture shows to undo it
//	gain:0.6-1.4       every pixel times one factor (brightness); with a clean
//	                   target the code cannot know the factor and spends
//	                   nothing on it
//
// Kinds chain with "+", applied left to right: "shift:2+block:0.5".
//
// Samples are in [0, 1]; σ values are given on the 8-bit scale because
// that is how the denoising literature quotes them. Noise is not clipped
// unless Clip is set (the DnCNN/BM3D protocol leaves it unclipped).
package noise

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// kinds are the corruptions Parse accepts (ApplyLevel has a case for each).
var kinds = []string{"gaussian", "saltpepper", "mask", "block", "speckle", "poisson", "shift", "flip", "rotate", "gain"}

// Syntax is the flag syntax of every kind in one line, for a command's
// help text.
const Syntax = "gaussian:SIGMA, gaussian:LO-HI (blind), saltpepper:P, mask:P, block:F (a square F × the side zeroed), " +
	"speckle:S, poisson:PEAK, shift:PIXELS, flip:P (mirror left-right), rotate:P (quarter turns), gain:LO-HI (brightness factor); " +
	"chain kinds with + (shift:2+block:0.5); σ on the 0-255 scale; ',clip' clamps to [0,1]"

// Model is one kind of corruption.
type Model struct {
	Kind   string  // one of kinds
	Lo, Hi float64 // parameter range (equal for a fixed level)
	Clip   bool    // clamp the result to [0, 1]
	Then   *Model  // applied after this one ("a+b"), or nil
}

// Parse reads a noise flag value ("gaussian:25", "gaussian:0-55",
// "saltpepper:0.1", "mask:0.3", "speckle:0.2", "poisson:30"); a ",clip"
// suffix clamps results to [0, 1].
func Parse(s string) (Model, error) {
	if first, rest, ok := strings.Cut(s, "+"); ok {
		m, err := Parse(first)
		if err != nil {
			return m, err
		}
		next, err := Parse(rest)
		if err != nil {
			return m, err
		}
		m.Then = &next
		return m, nil
	}
	var m Model
	spec := strings.TrimSpace(s)
	if t, ok := strings.CutSuffix(spec, ",clip"); ok {
		spec, m.Clip = t, true
	}
	kind, arg, ok := strings.Cut(spec, ":")
	if !ok {
		return m, fmt.Errorf("noise: %q: want KIND:LEVEL, e.g. gaussian:25 or gaussian:0-55", s)
	}
	m.Kind = strings.ToLower(kind)
	switch m.Kind {
	case "sp", "salt-and-pepper", "salt_pepper":
		m.Kind = "saltpepper"
	}
	if !slices.Contains(kinds, m.Kind) {
		return m, fmt.Errorf("noise: %q: unknown kind %q; use %s or %s", s, kind, strings.Join(kinds[:len(kinds)-1], ", "), kinds[len(kinds)-1])
	}
	lo, hi, isRange := strings.Cut(arg, "-")
	var err error
	if m.Lo, err = strconv.ParseFloat(lo, 64); err != nil {
		return m, fmt.Errorf("noise: %q: level %q is not a number", s, lo)
	}
	m.Hi = m.Lo
	if isRange {
		if m.Hi, err = strconv.ParseFloat(hi, 64); err != nil {
			return m, fmt.Errorf("noise: %q: level %q is not a number", s, hi)
		}
	}
	if m.Lo < 0 || m.Hi < m.Lo || math.IsInf(m.Hi, 0) || m.Hi != m.Hi {
		return m, fmt.Errorf("noise: %q: want 0 ≤ low ≤ high", s)
	}
	if (m.Kind == "saltpepper" || m.Kind == "mask") && m.Hi > 1 {
		return m, fmt.Errorf("noise: %q: %s takes a fraction of pixels in [0, 1]", s, m.Kind)
	}
	if m.Kind == "block" && m.Hi > 1 {
		return m, fmt.Errorf("noise: %q: block takes a fraction of the image side in [0, 1]", s)
	}
	if (m.Kind == "flip" || m.Kind == "rotate") && m.Hi > 1 {
		return m, fmt.Errorf("noise: %q: %s takes the chance that an image is changed, in [0, 1]", s, m.Kind)
	}
	if m.Kind == "shift" && m.Hi > 64 {
		return m, fmt.Errorf("noise: %q: shift takes a number of pixels up to 64", s)
	}
	if m.Kind == "poisson" && m.Lo <= 0 {
		return m, fmt.Errorf("noise: %q: poisson takes a peak > 0", s)
	}
	return m, nil
}

// String is the flag syntax of m. Levels are written without exponents:
// the "-" of 1e-05 and the "+" of 1e+06 would read as a range and a chain.
func (m Model) String() string {
	s := m.Kind + ":" + strconv.FormatFloat(m.Lo, 'f', -1, 64)
	if m.Hi != m.Lo {
		s += "-" + strconv.FormatFloat(m.Hi, 'f', -1, 64)
	}
	if m.Clip {
		s += ",clip"
	}
	if m.Then != nil {
		s += "+" + m.Then.String()
	}
	return s
}

// Level draws the level for one image.
func (m Model) Level(rng *rand.Rand) float64 {
	if m.Hi == m.Lo {
		return m.Lo
	}
	return m.Lo + (m.Hi-m.Lo)*rng.Float64()
}

// Apply writes a corrupted copy of src to dst (same length; they may be the
// same slice) with one level drawn for the whole slice.
func (m Model) Apply(dst, src []float32, rng *rand.Rand) {
	m.ApplyLevel(dst, src, m.Level(rng), rng)
}

// ApplyLevel is Apply at a given level.
func (m Model) ApplyLevel(dst, src []float32, level float64, rng *rand.Rand) {
	switch m.Kind {
	case "gaussian":
		s := level / 255
		for i, v := range src {
			dst[i] = v + float32(s*rng.NormFloat64())
		}
	case "saltpepper":
		for i, v := range src {
			if rng.Float64() < level {
				v = float32(rng.IntN(2))
			}
			dst[i] = v
		}
	case "mask":
		for i, v := range src {
			if rng.Float64() < level {
				v = 0
			}
			dst[i] = v
		}
	case "block":
		copy(dst, src)
		block(dst, level, rng)
	case "shift":
		shift(dst, src, int(math.Round(level)), rng)
	case "flip":
		copy(dst, src)
		if rng.Float64() < level {
			mirror(dst)
		}
	case "rotate":
		copy(dst, src)
		if rng.Float64() < level {
			turn(dst, 1+rng.IntN(3))
		}
	case "gain":
		g := float32(level)
		for i, v := range src {
			dst[i] = v * g
		}
	case "speckle":
		for i, v := range src {
			dst[i] = v + v*float32(level*rng.NormFloat64())
		}
	case "poisson":
		for i, v := range src {
			dst[i] = float32(poisson(rng, float64(max(v, 0))*level) / level)
		}
	default:
		copy(dst, src)
	}
	if m.Clip {
		for i, v := range dst {
			dst[i] = min(max(v, 0), 1)
		}
	}
	if m.Then != nil {
		m.Then.Apply(dst, dst, rng)
	}
}

// shift writes src translated by (dy, dx), each uniform in [−k, k], to
// dst, zero-filling what comes in from outside; src is taken as C square
// images as in block (other lengths are copied unchanged). dst may be src
// (chained noise shifts in place): rows are moved in the order memmove
// would use, so no source row is overwritten before it is read and
// nothing is allocated.
func shift(dst, src []float32, k int, rng *rand.Rand) {
	c, side, ok := squares(len(src))
	if !ok {
		copy(dst, src)
		return
	}
	dy, dx := rng.IntN(2*k+1)-k, rng.IntN(2*k+1)-k
	if dy <= -side || dy >= side || dx <= -side || dx >= side {
		clear(dst[:len(src)]) // moved out of the picture: all zero-fill
		return
	}
	y0, y1 := max(0, dy), min(side, side+dy) // destination rows with a source
	x0, x1 := max(0, dx), min(side, side+dx) // and columns
	for ch := range c {
		in := src[ch*side*side : (ch+1)*side*side]
		out := dst[ch*side*side : (ch+1)*side*side]
		for i := range side {
			y := y0 + i // moving up (dy ≤ 0): top row first
			if dy > 0 {
				y = y1 - 1 - i // moving down: bottom row first
			}
			if y < y0 || y >= y1 {
				break
			}
			row := out[y*side : (y+1)*side]
			copy(row[x0:x1], in[(y-dy)*side+x0-dx:(y-dy)*side+x1-dx]) // copy is memmove
			clear(row[:x0])
			clear(row[x1:])
		}
		clear(out[:y0*side])
		clear(out[y1*side:])
	}
}

// mirror flips x, taken as C square images as in block, left to right in
// place (other lengths are left as they are).
func mirror(x []float32) {
	c, side, ok := squares(len(x))
	if !ok {
		return
	}
	for r := range c * side {
		slices.Reverse(x[r*side : (r+1)*side])
	}
}

// turn rotates x, taken as C square images as in block, by k quarter
// turns clockwise in place: each turn moves the four pixels of a ring
// position round in one swap, so nothing is allocated.
func turn(x []float32, k int) {
	c, n, ok := squares(len(x))
	if !ok {
		return
	}
	for ch := range c {
		a := x[ch*n*n : (ch+1)*n*n]
		for range k {
			for i := range n / 2 {
				for j := i; j < n-1-i; j++ {
					a[i*n+j], a[j*n+n-1-i], a[(n-1-i)*n+n-1-j], a[(n-1-j)*n+i] =
						a[(n-1-j)*n+i], a[i*n+j], a[j*n+n-1-i], a[(n-1-i)*n+n-1-j]
				}
			}
		}
	}
}

// squares reads n values as c square side×side images, c = 1 or 3.
func squares(n int) (c, side int, ok bool) {
	for _, c := range []int{1, 3} {
		side := int(math.Round(math.Sqrt(float64(n / c))))
		if c*side*side == n {
			return c, side, true
		}
	}
	return 0, 0, false
}

// block zeroes a square of side level·S at one random place in every
// channel of x, taken as C square S×S images (C = 1 or 3).
func block(x []float32, level float64, rng *rand.Rand) {
	c, side, ok := squares(len(x))
	if !ok {
		return // not square images: left as they are
	}
	b := min(int(math.Round(level*float64(side))), side)
	if b <= 0 {
		return
	}
	y0, x0 := rng.IntN(side-b+1), rng.IntN(side-b+1)
	for ch := range c {
		img := x[ch*side*side : (ch+1)*side*side]
		for y := y0; y < y0+b; y++ {
			clear(img[y*side+x0 : y*side+x0+b])
		}
	}
}

// poisson draws from Poisson(lam): Knuth's method for small means, a
// normal approximation above 30.
func poisson(rng *rand.Rand, lam float64) float64 {
	if lam <= 0 {
		return 0
	}
	if lam > 30 {
		return max(0, math.Round(lam+math.Sqrt(lam)*rng.NormFloat64()))
	}
	l := math.Exp(-lam)
	k, p := 0.0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}
