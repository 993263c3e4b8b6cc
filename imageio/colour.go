package imageio

import "math"

// RGBToYCbCr converts RGB in [0, 1] to BT.601 studio-range YCbCr divided by
// 255 (Y in [16/255, 235/255]), exactly as MATLAB's rgb2ycbcr, which the
// SRCNN/VDSR papers use for their Y-channel PSNR.
func RGBToYCbCr(m *Image) *Image {
	out := New(3, m.H, m.W)
	r, g, b := m.Plane(0), m.Plane(1), m.Plane(2)
	y, cb, cr := out.Plane(0), out.Plane(1), out.Plane(2)
	for i := range r {
		R, G, B := float64(r[i]), float64(g[i]), float64(b[i])
		y[i] = float32((16 + 65.481*R + 128.553*G + 24.966*B) / 255)
		cb[i] = float32((128 - 37.797*R - 74.203*G + 112.0*B) / 255)
		cr[i] = float32((128 + 112.0*R - 93.786*G - 18.214*B) / 255)
	}
	return out
}

// YCbCrToRGB inverts RGBToYCbCr.
func YCbCrToRGB(m *Image) *Image {
	out := New(3, m.H, m.W)
	y, cb, cr := m.Plane(0), m.Plane(1), m.Plane(2)
	r, g, b := out.Plane(0), out.Plane(1), out.Plane(2)
	for i := range y {
		Y, Cb, Cr := float64(y[i])*255-16, float64(cb[i])*255-128, float64(cr[i])*255-128
		r[i] = float32((298.082*Y + 408.583*Cr) / 256 / 255)
		g[i] = float32((298.082*Y - 100.291*Cb - 208.120*Cr) / 256 / 255)
		b[i] = float32((298.082*Y + 516.412*Cb) / 256 / 255)
	}
	return out
}

// RGBToOpponent converts RGB in [0, 1] to three decorrelated planes in
// [0, 1]: the mean Y = (R+G+B)/3, U = (R−B)/2 + ½ and V = (R−2G+B)/4 + ½.
// Their directions (1,1,1), (1,0,−1), (1,−2,1) are orthogonal, so noise
// that is independent across R, G and B with one σ stays independent
// across Y, U and V, with σ/√3, σ/√2 and σ·√6/4 — all below σ. A grey
// denoiser run on each plane then sees less noise than on R, G or B, and
// U and V are smooth where the picture's colours are (CBM3D's opponent
// transform, scaled to the range a grey model was trained on).
func RGBToOpponent(m *Image) *Image {
	out := New(3, m.H, m.W)
	r, g, b := m.Plane(0), m.Plane(1), m.Plane(2)
	y, u, v := out.Plane(0), out.Plane(1), out.Plane(2)
	for i := range r {
		R, G, B := r[i], g[i], b[i]
		y[i] = (R + G + B) / 3
		u[i] = (R-B)/2 + 0.5
		v[i] = (R-2*G+B)/4 + 0.5
	}
	return out
}

// OpponentToRGB inverts RGBToOpponent.
func OpponentToRGB(m *Image) *Image {
	out := New(3, m.H, m.W)
	y, u, v := m.Plane(0), m.Plane(1), m.Plane(2)
	r, g, b := out.Plane(0), out.Plane(1), out.Plane(2)
	for i := range y {
		Y, U, V := y[i], u[i]-0.5, v[i]-0.5
		r[i] = Y + 2*V/3 + U
		g[i] = Y - 4*V/3
		b[i] = Y + 2*V/3 - U
	}
	return out
}

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
