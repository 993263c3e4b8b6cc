package imagetask_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/imagetask"
	"github.com/bottleneck-ml/bottleneck/zoo"
)

// TestDenoiseColourOpponent: the shipped grey denoiser cleans a noisy
// colour picture better through Denoise (opponent planes) than run on R, G
// and B in turn, at σ = 15, 25 and 50.
func TestDenoiseColourOpponent(t *testing.T) {
	m, err := zoo.Open("denoise-gray")
	if err != nil {
		t.Fatal(err)
	}
	clean := photoLike()
	for _, sigma := range []float64{15, 25, 50} {
		noisy := clean.Clone()
		rng := rand.New(rand.NewPCG(1, uint64(sigma)))
		for i := range noisy.Pix {
			noisy.Pix[i] += float32(rng.NormFloat64() * sigma / 255)
		}
		opp, err := imagetask.Denoise(m, noisy, imagetask.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var planes []*imageio.Image
		for c := range 3 {
			p, err := imagetask.Run(m, noisy.Channels(c, c+1), imagetask.Options{})
			if err != nil {
				t.Fatal(err)
			}
			planes = append(planes, p)
		}
		rgb := imageio.Stack(planes...)
		po, _ := imageio.PSNR(clean, opp, 0)
		pr, _ := imageio.PSNR(clean, rgb, 0)
		pn, _ := imageio.PSNR(clean, noisy, 0)
		t.Logf("σ %v: noisy %.2f dB, R/G/B planes %.2f, opponent planes %.2f", sigma, pn, pr, po)
		if po <= pr || po <= pn+3 {
			t.Errorf("σ %v: opponent planes %.2f dB, R/G/B planes %.2f (noisy %.2f); want the opponent planes ahead", sigma, po, pr, pn)
		}
	}
}

// photoLike is a picture as photographs are: edges and texture in the
// brightness (stripes, a sine grating), colour varying slowly (a hue
// gradient).
func photoLike() *imageio.Image {
	const h, w = 48, 64
	clean := imageio.New(3, h, w)
	for y := range h {
		for x := range w {
			lum := 0.35 + 0.1*math.Sin(float64(3*x+y)/4)
			if (x/9+y/13)%2 == 0 {
				lum += 0.25
			}
			hue := 2 * math.Pi * float64(x+2*y) / float64(2*(h+w))
			for c := range 3 {
				v := lum + 0.12*math.Cos(hue+2*math.Pi*float64(c)/3)
				clean.Pix[(c*h+y)*w+x] = float32(v)
			}
		}
	}
	return clean
}

// TestDenoiseColourModel: the shipped colour denoiser (trained on colour)
// cleans a noisy colour picture in one pass, and a grey picture is
// refused with the model to use instead.
func TestDenoiseColourModel(t *testing.T) {
	m, err := zoo.Open("denoise-color")
	if err != nil {
		t.Fatal(err)
	}
	clean := photoLike()
	noisy := clean.Clone()
	rng := rand.New(rand.NewPCG(1, 25))
	for i := range noisy.Pix {
		noisy.Pix[i] += float32(rng.NormFloat64() * 25 / 255)
	}
	out, err := imagetask.Denoise(m, noisy, imagetask.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if out.C != 3 || out.H != clean.H || out.W != clean.W {
		t.Fatalf("output %d×%d×%d, want 3×%d×%d", out.C, out.H, out.W, clean.H, clean.W)
	}
	pd, _ := imageio.PSNR(clean, out, 0)
	pn, _ := imageio.PSNR(clean, noisy, 0)
	t.Logf("σ 25: noisy %.2f dB, denoise-color %.2f", pn, pd)
	if pd < pn+6 {
		t.Errorf("denoise-color gives %.2f dB from %.2f noisy; want at least 6 dB better", pd, pn)
	}
	_, err = imagetask.Denoise(m, noisy.Channels(0, 1), imagetask.Options{})
	if err == nil || !strings.Contains(err.Error(), "denoise-gray") {
		t.Errorf("a grey picture through the colour model: %v; want an error naming denoise-gray", err)
	}
}
