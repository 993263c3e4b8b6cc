package imageio

import (
	"math"
	"slices"
	"sync"
)

// affine3 returns the three planes out_i = a[i]·(p0, p1, p2, 1) of m's
// three planes p: every colour transform here but Lab is one (in float64,
// rounded once to float32).
func affine3(m *Image, a *[3][4]float64) *Image {
	out := New(3, m.H, m.W)
	p0, p1, p2 := m.Plane(0), m.Plane(1), m.Plane(2)
	o0, o1, o2 := out.Plane(0), out.Plane(1), out.Plane(2)
	for i := range p0 {
		x, y, z := float64(p0[i]), float64(p1[i]), float64(p2[i])
		o0[i] = float32(a[0][0]*x + a[0][1]*y + a[0][2]*z + a[0][3])
		o1[i] = float32(a[1][0]*x + a[1][1]*y + a[1][2]*z + a[1][3])
		o2[i] = float32(a[2][0]*x + a[2][1]*y + a[2][2]*z + a[2][3])
	}
	return out
}

// BT.601 studio range as MATLAB's rgb2ycbcr and ycbcr2rgb, on [0, 1]
// values (their 8-bit coefficients divided by 255, and by 256 for the
// inverse).
var (
	rgbToYCbCr = [3][4]float64{
		{65.481 / 255, 128.553 / 255, 24.966 / 255, 16.0 / 255},
		{-37.797 / 255, -74.203 / 255, 112.0 / 255, 128.0 / 255},
		{112.0 / 255, -93.786 / 255, -18.214 / 255, 128.0 / 255},
	}
	yCbCrToRGB = [3][4]float64{
		{298.082 / 256, 0, 408.583 / 256, -(298.082*16 + 408.583*128) / (256 * 255)},
		{298.082 / 256, -100.291 / 256, -208.120 / 256, -(298.082*16 - 100.291*128 - 208.120*128) / (256 * 255)},
		{298.082 / 256, 516.412 / 256, 0, -(298.082*16 + 516.412*128) / (256 * 255)},
	}
)

// RGBToYCbCr converts RGB in [0, 1] to BT.601 studio-range YCbCr divided by
// 255 (Y in [16/255, 235/255]), exactly as MATLAB's rgb2ycbcr, which the
// SRCNN/VDSR papers use for their Y-channel PSNR.
func RGBToYCbCr(m *Image) *Image { return affine3(m, &rgbToYCbCr) }

// YCbCrToRGB inverts RGBToYCbCr.
func YCbCrToRGB(m *Image) *Image { return affine3(m, &yCbCrToRGB) }

// The opponent planes (RGBToOpponent) and their inverse: with U' = U − ½
// and V' = V − ½, R = Y + U' + 2V'/3, G = Y − 4V'/3, B = Y − U' + 2V'/3.
var (
	rgbToOpponent = [3][4]float64{
		{1.0 / 3, 1.0 / 3, 1.0 / 3, 0},
		{0.5, 0, -0.5, 0.5},
		{0.25, -0.5, 0.25, 0.5},
	}
	opponentToRGB = [3][4]float64{
		{1, 1, 2.0 / 3, -0.5 - 1.0/3},
		{1, 0, -4.0 / 3, 2.0 / 3},
		{1, -1, 2.0 / 3, 0.5 - 1.0/3},
	}
)

// RGBToOpponent converts RGB in [0, 1] to three decorrelated planes in
// [0, 1]: the mean Y = (R+G+B)/3, U = (R−B)/2 + ½ and V = (R−2G+B)/4 + ½.
// Their directions (1,1,1), (1,0,−1), (1,−2,1) are orthogonal, so noise
// that is independent across R, G and B with one σ stays independent
// across Y, U and V, with σ/√3, σ/√2 and σ·√6/4 — all below σ. A grey
// denoiser run on each plane then sees less noise than on R, G or B, and
// U and V are smooth where the picture's colours are (CBM3D's opponent
// transform, scaled to the range a grey model was trained on).
func RGBToOpponent(m *Image) *Image { return affine3(m, &rgbToOpponent) }

// OpponentToRGB inverts RGBToOpponent.
func OpponentToRGB(m *Image) *Image { return affine3(m, &opponentToRGB) }

// D65 reference white.
const (
	whiteX = 0.950456
	whiteZ = 1.088754
)

func srgbToLinear(v float64) float64 {
	if v <= 0.04045 {
		return v / 12.92
	}
	return math.Pow((v+0.055)/1.055, 2.4)
}

func linearToSRGB(v float64) float64 {
	if v <= 0.0031308 {
		return 12.92 * v
	}
	return 1.055*math.Pow(v, 1/2.4) - 0.055
}

