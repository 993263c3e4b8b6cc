package noise

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	good := map[string]Model{
		"gaussian:25":         {Kind: "gaussian", Lo: 25, Hi: 25},
		"gaussian:0-55":       {Kind: "gaussian", Lo: 0, Hi: 55},
		"saltpepper:0.1":      {Kind: "saltpepper", Lo: 0.1, Hi: 0.1},
		"mask:0.3":            {Kind: "mask", Lo: 0.3, Hi: 0.3},
		"speckle:0.2":         {Kind: "speckle", Lo: 0.2, Hi: 0.2},
		"poisson:30":          {Kind: "poisson", Lo: 30, Hi: 30},
		"gaussian:127.5,clip": {Kind: "gaussian", Lo: 127.5, Hi: 127.5, Clip: true},
	}
	for s, want := range good {
		got, err := Parse(s)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", s, got, err, want)
		}
		if back, _ := Parse(got.String()); back != got {
			t.Errorf("Parse(%q).String() = %q does not round trip", s, got.String())
		}
	}
	for _, s := range []string{"", "gaussian", "gauss:25", "gaussian:x", "gaussian:30-10", "mask:2", "poisson:0", "gaussian:-1", "gaussian:NaN"} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q): want an error", s)
		}
	}
}

// TestStatistics checks each model's effect on a flat grey image.
func TestStatistics(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 200000
	src := make([]float32, n)
	for i := range src {
		src[i] = 0.5
	}
	dst := make([]float32, n)
	stats := func() (mean, std float64) {
		for _, v := range dst {
			mean += float64(v)
		}
		mean /= n
		for _, v := range dst {
			std += (float64(v) - mean) * (float64(v) - mean)
		}
		return mean, math.Sqrt(std / n)
	}
	m, _ := Parse("gaussian:25")
	m.Apply(dst, src, rng)
	if mean, std := stats(); math.Abs(mean-0.5) > 0.002 || math.Abs(std-25.0/255) > 0.002 {
		t.Errorf("gaussian:25: mean %v std %v; want 0.5, %v", mean, std, 25.0/255)
	}
	m, _ = Parse("mask:0.3")
	m.Apply(dst, src, rng)
	if mean, _ := stats(); math.Abs(mean-0.35) > 0.005 {
		t.Errorf("mask:0.3: mean %v; want 0.35", mean)
	}
	m, _ = Parse("saltpepper:0.2")
	m.Apply(dst, src, rng)
	changed := 0
	for _, v := range dst {
		if v != 0.5 {
			changed++
			if v != 0 && v != 1 {
				t.Fatalf("saltpepper value %v", v)
			}
		}
	}
	if f := float64(changed) / n; math.Abs(f-0.2) > 0.005 {
		t.Errorf("saltpepper:0.2 changed %v of pixels", f)
	}
	m, _ = Parse("poisson:30")
	m.Apply(dst, src, rng)
	if mean, std := stats(); math.Abs(mean-0.5) > 0.005 || math.Abs(std-math.Sqrt(15)/30) > 0.01 {
		t.Errorf("poisson:30: mean %v std %v; want 0.5, %v", mean, std, math.Sqrt(15)/30)
	}
	m, _ = Parse("speckle:0.2")
	m.Apply(dst, src, rng)
	if _, std := stats(); math.Abs(std-0.1) > 0.003 {
		t.Errorf("speckle:0.2: std %v; want 0.1", std)
	}
	m, _ = Parse("gaussian:127.5,clip")
	m.Apply(dst, src, rng)
	for _, v := range dst {
		if v < 0 || v > 1 {
			t.Fatalf("clipped value %v", v)
		}
	}
	m, _ = Parse("gaussian:0-55")
	for range 100 {
		if l := m.Level(rng); l < 0 || l > 55 {
			t.Fatalf("Level = %v", l)
		}
	}
}

// TestBlock checks that block:0.5 zeroes one 14×14 square of a 28×28
// image and leaves the rest.
func TestBlock(t *testing.T) {
	m, err := Parse("block:0.5")
	if err != nil || m.Kind != "block" {
		t.Fatalf("Parse(block:0.5) = %+v, %v", m, err)
	}
	if _, err := Parse("block:1.5"); err == nil {
		t.Error("block:1.5 parsed; want an error")
	}
	src := make([]float32, 28*28)
	for i := range src {
		src[i] = 1
	}
	dst := make([]float32, len(src))
	m.Apply(dst, src, rand.New(rand.NewPCG(1, 2)))
	zeros, minY, minX, maxY, maxX := 0, 28, 28, -1, -1
	for i, v := range dst {
		if v == 0 {
			zeros++
			y, x := i/28, i%28
			minY, minX, maxY, maxX = min(minY, y), min(minX, x), max(maxY, y), max(maxX, x)
		}
	}
	if zeros != 14*14 || maxY-minY != 13 || maxX-minX != 13 {
		t.Errorf("%d zeros in rows %d–%d, columns %d–%d; want one 14×14 square", zeros, minY, maxY, minX, maxX)
	}
}

