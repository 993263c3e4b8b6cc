package noise

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// equal compares models, following Then.
func equal(a, b *Model) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Kind == b.Kind && a.Lo == b.Lo && a.Hi == b.Hi && a.Clip == b.Clip && equal(a.Then, b.Then)
}

// FuzzParse parses mutated --noise values (seed corpus in
// testdata/fuzz/FuzzParse). A parsed model has a known kind and a level
// range Level stays in; String() parses back to the same model (model
// files store it); Apply on a small image never panics, gives no NaN for
// pixels in [0, 1] (at levels up to 1e6: σ = 1e300 overflows, as asked),
// keeps them in [0, 1] with clipping at the end of the chain, and does the
// same in place.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, spec string, side, channels uint8, seed uint64) {
		m, err := Parse(spec)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "noise: ") {
				t.Fatalf("Parse(%q): error %q lacks the noise: prefix", spec, err)
			}
			return
		}
		back, err := Parse(m.String())
		if err != nil || !equal(&back, &m) {
			t.Fatalf("Parse(%q) = %+v; its String() %q parses to %+v, %v", spec, m, m.String(), back, err)
		}
		rng := rand.New(rand.NewPCG(seed, 1))
		last, sane := &m, true
		for l := &m; l != nil; l = l.Then {
			switch l.Kind {
			case "gaussian", "saltpepper", "mask", "block", "speckle", "poisson", "shift":
			default:
				t.Fatalf("Parse(%q): kind %q", spec, l.Kind)
			}
			if !(0 <= l.Lo && l.Lo <= l.Hi) || math.IsInf(l.Hi, 0) {
				t.Fatalf("Parse(%q): level range [%v, %v]", spec, l.Lo, l.Hi)
			}
			if v := l.Level(rng); v < l.Lo || v > l.Hi {
				t.Fatalf("Parse(%q): Level %v outside [%v, %v]", spec, v, l.Lo, l.Hi)
			}
			last, sane = l, sane && l.Hi <= 1e6
		}
		// a small image (1 or 3 channels of side² pixels) or a flat row
		s := int(side % 17)
		n := s * s
		if channels%2 == 1 {
			n *= 3
		}
		if channels%5 == 4 {
			n = int(side) % 40 // any length, not a square image
		}
		src := make([]float32, n)
		for i := range src {
			src[i] = rng.Float32()
		}
		dst := make([]float32, n)
		m.Apply(dst, src, rng)
		for i, v := range dst {
			if sane && math.IsNaN(float64(v)) {
				t.Fatalf("%s on %d pixels: pixel %d is NaN", m, n, i)
			}
			if last.Clip && (v < 0 || v > 1) {
				t.Fatalf("%s on %d pixels: pixel %d is %v after clipping", m, n, i, v)
			}
		}
		// in place gives the same result as into another slice
		again := make([]float32, n)
		copy(again, src)
		m.Apply(again, again, rand.New(rand.NewPCG(seed, 1)))
		want := make([]float32, n)
		m.Apply(want, src, rand.New(rand.NewPCG(seed, 1)))
		for i := range want {
			if math.Float32bits(again[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s on %d pixels: in place pixel %d = %v, copied %v", m, n, i, again[i], want[i])
			}
		}
	})
}
