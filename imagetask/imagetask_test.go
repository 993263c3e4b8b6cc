package imagetask

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

func restorer(t *testing.T, seed uint64) *ae.Model {
	t.Helper()
	cfg, err := ae.Preset("restore:3:4", 1)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ae.New(cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func testImage(h, w int) *imageio.Image {
	rng := rand.New(rand.NewPCG(9, 9))
	img := imageio.New(1, h, w)
	for y := range h {
		for x := range w {
			img.Pix[y*w+x] = 0.5 + 0.3*float32(math.Sin(float64(x)/5)*math.Cos(float64(y)/7)) + 0.05*rng.Float32()
		}
	}
	return img
}

// TestRunTiledMatchesWhole runs a small fully convolutional model over an
// image larger than a tile and compares with one pass over the whole
// image: the overlapping tiles must blend without visible seams.
func TestRunTiledMatchesWhole(t *testing.T) {
	m := restorer(t, 2)
	img := testImage(90, 70)
	tiled, err := Run(m, img, Options{Tile: 48, Overlap: 16})
	if err != nil {
		t.Fatal(err)
	}
	whole, err := m.Reconstruct(nil, &tensor.Tensor{Shape: []int{1, 1, 90, 70}, Data: img.Pix})
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for i := range tiled.Pix {
		worst = math.Max(worst, math.Abs(float64(tiled.Pix[i]-whole.Data[i])))
	}
	if worst > 2e-3 {
		t.Errorf("tiled vs whole: max difference %v", worst)
	}
}

func TestDihedralInverse(t *testing.T) {
	img := imageio.New(2, 3, 5)
	for i := range img.Pix {
		img.Pix[i] = float32(i)
	}
	for tr := range 8 {
		back := dihedral(dihedral(img, tr, false), tr, true)
		if back.H != 3 || back.W != 5 || !slices.Equal(back.Pix, img.Pix) {
			t.Errorf("dihedral %d: inverse does not undo it", tr)
		}
	}
	out, err := Run(restorer(t, 1), imageio.New(1, 10, 14), Options{Ensemble: true})
	if err != nil || out.H != 10 || out.W != 14 {
		t.Fatalf("ensemble Run: %v", err)
	}
}

// TestOptionsPerCall runs two tile settings at once on two copies of a
// model: the settings belong to the call, not to a package global.
func TestOptionsPerCall(t *testing.T) {
	m := restorer(t, 3)
	img := testImage(64, 64)
	want := map[int]*imageio.Image{}
	for _, tile := range []int{32, 64} {
		out, err := Run(m, img, Options{Tile: tile, Overlap: 8})
		if err != nil {
			t.Fatal(err)
		}
		want[tile] = out
	}
	var wg sync.WaitGroup
	for _, tile := range []int{32, 64, 32, 64} {
		c := m.Clone()
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := Run(c, img, Options{Tile: tile, Overlap: 8})
			if err != nil || !slices.Equal(out.Pix, want[tile].Pix) {
				t.Errorf("tile %d at the same time as others: %v", tile, err)
			}
		}()
	}
	wg.Wait()
}

func TestTaskErrors(t *testing.T) {
	m := restorer(t, 1)
	if _, err := Upscale(m, imageio.New(1, 8, 8), 9, Options{}); err == nil {
		t.Error("scale 9 accepted")
	}
	if _, err := Colorize(m, imageio.New(3, 8, 8), Options{}); err == nil {
		t.Error("a 1→1 model accepted as a colorizer")
	}
	if _, err := Run(m, imageio.New(3, 8, 8), Options{}); err == nil {
		t.Error("a 3-channel picture accepted by a grey model")
	}
	out, err := Denoise(m, imageio.New(3, 8, 8), Options{})
	if err != nil || out.C != 3 {
		t.Errorf("a grey denoiser on a colour picture: %v", err)
	}
}
