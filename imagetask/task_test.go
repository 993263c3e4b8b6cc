package imagetask

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/noise"
	"github.com/bottleneck-ml/bottleneck/zoo"
)

// smooth is a grey picture of smooth shapes, what the shipped denoiser
// restores well.
func smooth(w, h int) *imageio.Image {
	m := imageio.New(1, h, w)
	for y := range h {
		for x := range w {
			v := 0.15 + 0.5*float64(x)/float64(w)
			if dx, dy := float64(x-w/3), float64(y-h/2); dx*dx+dy*dy < float64(w*w)/25 {
				v = 0.85
			}
			m.Pix[y*w+x] = float32(v)
		}
	}
	m.Quantize()
	return m
}

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		model, task string
		scale       int
		want        string // "" = fits
	}{
		{"denoise-gray", ae.TaskDenoise, 0, ""},
		{"denoise-gray", ae.TaskReconstruct, 0, ""},
		{"mnist-conv", ae.TaskDenoise, 0, ""},
		{"denoise-gray", ae.TaskUpscale, 2, "trained for denoise, not upscale"},
		{"upscale-x4", ae.TaskUpscale, 4, ""},
		{"upscale-x2", ae.TaskUpscale, 4, "scales [2], not 4"},
		{"upscale-x3", ae.TaskUpscale, 2, "scales [3], not 2"},
		{"colorize", ae.TaskColorize, 0, ""},
		{"colorize", ae.TaskDenoise, 0, "trained for colorize"},
		{"denoise-gray", "sharpen", 0, `no image task "sharpen"`},
	} {
		m, err := zoo.Open(c.model)
		if err != nil {
			t.Fatal(err)
		}
		err = Check(m, c.task, c.scale)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("Check(%s, %s, %d) = %v, want %q", c.model, c.task, c.scale, err, c.want)
		}
	}
}

func TestPictureShape(t *testing.T) {
	for _, c := range []struct {
		in, want []int
	}{
		{[]int{1, 28, 28}, []int{1, 28, 28}},
		{[]int{3, 8, 6}, []int{3, 8, 6}},
		{[]int{28, 28}, []int{1, 28, 28}},
		{[]int{784}, []int{1, 28, 28}},
		{[]int{785}, nil},
		{[]int{2, 8, 8}, nil},
	} {
		if got := PictureShape(c.in); !slices.Equal(got, c.want) {
			t.Errorf("PictureShape(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// Degrade, Apply and Compare together: the denoised picture beats the
// noisy one against the clean reference, and Compare's baseline PSNR is
// the noisy picture's.
func TestDegradeApplyCompare(t *testing.T) {
	m, err := zoo.Open("denoise-gray")
	if err != nil {
		t.Fatal(err)
	}
	clean := smooth(96, 64)
	nm, _ := noise.Parse("gaussian:30")
	in, ref, note, err := Degrade(ae.TaskDenoise, clean, Degradation{Noise: &nm, Seed: 4})
	if err != nil || ref != clean || !strings.Contains(note, "gaussian:30") {
		t.Fatalf("Degrade: %v, note %q", err, note)
	}
	for _, v := range in.Pix {
		if v < 0 || v > 1 || math.Abs(float64(v*255)-math.Round(float64(v*255))) > 1e-3 {
			t.Fatalf("the noisy picture is not clamped and quantised: %v", v)
		}
	}
	again, _, _, _ := Degrade(ae.TaskDenoise, clean, Degradation{Noise: &nm, Seed: 4})
	for i := range in.Pix {
		if in.Pix[i] != again.Pix[i] {
			t.Fatal("the same seed gave other noise")
		}
	}
	out, err := Apply(m, ae.TaskDenoise, in, 0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Compare(ae.TaskDenoise, out, in, ref, 0)
	if err != nil {
		t.Fatal(err)
	}
	noisy, _ := imageio.PSNR(in, clean, 0)
	if c.Baseline != "noisy" || math.Abs(c.BaselinePSNR-noisy) > 1e-9 || c.PSNR < c.BaselinePSNR+3 || c.SSIM <= c.BaselineSSIM {
		t.Errorf("Compare = %+v; the noisy picture has PSNR %.2f", c, noisy)
	}
	if _, err := Compare(ae.TaskDenoise, out, in, smooth(50, 50), 0); err == nil || !strings.Contains(err.Error(), "50×50") {
		t.Errorf("a reference of another size: %v", err)
	}
}

func TestDegradeUpscaleColorize(t *testing.T) {
	clean := smooth(51, 40)
	in, ref, _, err := Degrade(ae.TaskUpscale, clean, Degradation{Scale: 4})
	if err != nil || ref.W != 48 || ref.H != 40 || in.W != 12 || in.H != 10 {
		t.Fatalf("upscale ×4 of 51×40: input %d×%d, reference %d×%d, %v", in.W, in.H, ref.W, ref.H, err)
	}
	if _, _, _, err := Degrade(ae.TaskUpscale, smooth(3, 3), Degradation{Scale: 4}); err == nil {
		t.Error("a picture smaller than the scale was shrunk")
	}
	if _, _, _, err := Degrade(ae.TaskColorize, clean, Degradation{}); err == nil {
		t.Error("a grey picture was accepted to measure colorizing")
	}
	rgb := imageio.GreyToRGB(clean)
	grey, _, _, err := Degrade(ae.TaskColorize, rgb, Degradation{})
	if err != nil || grey.C != 1 {
		t.Errorf("colorize: %v, %d channels", err, grey.C)
	}
	if b, name := Baseline(ae.TaskUpscale, in, 4); name != "bicubic" || b.W != 48 {
		t.Errorf("upscale baseline %s %d wide", name, b.W)
	}
}