func TestShiftAndChain(t *testing.T) {
	m, err := Parse("shift:2+block:0.5")
	if err != nil || m.Kind != "shift" || m.Then == nil || m.Then.Kind != "block" {
		t.Fatalf("Parse(shift:2+block:0.5) = %+v, %v", m, err)
	}
	if s := m.String(); s != "shift:2+block:0.5" {
		t.Errorf("String() = %q", s)
	}
	for _, bad := range []string{"shift:100", "shift:2+", "+block:0.5", "shift:2+mask:3"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q): want an error", bad)
		}
	}
	// One bright pixel in the middle of an 8×8 image moves by at most 2
	// in each direction, and every offset in [−2, 2]² turns up.
	shift, _ := Parse("shift:2")
	rng := rand.New(rand.NewPCG(3, 4))
	seen := map[[2]int]bool{}
	src := make([]float32, 64)
	src[4*8+4] = 1
	for range 400 {
		dst := make([]float32, 64)
		shift.Apply(dst, src, rng)
		n, at := 0, -1
		for i, v := range dst {
			if v != 0 {
				n, at = n+1, i
			}
		}
		if n != 1 || dst[at] != 1 {
			t.Fatalf("shifted image has %d lit pixels; want the one, moved", n)
		}
		dy, dx := at/8-4, at%8-4
		if dy < -2 || dy > 2 || dx < -2 || dx > 2 {
			t.Fatalf("moved by (%d, %d); want at most 2", dy, dx)
		}
		seen[[2]int{dy, dx}] = true
	}
	if len(seen) != 25 {
		t.Errorf("%d of the 25 offsets seen", len(seen))
	}
	// In place (dst == src) gives the same as a separate buffer.
	a := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}
	b := make([]float32, 9)
	shift.Apply(b, a, rand.New(rand.NewPCG(5, 5)))
	shift.Apply(a, a, rand.New(rand.NewPCG(5, 5)))
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("in place %v, copied %v", a, b)
		}
	}
}

// TestShiftAllocs: shifting into a separate buffer, as training batches
// do, allocates nothing; an empty slice is left alone.
func TestShiftAllocs(t *testing.T) {
	m, _ := Parse("shift:2")
	rng := rand.New(rand.NewPCG(1, 1))
	src, dst := make([]float32, 28*28), make([]float32, 28*28)
	if n := testing.AllocsPerRun(20, func() { m.Apply(dst, src, rng) }); n != 0 {
		t.Errorf("%v allocations per shifted image", n)
	}
	m.Apply(nil, nil, rng)
}

// TestShiftInPlace: shifting in place (as a chained noise does) gives what
// shifting into a separate buffer gives, for every offset and for colour
// images, and allocates nothing.
func TestShiftInPlace(t *testing.T) {
	m, _ := Parse("shift:2")
	src := make([]float32, 3*6*6)
	for i := range src {
		src[i] = float32(i + 1)
	}
	for seed := range uint64(200) {
		want := make([]float32, len(src))
		m.Apply(want, src, rand.New(rand.NewPCG(seed, 1)))
		got := slices.Clone(src)
		m.Apply(got, got, rand.New(rand.NewPCG(seed, 1)))
		if !slices.Equal(got, want) {
			t.Fatalf("seed %d: in place %v, copied %v", seed, got, want)
		}
	}
	chain, _ := Parse("block:0.5+shift:2")
	rng := rand.New(rand.NewPCG(1, 1))
	x, y := make([]float32, 28*28), make([]float32, 28*28)
	if n := testing.AllocsPerRun(20, func() { chain.Apply(y, x, rng) }); n != 0 {
		t.Errorf("%v allocations per chained shift", n)
	}
}