func labF(t float64) float64 {
	const d = 6.0 / 29
	if t > d*d*d {
		return math.Cbrt(t)
	}
	return t/(3*d*d) + 4.0/29
}

func labFInv(t float64) float64 {
	const d = 6.0 / 29
	if t > d {
		return t * t * t
	}
	return 3 * d * d * (t - 4.0/29)
}

// RGBToLab converts sRGB in [0, 1] to CIE L*a*b* (D65): L in [0, 100], a
// and b roughly in [-110, 110].
func RGBToLab(m *Image) *Image {
	out := New(3, m.H, m.W)
	r, g, b := m.Plane(0), m.Plane(1), m.Plane(2)
	L, A, B := out.Plane(0), out.Plane(1), out.Plane(2)
	for i := range r {
		R, G, Bl := srgbToLinear(float64(r[i])), srgbToLinear(float64(g[i])), srgbToLinear(float64(b[i]))
		x := (0.412453*R + 0.357580*G + 0.180423*Bl) / whiteX
		y := 0.212671*R + 0.715160*G + 0.072169*Bl
		z := (0.019334*R + 0.119193*G + 0.950227*Bl) / whiteZ
		fx, fy, fz := labF(x), labF(y), labF(z)
		L[i] = float32(116*fy - 16)
		A[i] = float32(500 * (fx - fy))
		B[i] = float32(200 * (fy - fz))
	}
	return out
}

// LabToRGB inverts RGBToLab (out-of-gamut colours are clamped to [0, 1]).
func LabToRGB(m *Image) *Image {
	out := New(3, m.H, m.W)
	L, A, B := m.Plane(0), m.Plane(1), m.Plane(2)
	r, g, b := out.Plane(0), out.Plane(1), out.Plane(2)
	for i := range L {
		fy := (float64(L[i]) + 16) / 116
		fx := fy + float64(A[i])/500
		fz := fy - float64(B[i])/200
		x, y, z := labFInv(fx)*whiteX, labFInv(fy), labFInv(fz)*whiteZ
		R := 3.240479*x - 1.537150*y - 0.498535*z
		G := -0.969256*x + 1.875992*y + 0.041556*z
		Bl := 0.055648*x - 0.204043*y + 1.057311*z
		r[i] = float32(min(max(linearToSRGB(max(R, 0)), 0), 1))
		g[i] = float32(min(max(linearToSRGB(max(G, 0)), 0), 1))
		b[i] = float32(min(max(linearToSRGB(max(Bl, 0)), 0), 1))
	}
	return out
}

// ABScale divides Lab's a and b in colorization models, bringing them near
// [-1, 1]: the models read L/100 and give a/ABScale, b/ABScale.
const ABScale = 110

// ABBinStep is the side of the squares the a,b plane is cut into for
// colorization as classification (Zhang, Isola and Efros 2016).
const ABBinStep = 10

// ABBins returns the centres (a, b) of the ABBinStep-wide squares of the
// a,b plane that hold the colour of some sRGB pixel, ordered by a then b:
// the classes of a colorizer that predicts a distribution over colours
// instead of their mean (which, where a colour is uncertain, is a brownish
// grey). The set is fixed by the sRGB gamut, so models trained today and
// read later agree on it; it is computed once, from a 64-level grid of
// sRGB colours.
func ABBins() [][2]float32 {
	abBinsOnce.Do(func() {
		const levels = 64
		grid := New(3, levels*levels, levels)
		r, g, b := grid.Plane(0), grid.Plane(1), grid.Plane(2)
		for i := range r {
			r[i] = float32(i/(levels*levels)) / (levels - 1)
			g[i] = float32(i/levels%levels) / (levels - 1)
			b[i] = float32(i%levels) / (levels - 1)
		}
		lab := RGBToLab(grid)
		seen := map[[2]int]bool{}
		for i, a := range lab.Plane(1) {
			bb := lab.Plane(2)[i]
			seen[[2]int{int(math.Round(float64(a) / ABBinStep)), int(math.Round(float64(bb) / ABBinStep))}] = true
		}
		keys := make([][2]int, 0, len(seen))
		for k := range seen {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(x, y [2]int) int {
			if x[0] != y[0] {
				return x[0] - y[0]
			}
			return x[1] - y[1]
		})
		abBins = make([][2]float32, len(keys))
		for i, k := range keys {
			abBins[i] = [2]float32{float32(k[0] * ABBinStep), float32(k[1] * ABBinStep)}
		}
	})
	return abBins
}

var (
	abBinsOnce sync.Once
	abBins     [][2]float32
)
