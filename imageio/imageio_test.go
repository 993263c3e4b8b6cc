package imageio

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

type fixture struct {
	H, W       int
	A, B       []float32
	PSNR, SSIM float64
	SSIMSelf   float64 `json:"ssim_self"`
	Small      []float32
	SmallH     int `json:"small_h"`
	SmallW     int `json:"small_w"`
	Up2        []float32
}

func readFixture(t *testing.T) fixture {
	raw, err := os.ReadFile("testdata/ssim_fixture.json")
	if err != nil {
		t.Fatal(err)
	}
	var f fixture
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestMetricsFixture compares PSNR and SSIM with an independent PyTorch
// implementation of ssim_index.m (testdata/make_ssim_fixture.py).
func TestMetricsFixture(t *testing.T) {
	f := readFixture(t)
	a := &Image{C: 1, H: f.H, W: f.W, Pix: f.A}
	b := &Image{C: 1, H: f.H, W: f.W, Pix: f.B}
	p, err := PSNR(a, b, 0)
	if err != nil || math.Abs(p-f.PSNR) > 1e-4 {
		t.Errorf("PSNR = %v, %v; want %v", p, err, f.PSNR)
	}
	s, err := SSIM(a, b, 0)
	if err != nil || math.Abs(s-f.SSIM) > 1e-5 {
		t.Errorf("SSIM = %v, %v; want %v", s, err, f.SSIM)
	}
	if s, _ := SSIM(a, a, 0); math.Abs(s-1) > 1e-9 {
		t.Errorf("SSIM(a, a) = %v; want 1", s)
	}
	if p, _ := PSNR(a, a, 0); !math.IsInf(p, 1) {
		t.Errorf("PSNR(a, a) = %v; want +Inf", p)
	}
	if _, err := PSNR(a, New(1, 3, 3), 0); err == nil {
		t.Error("PSNR of different sizes: want an error")
	}
	if _, err := SSIM(New(1, 8, 8), New(1, 8, 8), 0); err == nil {
		t.Error("SSIM of 8×8: want an error")
	}
}

func TestBicubicFixture(t *testing.T) {
	f := readFixture(t)
	small := &Image{C: 1, H: f.SmallH, W: f.SmallW, Pix: f.Small}
	up := Upscale(small, 2)
	for i, v := range up.Pix {
		if math.Abs(float64(v-f.Up2[i])) > 1e-5 {
			t.Fatalf("Upscale ×2 [%d] = %v; want %v", i, v, f.Up2[i])
		}
	}
}

func TestResizeProperties(t *testing.T) {
	// a constant stays constant, a linear ramp stays linear inside
	m := New(1, 12, 12)
	for i := range m.Pix {
		m.Pix[i] = 0.3
	}
	for _, s := range []int{2, 3, 4} {
		for _, v := range Downscale(m, s).Pix {
			if math.Abs(float64(v)-0.3) > 1e-6 {
				t.Fatalf("Downscale(const, %d) = %v", s, v)
			}
		}
		u := Upscale(m, s)
		if u.H != 12*s || u.W != 12*s {
			t.Fatalf("Upscale size %d×%d", u.H, u.W)
		}
	}
	if _, err := Resize(m, 0, 3); err == nil {
		t.Error("Resize to 0 rows: want an error")
	}
}

func TestColourRoundTrips(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	m := New(3, 7, 9)
	for i := range m.Pix {
		m.Pix[i] = rng.Float32()
	}
	for name, back := range map[string]*Image{
		"ycbcr": YCbCrToRGB(RGBToYCbCr(m)),
		"lab":   LabToRGB(RGBToLab(m)),
		"opp":   OpponentToRGB(RGBToOpponent(m)),
	} {
		for i := range m.Pix {
			if math.Abs(float64(back.Pix[i]-m.Pix[i])) > 2e-4 {
				t.Fatalf("%s round trip [%d] = %v; want %v", name, i, back.Pix[i], m.Pix[i])
			}
		}
	}
	// known values: sRGB red is Lab (53.24, 80.09, 67.20); white is Y 235.
	red := &Image{C: 3, H: 1, W: 1, Pix: []float32{1, 0, 0}}
	lab := RGBToLab(red)
	want := []float32{53.24, 80.09, 67.20}
	for i := range want {
		if math.Abs(float64(lab.Pix[i]-want[i])) > 0.05 {
			t.Errorf("Lab(red)[%d] = %v; want %v", i, lab.Pix[i], want[i])
		}
	}
	white := &Image{C: 3, H: 1, W: 1, Pix: []float32{1, 1, 1}}
	if y := RGBToYCbCr(white).Pix[0] * 255; math.Abs(float64(y)-235) > 1e-3 {
		t.Errorf("Y(white) = %v; want 235", y)
	}
}

// TestOpponentNoise: noise independent across R, G, B with one σ becomes
// independent across the opponent planes with σ/√3, σ/√2 and σ·√6/4, and
// the planes of any picture in [0, 1] stay in [0, 1] — what lets a grey
// denoiser trained on [0, 1] clean them (imagetask.Denoise).
func TestOpponentNoise(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n, sigma = 200000, 0.1
	m := New(3, 1, n)
	for i := range m.Pix {
		m.Pix[i] = float32(rng.NormFloat64() * sigma)
	}
	o := RGBToOpponent(m)
	want := []float64{sigma / math.Sqrt(3), sigma / math.Sqrt(2), sigma * math.Sqrt(6) / 4}
	mean := []float64{0, 0.5, 0.5}
	planes := make([][]float64, 3)
	for c := range 3 {
		var s2 float64
		for _, v := range o.Plane(c) {
			d := float64(v) - mean[c]
			planes[c] = append(planes[c], d)
			s2 += d * d
		}
		if sd := math.Sqrt(s2 / n); math.Abs(sd/want[c]-1) > 0.01 {
			t.Errorf("plane %d: noise σ %.5f; want %.5f", c, sd, want[c])
		}
	}
	for a := range 3 {
		for b := a + 1; b < 3; b++ {
			var ab, aa, bb float64
			for i := range n {
				ab += planes[a][i] * planes[b][i]
				aa += planes[a][i] * planes[a][i]
				bb += planes[b][i] * planes[b][i]
			}
			if r := ab / math.Sqrt(aa*bb); math.Abs(r) > 0.01 {
				t.Errorf("planes %d and %d: noise correlation %.4f; want 0", a, b, r)
			}
		}
	}
	// the corners of the RGB cube land inside [0, 1]
	for corner := range 8 {
		px := &Image{C: 3, H: 1, W: 1, Pix: []float32{float32(corner & 1), float32(corner >> 1 & 1), float32(corner >> 2 & 1)}}
		for c, v := range RGBToOpponent(px).Pix {
			if v < 0 || v > 1 {
				t.Errorf("corner %v: plane %d = %v, outside [0, 1]", px.Pix, c, v)
			}
		}
	}
}

// TestTiledSeamless checks that tiles blend back to exactly the image for
// a pointwise function, at sizes around the tile size.
func TestTiledSeamless(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, sz := range [][2]int{{5, 7}, {32, 32}, {33, 70}, {100, 45}} {
		m := New(1, sz[0], sz[1])
		for i := range m.Pix {
			m.Pix[i] = rng.Float32()
		}
		calls := 0
		out, err := Tiled(m, 32, 8, 4, 2, func(w *Image) (*Image, error) {
			calls++
			if w.H%4 != 0 || w.W%4 != 0 {
				t.Fatalf("window %d×%d not a multiple of 4", w.H, w.W)
			}
			o := New(2, w.H, w.W)
			for i, v := range w.Pix {
				o.Pix[i] = 2 * v
				o.Pix[len(w.Pix)+i] = v + 1
			}
			return o, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range m.Pix {
			if math.Abs(float64(out.Pix[i]-2*v)) > 1e-5 || math.Abs(float64(out.Pix[len(m.Pix)+i]-v-1)) > 1e-5 {
				t.Fatalf("%v: pixel %d = %v, %v; want %v, %v", sz, i, out.Pix[i], out.Pix[len(m.Pix)+i], 2*v, v+1)
			}
		}
		if sz[0] > 32 && calls < 2 {
			t.Errorf("%v: %d tiles", sz, calls)
		}
	}
}

func TestReadWrite(t *testing.T) {
	dir := t.TempDir()
	g := image.NewGray(image.Rect(0, 0, 6, 4))
	for i := range g.Pix {
		g.Pix[i] = uint8(i * 10)
	}
	p := filepath.Join(dir, "g.png")
	if err := WriteImagePNG(p, g); err != nil {
		t.Fatal(err)
	}
	img, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if !IsGrey(img) {
		t.Error("grey PNG not grey")
	}
	m := Grey(img)
	if m.H != 4 || m.W != 6 || math.Abs(float64(m.Pix[5])-50.0/255) > 1e-6 {
		t.Errorf("Grey = %d×%d, pix 5 %v", m.H, m.W, m.Pix[5])
	}
	out := filepath.Join(dir, "rgb.png")
	if err := WritePNG(out, GreyToRGB(m)); err != nil {
		t.Fatal(err)
	}
	if err := WritePNG(filepath.Join(dir, "x.jpg"), m); err == nil {
		t.Error("writing .jpg: want an error")
	}
	// errors, never panics
	bad := filepath.Join(dir, "bad.png")
	os.WriteFile(bad, []byte("not an image at all"), 0o644)
	if _, err := Read(bad); !errors.Is(err, ErrFormat) {
		t.Errorf("Read(garbage) = %v; want ErrFormat", err)
	}
	var buf bytes.Buffer
	png.Encode(&buf, g)
	trunc := filepath.Join(dir, "trunc.png")
	os.WriteFile(trunc, buf.Bytes()[:buf.Len()/2], 0o644)
	if _, err := Read(trunc); err == nil || !strings.Contains(err.Error(), "trunc.png") || !strings.Contains(err.Error(), "re-export") {
		t.Errorf("Read(truncated) = %v; want an error naming the file and what to do", err)
	}
	if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), "is a folder") {
		t.Errorf("Read(folder) = %v; want an error saying it is a folder", err)
	}
	if _, err := Read(filepath.Join(dir, "missing.png")); err == nil {
		t.Error("Read(missing) = nil error")
	}
	c := image.NewRGBA(image.Rect(0, 0, 2, 1))
	c.Set(0, 0, color.RGBA{255, 0, 0, 255})
	if IsGrey(c) {
		t.Error("red image reported grey")
	}
}

func FuzzDecode(f *testing.F) {
	var buf bytes.Buffer
	png.Encode(&buf, image.NewGray(image.Rect(0, 0, 3, 3)))
	f.Add(buf.Bytes())
	f.Add([]byte("BM"))
	f.Fuzz(func(t *testing.T, b []byte) {
		Decode(bytes.NewReader(b))
	})
}

func TestListGlob(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a1.png", "a2.png", "b1.png", "a3.txt"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := List(filepath.Join(dir, "a*"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "a1.png"), filepath.Join(dir, "a2.png")}
	if !slices.Equal(got, want) {
		t.Errorf("List(a*) = %v, want %v", got, want)
	}
	if _, err := List(filepath.Join(dir, "c*")); err == nil || !strings.Contains(err.Error(), "matches no") {
		t.Errorf("List(c*) error = %v, want one saying it matches nothing", err)
	}
	if _, err := List(filepath.Join(dir, "nothing.png")); err == nil {
		t.Error("List of a missing file gave no error")
	}
	got, err = List(filepath.Join(dir, "b*") + "," + filepath.Join(dir, "a2.png") + "," + filepath.Join(dir, "b1.png"))
	if err != nil {
		t.Fatal(err)
	}
	want = []string{filepath.Join(dir, "b1.png"), filepath.Join(dir, "a2.png")}
	if !slices.Equal(got, want) {
		t.Errorf("List(b*,a2.png,b1.png) = %v, want %v (in order, once each)", got, want)
	}
	if _, err := List(filepath.Join(dir, "a*") + "," + filepath.Join(dir, "c*")); err == nil || !strings.Contains(err.Error(), "matches no") {
		t.Errorf("List(a*,c*) error = %v, want the failing part's", err)
	}
}

func TestColourStatistics(t *testing.T) {
	fill := func(rgb ...[3]float32) *Image {
		m := New(3, 1, len(rgb))
		for i, c := range rgb {
			for ch := range 3 {
				m.Plane(ch)[i] = c[ch]
			}
		}
		return m
	}
	grey := fill([3]float32{0.2, 0.2, 0.2}, [3]float32{0.7, 0.7, 0.7})
	if c, m := Chroma(grey), Colourfulness(grey); math.Abs(c) > 1e-3 || m != 0 {
		t.Errorf("grey: chroma %g, colourfulness %g; want 0, 0", c, m)
	}
	// Pure red: a* 80.1, b* 67.2 (D65), so chroma 104.6; rg = 255, yb = 127.5,
	// no spread: M = 0.3·√(255²+127.5²) = 85.53.
	red := fill([3]float32{1, 0, 0})
	if c := Chroma(red); math.Abs(c-104.6) > 0.5 {
		t.Errorf("red chroma %g, want 104.6", c)
	}
	if m := Colourfulness(red); math.Abs(m-85.53) > 0.01 {
		t.Errorf("red colourfulness %g, want 85.53", m)
	}
	// One hue at two strengths (sepia) is less colourful than two hues of
	// the same chroma.
	sepia := fill([3]float32{0.6, 0.5, 0.4}, [3]float32{0.4, 0.3, 0.2})
	two := fill([3]float32{0.6, 0.5, 0.4}, [3]float32{0.4, 0.5, 0.6})
	if Colourfulness(sepia) >= Colourfulness(two) {
		t.Errorf("sepia %g is as colourful as two hues %g", Colourfulness(sepia), Colourfulness(two))
	}
}

func TestIsSet(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a.png")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		want bool
	}{
		{dir, true},
		{file, false},
		{filepath.Join(dir, "*.png"), true},
		{file + "," + file, true},
		{filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), false},
	} {
		if got := IsSet(c.path); got != c.want {
			t.Errorf("IsSet(%s) = %v, want %v", c.path, got, c.want)
		}
	}
}
