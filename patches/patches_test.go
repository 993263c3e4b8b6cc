package patches

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/noise"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

func ramp(w, h int) image.Image {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.Set(x, y, color.RGBA{uint8(4 * x), uint8(4 * y), 128, 255})
		}
	}
	return m
}

// TestSampleSymmetries checks that patches are crops of the image under
// one of the 8 symmetries: the multiset of values equals a plain crop's.
func TestSampleSymmetries(t *testing.T) {
	p := FromImages(true, ramp(40, 30))
	rng := rand.New(rand.NewPCG(1, 1))
	dst := imageio.New(3, 8, 8)
	for range 50 {
		p.Sample(dst, rng)
		// R grows along x and G along y in the source: in the patch each
		// channel must be a ramp of step 4/255 along one axis, constant along the other.
		r := dst.Plane(0)
		g := dst.Plane(1)
		dx := math.Abs(float64(r[1] - r[0]))
		dy := math.Abs(float64(r[8] - r[0]))
		if math.Abs(dx+dy-4.0/255) > 1e-6 || dx*dy != 0 {
			t.Fatalf("R steps %v, %v: not a rotated crop", dx, dy)
		}
		if math.Abs(float64(g[1]-g[0]))+math.Abs(float64(g[8]-g[0])) < 1e-6 {
			t.Fatal("G does not vary")
		}
	}
}

func TestTasks(t *testing.T) {
	p := FromImages(true, ramp(60, 60), ramp(20, 20))
	rng := rand.New(rand.NewPCG(2, 2))
	nm, _ := noise.Parse("gaussian:25")
	for _, tc := range []struct {
		task  Task
		in, o int
	}{
		{Task{Kind: "denoise", Patch: 24, Noise: &nm}, 3, 3},
		{Task{Kind: "upscale", Patch: 24, Scales: []int{2, 3, 4}}, 1, 1},
		{Task{Kind: "colorize", Patch: 24}, 1, 2},
		{Task{Kind: "reconstruct", Patch: 24}, 3, 3},
	} {
		tk := tc.task
		tk.Pool = p
		if err := tk.Check(); err != nil {
			t.Fatal(err)
		}
		in, out := tk.Channels()
		if in != tc.in || out != tc.o {
			t.Errorf("%s channels %d, %d", tk.Kind, in, out)
		}
		x := tensor.New(3, in, 24, 24)
		y := tensor.New(3, out, 24, 24)
		tk.Fill(x, y, rng)
		diff := 0.0
		for i := range min(len(x.Data), len(y.Data)) {
			diff += math.Abs(float64(x.Data[i] - y.Data[i]))
		}
		if tk.Kind == "reconstruct" && diff != 0 || tk.Kind == "denoise" && diff == 0 {
			t.Errorf("%s: input-target difference %v", tk.Kind, diff)
		}
	}
	bad := Task{Kind: "upscale", Patch: 25, Scales: []int{2}, Pool: p}
	if bad.Check() == nil {
		t.Error("patch 25 with scale 2: want an error")
	}
	if (&Task{Kind: "upscale", Patch: 64, Scales: []int{2}, Pool: p}).Check() == nil {
		t.Error("patch larger than every image: want an error")
	}
	if (&Task{Kind: "denoise", Patch: 16, Pool: p}).Check() == nil {
		t.Error("denoise without noise: want an error")
	}
}

// Image gives a picture of the pool back as floats, channel-major.
func TestPoolImage(t *testing.T) {
	p := FromImages(true, ramp(10, 6))
	m := p.Image(0)
	if m.C != 3 || m.H != 6 || m.W != 10 {
		t.Fatalf("image %d×%d×%d, want 3×6×10", m.C, m.H, m.W)
	}
	// pixel (x 3, y 2): R 12, G 8, B 128
	for c, want := range []float32{12, 8, 128} {
		if got := m.Plane(c)[2*10+3] * 255; math.Abs(float64(got-want)) > 1e-3 {
			t.Errorf("channel %d: %v, want %v", c, got, want)
		}
	}
}
