package safetensors

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
)

// halfValue is the value of the half-precision bits h, computed in float64
// from the definition, independently of fromHalf.
func halfValue(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	e, m := int(h>>10&0x1f), float64(h&0x3ff)
	switch e {
	case 0x1f:
		if m != 0 {
			return math.NaN()
		}
		return sign * math.Inf(1)
	case 0:
		return sign * m * math.Pow(2, -24)
	}
	return sign * (1 + m/1024) * math.Pow(2, float64(e-15))
}

// TestHalfExact: every one of the 65,536 half values converts to the
// float32 the definition gives, and back to the same bits.
func TestHalfExact(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		want := halfValue(h)
		got := fromHalf(h)
		if math.IsNaN(want) {
			if !math.IsNaN(float64(got)) || !math.IsNaN(float64(fromHalf(toHalf(got)))) {
				t.Fatalf("%#04x: NaN became %v", h, got)
			}
			continue
		}
		if float64(got) != want || math.Signbit(float64(got)) != math.Signbit(want) {
			t.Fatalf("fromHalf(%#04x) = %v; want %v", h, got, want)
		}
		if back := toHalf(got); back != h {
			t.Fatalf("toHalf(%v) = %#04x; want %#04x", got, back, h)
		}
	}
}

// TestHalfRounding: toHalf picks the nearest half (ties to the even one),
// checked against a search over all halves in float64, on random float32
// values across the whole range, on the midpoints between neighbours, and
// beyond the largest half.
func TestHalfRounding(t *testing.T) {
	// the finite non-negative halves in increasing order
	var pos []float64
	for h := uint16(0); h < 0x7c00; h++ {
		pos = append(pos, halfValue(h))
	}
	nearest := func(v float64) uint16 {
		a := math.Abs(v)
		var sign uint16
		if math.Signbit(v) {
			sign = 0x8000
		}
		max := pos[len(pos)-1]
		// beyond max + half an ulp (2^4) rounds to Inf
		if a >= max+16 {
			return sign | 0x7c00
		}
		lo, hi := 0, len(pos)-1
		for hi-lo > 1 {
			mid := (lo + hi) / 2
			if pos[mid] <= a {
				lo = mid
			} else {
				hi = mid
			}
		}
		if a >= max {
			return sign | uint16(len(pos)-1)
		}
		dl, dh := a-pos[lo], pos[hi]-a
		switch {
		case dl < dh:
			return sign | uint16(lo)
		case dh < dl:
			return sign | uint16(hi)
		case lo%2 == 0:
			return sign | uint16(lo)
		}
		return sign | uint16(hi)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(v float32) {
		t.Helper()
		if got, want := toHalf(v), nearest(float64(v)); got != want {
			t.Fatalf("toHalf(%g) = %#04x (%g); want %#04x (%g)", v, got, halfValue(got), want, halfValue(want))
		}
	}
	for range 200000 {
		// exponents from far below the subnormals to above the range
		v := float32(rng.NormFloat64() * math.Pow(2, float64(rng.IntN(50)-30)))
		check(v)
	}
	for i := 0; i+1 < len(pos); i++ {
		mid := float32((pos[i] + pos[i+1]) / 2) // exact in float32 for halves
		check(mid)
		check(-mid)
		check(math.Nextafter32(mid, 0))
		check(math.Nextafter32(mid, 1e9))
	}
	for _, v := range []float32{65504, 65519.99, 65520, 1e9, 5.96e-8, 2.98e-8, 2.99e-8, 1e-10} {
		check(v)
		check(-v)
	}
}

// TestWriteF16: an F16 tensor is written at 2 bytes a value, read back as
// the rounded values with its dtype, beside an F32 one; a value beyond
// F16's range is refused.
func TestWriteF16(t *testing.T) {
	ts := []Tensor{
		{Name: "a", Shape: []int{2, 2}, Data: []float32{1, -0.1, 3.14159, 1e-6}, Dtype: F16},
		{Name: "b", Shape: []int{2}, Data: []float32{0.1, 7}},
	}
	var buf bytes.Buffer
	if err := Write(&buf, ts, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	got, _, err := Read(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Dtype != F16 || got[1].Dtype != F32 {
		t.Fatalf("dtypes %q, %q; want F16, F32", got[0].Dtype, got[1].Dtype)
	}
	for i, v := range ts[0].Data {
		if want := fromHalf(toHalf(v)); got[0].Data[i] != want {
			t.Errorf("a[%d] = %v; want %v", i, got[0].Data[i], want)
		}
		if d := math.Abs(float64(got[0].Data[i] - v)); d > 1e-3*math.Abs(float64(v))+6e-8 {
			t.Errorf("a[%d] = %v is %v from %v", i, got[0].Data[i], d, v)
		}
	}
	if got[1].Data[0] != 0.1 || got[1].Data[1] != 7 {
		t.Errorf("b = %v; want [0.1 7]", got[1].Data)
	}
	// header + 8 bytes of F16 + 8 of F32
	var f32 bytes.Buffer
	ts[0].Dtype = ""
	if err := Write(&f32, ts, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	if d := f32.Len() - buf.Len(); d < 8 || d > 16 {
		t.Errorf("F16 file is %d bytes smaller than F32; want 8 (plus header padding)", d)
	}
	err = Write(&bytes.Buffer{}, []Tensor{{Name: "big", Shape: []int{1}, Data: []float32{1e6}, Dtype: F16}}, nil)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("beyond F16's range")) {
		t.Errorf("Write of 1e6 as F16: %v; want a range error", err)
	}
}