// TestFlipGain: flip:1 mirrors every row of every channel (in place too),
// flip:0 leaves the image, about half the images mirror at flip:0.5; gain
// multiplies every pixel by one factor drawn from its range.
func TestFlipGain(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	src := make([]float32, 3*4*4) // three 4×4 channels
	for i := range src {
		src[i] = float32(i)
	}
	always, _ := Parse("flip:1")
	dst := make([]float32, len(src))
	always.Apply(dst, src, rng)
	for i := range src {
		r, x := i/4, i%4
		if want := src[r*4+3-x]; dst[i] != want {
			t.Fatalf("flip:1 pixel %d = %v, want %v", i, dst[i], want)
		}
	}
	inPlace := slices.Clone(src)
	always.Apply(inPlace, inPlace, rng)
	if !slices.Equal(inPlace, dst) {
		t.Fatalf("flip in place %v, copied %v", inPlace, dst)
	}
	never, _ := Parse("flip:0")
	never.Apply(dst, src, rng)
	if !slices.Equal(dst, src) {
		t.Fatalf("flip:0 changed the image: %v", dst)
	}
	half, _ := Parse("flip:0.5")
	mirrored := 0
	for range 1000 {
		half.Apply(dst, src, rng)
		if !slices.Equal(dst, src) {
			mirrored++
		}
	}
	if mirrored < 430 || mirrored > 570 {
		t.Errorf("flip:0.5 mirrored %d of 1000 images", mirrored)
	}
	gain, err := Parse("gain:0.5-1.5")
	if err != nil || gain.String() != "gain:0.5-1.5" {
		t.Fatalf("Parse(gain:0.5-1.5) = %v, %v", gain, err)
	}
	for range 100 {
		gain.Apply(dst, src, rng)
		g := dst[1] / src[1]
		if g < 0.5 || g > 1.5 {
			t.Fatalf("gain factor %v outside [0.5, 1.5]", g)
		}
		for i := range src {
			if math.Abs(float64(dst[i]-src[i]*g)) > 1e-5*float64(src[i]) {
				t.Fatalf("pixel %d = %v, want %v × %v", i, dst[i], src[i], g)
			}
		}
	}
	for _, bad := range []string{"flip:2", "gain:-1"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q): want an error", bad)
		}
	}
}

// TestRotate: a quarter turn moves pixel (y, x) of an n×n image to
// (x, n−1−y) in every channel, for odd and even sides; rotate:1 turns
// every image by one, two or three quarters (each seen), never zero.
func TestRotate(t *testing.T) {
	for _, n := range []int{4, 5} {
		src := make([]float32, 3*n*n)
		for i := range src {
			src[i] = float32(i)
		}
		got := slices.Clone(src)
		turn(got, 1)
		for ch := range 3 {
			for y := range n {
				for x := range n {
					if g, w := got[ch*n*n+x*n+n-1-y], src[ch*n*n+y*n+x]; g != w {
						t.Fatalf("n=%d channel %d: pixel (%d,%d) went to %v, want %v", n, ch, y, x, g, w)
					}
				}
			}
		}
		four := slices.Clone(src)
		turn(four, 4)
		if !slices.Equal(four, src) {
			t.Fatalf("n=%d: four quarter turns changed the image", n)
		}
	}
	m, err := Parse("rotate:1")
	if err != nil {
		t.Fatal(err)
	}
	src := make([]float32, 16)
	src[1] = 1 // (0, 1): one turn → (1, 3), two → (3, 2), three → (2, 0)
	at := map[int]int{1*4 + 3: 1, 3*4 + 2: 2, 2*4 + 0: 3}
	seen := map[int]bool{}
	rng := rand.New(rand.NewPCG(2, 3))
	dst := make([]float32, 16)
	for range 300 {
		m.Apply(dst, src, rng)
		k, ok := at[slices.Index(dst, 1)]
		if !ok {
			t.Fatalf("rotate:1 left the pixel at %d", slices.Index(dst, 1))
		}
		seen[k] = true
	}
	if len(seen) != 3 {
		t.Errorf("turns seen: %v; want 1, 2 and 3", seen)
	}
	if n := testing.AllocsPerRun(20, func() { m.Apply(dst, src, rng) }); n != 0 {
		t.Errorf("%v allocations per turned image", n)
	}
}

// TestKindsListed: every kind Parse accepts parses with a level and is in
// the help line commands print.
func TestKindsListed(t *testing.T) {
	for _, k := range kinds {
		if _, err := Parse(k + ":0.5"); err != nil {
			t.Errorf("%s: %v", k, err)
		}
		if !strings.Contains(Syntax, k+":") {
			t.Errorf("Syntax does not show %s", k)
		}
	}
}
