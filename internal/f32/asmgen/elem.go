package main

import (
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The elementwise AVX-512 kernels below process 16 floats per iteration,
// len(first slice)/16 iterations; the Go wrappers (elem_amd64.go) do the
// tail with the portable twins (elem.go). Every kernel performs the same
// float32 operations, in the same order and with the same rounding, as its
// twin: multiply and add are separate instructions (no FMA; the twins round
// every product with an explicit float32 conversion), so the two give the
// same bits and a result does not depend on where a chunk boundary falls.

// Constant registers of the exp core: Z16…Z29.
var (
	cLo, cHi, cLog2e, cMagic = Z16, Z17, Z18, Z19
	cC1, cC2                 = Z20, Z21
	cP                       = []VecPhysical{Z22, Z23, Z24, Z25, Z26, Z27}
	cOne, cBias              = Z28, Z29
	cAbs                     = Z30
	cZero                    = Z31
)

// Constants of the exp core; they must equal those of expGeneric (elem.go).
const (
	expLo    = -104.0     // e^-104 rounds to 0 in float32
	expHi    = 89.0       // e^89 overflows to +Inf
	expLog2e = 1.44269504 // log2(e)
	expMagic = 12582912.0 // 1.5·2²³: adding it rounds to an integer
	expC1    = 0.693359375
	expC2    = -2.12194440e-4
)

// Cephes expf polynomial, highest degree first.
var expP = []float32{1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1}

func bcast(v float32, z VecPhysical) {
	MOVL(U32(math.Float32bits(v)), EAX)
	VPBROADCASTD(EAX, z)
}

func bcastBits(b uint32, z VecPhysical) {
	MOVL(U32(b), EAX)
	VPBROADCASTD(EAX, z)
}

func expConsts() {
	Comment("exp constants")
	bcast(expLo, cLo)
	bcast(expHi, cHi)
	bcast(expLog2e, cLog2e)
	bcast(expMagic, cMagic)
	bcast(expC1, cC1)
	bcast(expC2, cC2)
	for i, p := range expP {
		bcast(p, cP[i])
	}
	bcast(1, cOne)
	bcastBits(127, cBias)
	bcastBits(0x7fffffff, cAbs)
	VPXORD(cZero, cZero, cZero)
}

// emitExp computes y = e^x for the 16 floats of x (x is clobbered), with
// t1…t3 as scratch; the steps are those of expGeneric.
func emitExp(x, y, t1, t2, t3 VecPhysical) {
	VMAXPS(x, cLo, x) // x = lo > x ? lo : x (NaN stays)
	VMINPS(x, cHi, x) // x = hi < x ? hi : x
	VMULPS(cLog2e, x, t1)
	VADDPS(cMagic, t1, t1) // t1 = fx + magic
	VSUBPS(cMagic, t1, t2) // t2 = kf
	VPSUBD(cMagic, t1, t1) // t1 = n (int32)
	VMULPS(cC1, t2, t3)
	VSUBPS(t3, x, x) // r = x - kf*C1
	VMULPS(cC2, t2, t3)
	VSUBPS(t3, x, x)  // r = r - kf*C2
	VMULPS(x, x, t2)  // z = r*r
	VMOVAPS(cP[0], y) // p = P0
	for _, c := range cP[1:] {
		VMULPS(x, y, y)
		VADDPS(c, y, y)
	}
	VMULPS(t2, y, y) // p*z
	VADDPS(x, y, y)  // + r
	VADDPS(cOne, y, y)
	VPSRAD(U8(1), t1, t3) // n1 = n >> 1
	VPSUBD(t3, t1, t1)    // n2 = n - n1
	VPADDD(cBias, t3, t3)
	VPSLLD(U8(23), t3, t3)
	VPADDD(cBias, t1, t1)
	VPSLLD(U8(23), t1, t1)
	VMULPS(t3, y, y)
	VMULPS(t1, y, y)
}

// loop16 emits the loop over len(first)/16 blocks of 16 floats; body gets
// the byte offset register and is called once per block.
func loop16(name, sig, doc string, first string, pointers []string, setup func(), body func(off GPPhysical, ptr map[string]GPPhysical), finish ...func()) {
	TEXT(name, NOSPLIT, sig)
	Doc(doc)
	n, off := RCX, RDX
	Load(Param(first).Len(), n)
	ptr := map[string]GPPhysical{}
	regs := []GPPhysical{RSI, RDI, R8, R9, R10, R11}
	for i, p := range pointers {
		ptr[p] = regs[i]
		Load(Param(p).Base(), regs[i])
	}
	if setup != nil {
		setup()
	}
	XORQ(off, off)
	SHRQ(U8(4), n)
	JZ(LabelRef("done"))
	Label("loop")
	body(off, ptr)
	ADDQ(U8(64), off)
	DECQ(n)
	JNZ(LabelRef("loop"))
	Label("done")
	for _, f := range finish {
		f()
	}
	VZEROUPPER()
	RET()
}

func at(p, off GPPhysical) Mem { return Mem{Base: p, Index: off, Scale: 1} }

func elementwise() {
	loop16("expAVX512", "func(dst, x []float32)",
		"expAVX512 sets dst[i] = e^x[i] for the first len(dst)/16*16 elements.",
		"dst", []string{"dst", "x"}, expConsts,
		func(off GPPhysical, p map[string]GPPhysical) {
			VMOVUPS(at(p["x"], off), Z0)
			emitExp(Z0, Z1, Z2, Z3, Z4)
			VMOVUPS(Z1, at(p["dst"], off))
		})

	loop16("sigmoidAVX512", "func(dst, x []float32)",
		"sigmoidAVX512 sets dst[i] = 1/(1+e^-x[i]) for the first len(dst)/16*16 elements.",
		"dst", []string{"dst", "x"}, expConsts,
		func(off GPPhysical, p map[string]GPPhysical) {
			VMOVUPS(at(p["x"], off), Z6)
			VPANDD(cAbs, Z6, Z0)
			VSUBPS(Z0, cZero, Z0) // -|x|
			emitExp(Z0, Z1, Z2, Z3, Z4)
			VADDPS(cOne, Z1, Z2) // d = 1 + e
			// k1 = x >= 0 (_CMP_GE_OS); num = k1 ? 1 : e
			VCMPPS(U8(0x0d), cZero, Z6, K1)
			VBLENDMPS(cOne, Z1, K1, Z1)
			VDIVPS(Z2, Z1, Z1)
			VMOVUPS(Z1, at(p["dst"], off))
		})

	loop16("sigmoidBwdAVX512", "func(dx, dy, y []float32)",
		"sigmoidBwdAVX512 sets dx[i] = dy[i]*y[i]*(1-y[i]) for the first len(dx)/16*16 elements.",
		"dx", []string{"dx", "dy", "y"}, func() { bcast(1, cOne) },
		func(off GPPhysical, p map[string]GPPhysical) {
			VMOVUPS(at(p["y"], off), Z0)
			VMULPS(at(p["dy"], off), Z0, Z1) // dy*y
			VSUBPS(Z0, cOne, Z2)             // 1-y
			VMULPS(Z2, Z1, Z1)
			VMOVUPS(Z1, at(p["dx"], off))
		})

	loop16("reluAVX512", "func(dst, x []float32)",
		"reluAVX512 sets dst[i] = 0 > x[i] ? 0 : x[i] for the first len(dst)/16*16 elements.",
		"dst", []string{"dst", "x"}, func() { VPXORD(cZero, cZero, cZero) },
		func(off GPPhysical, p map[string]GPPhysical) {
			VMAXPS(at(p["x"], off), cZero, Z0)
			VMOVUPS(Z0, at(p["dst"], off))
		})

	loop16("reluBwdAVX512", "func(dx, dy, y []float32)",
		"reluBwdAVX512 sets dx[i] = y[i] > 0 ? dy[i] : 0 for the first len(dx)/16*16 elements.",
		"dx", []string{"dx", "dy", "y"}, func() { VPXORD(cZero, cZero, cZero) },
		func(off GPPhysical, p map[string]GPPhysical) {
			VCMPPS(U8(0x01), at(p["y"], off), cZero, K1) // 0 < y (_CMP_LT_OS)
			VMOVUPS_Z(at(p["dy"], off), K1, Z0)
			VMOVUPS(Z0, at(p["dx"], off))
		})

	loop16("mseGradAVX512", "func(dst, pred, target []float32, scale float32)",
		"mseGradAVX512 sets dst[i] = scale*(pred[i]-target[i]) for the first len(dst)/16*16 elements.",
		"dst", []string{"dst", "pred", "target"}, func() {
			s, err := Param("scale").Resolve()
			if err != nil {
				panic(err)
			}
			VBROADCASTSS(s.Addr, Z7)
		},
		func(off GPPhysical, p map[string]GPPhysical) {
			VMOVUPS(at(p["pred"], off), Z0)
			VSUBPS(at(p["target"], off), Z0, Z0)
			VMULPS(Z0, Z7, Z0)
			VMOVUPS(Z0, at(p["dst"], off))
		})

	loop16("sqDiffSumAVX512", "func(pred, target []float32, acc *[16]float64)",
		"sqDiffSumAVX512 adds float64((pred[i]-target[i])²) to acc[i%16] for the first len(pred)/16*16 elements.",
		"pred", []string{"pred", "target"}, func() {
			Load(Param("acc"), RAX)
			VMOVUPD(Mem{Base: RAX}, Z8)
			VMOVUPD(Mem{Base: RAX, Disp: 64}, Z9)
		},
		func(off GPPhysical, p map[string]GPPhysical) {
			VMOVUPS(at(p["pred"], off), Z0)
			VSUBPS(at(p["target"], off), Z0, Z0)
			VEXTRACTF64X4(U8(1), Z0, Y1) // upper 8 floats
			VCVTPS2PD(Y0, Z2)
			VCVTPS2PD(Y1, Z3)
			VMULPD(Z2, Z2, Z2)
			VMULPD(Z3, Z3, Z3)
			VADDPD(Z2, Z8, Z8)
			VADDPD(Z3, Z9, Z9)
		}, func() {
			VMOVUPD(Z8, Mem{Base: RAX})
			VMOVUPD(Z9, Mem{Base: RAX, Disp: 64})
		})
	colSum()
	adam()
}

// colSum emits dst[j] += Σ_i x[i*len(dst)+j], rows in order, for the
// columns j < len(dst)/16*16: each column's sum is accumulated in the
// same order as the portable loop.
func colSum() {
	TEXT("colSumAVX512", NOSPLIT, "func(dst, x []float32, rows int)")
	Doc("colSumAVX512 adds the column sums of the rows×len(dst) matrix x to dst, for the first len(dst)/16*16 columns.")
	cols, pd, px, rows := RCX, RSI, RDI, R8
	ld, p, r := R9, R10, R11
	Load(Param("dst").Len(), cols)
	Load(Param("dst").Base(), pd)
	Load(Param("x").Base(), px)
	Load(Param("rows"), rows)
	MOVQ(cols, ld)
	SHLQ(U8(2), ld)
	SHRQ(U8(4), cols)
	JZ(LabelRef("done"))
	Label("col")
	VMOVUPS(Mem{Base: pd}, Z0)
	MOVQ(px, p)
	MOVQ(rows, r)
	TESTQ(r, r)
	JZ(LabelRef("store"))
	Label("row")
	VADDPS(Mem{Base: p}, Z0, Z0)
	ADDQ(ld, p)
	DECQ(r)
	JNZ(LabelRef("row"))
	Label("store")
	VMOVUPS(Z0, Mem{Base: pd})
	ADDQ(U8(64), pd)
	ADDQ(U8(64), px)
	DECQ(cols)
	JNZ(LabelRef("col"))
	Label("done")
	VZEROUPPER()
	RET()
}

// adam emits the Adam/AdamW update of adamGeneric (elem.go) over the first
// len(p)/16*16 elements. h holds decay, l2, b1, c1, b2, c2, bc2Sqrt, eps,
// negStep.
func adam() {
	const (
		hDecay = iota
		hL2
		hB1
		hC1
		hB2
		hC2
		hBc2
		hEps
		hStep
	)
	hs := []VecPhysical{Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24}
	loop16("adamAVX512", "func(p, g, m, v []float32, h *[9]float32)",
		"adamAVX512 applies one Adam step to the first len(p)/16*16 elements.",
		"p", []string{"p", "g", "m", "v"}, func() {
			Load(Param("h"), RAX)
			for i, z := range hs {
				VBROADCASTSS(Mem{Base: RAX, Disp: 4 * i}, z)
			}
		},
		func(off GPPhysical, ptr map[string]GPPhysical) {
			pp, gp, mp, vp := at(ptr["p"], off), at(ptr["g"], off), at(ptr["m"], off), at(ptr["v"], off)
			VMULPS(pp, hs[hDecay], Z0) // p *= decay
			VMULPS(Z0, hs[hL2], Z1)    // l2*p
			VADDPS(gp, Z1, Z1)         // g = g + l2*p  (g + t)
			VMULPS(mp, hs[hB1], Z2)    // m*b1
			VMULPS(Z1, hs[hC1], Z3)    // c1*g
			VADDPS(Z3, Z2, Z2)         // m
			VMULPS(vp, hs[hB2], Z4)    // v*b2
			VMULPS(Z1, hs[hC2], Z5)    // c2*g
			VMULPS(Z1, Z5, Z5)         // (c2*g)*g
			VADDPS(Z5, Z4, Z4)         // v
			// Subnormal m and v become +0 (see adamGeneric): K1/K2 mark
			// the normal lanes, zero-masking clears the rest.
			VFPCLASSPSZ(U8(0x20), Z2, K1)
			KNOTW(K1, K1)
			VMOVAPS_Z(Z2, K1, Z2)
			VFPCLASSPSZ(U8(0x20), Z4, K2)
			KNOTW(K2, K2)
			VMOVAPS_Z(Z4, K2, Z4)
			VMOVUPS(Z2, mp)
			VMOVUPS(Z4, vp)
			VSQRTPS(Z4, Z4)
			VDIVPS(hs[hBc2], Z4, Z4)  // sqrt(v)/bc2Sqrt
			VADDPS(hs[hEps], Z4, Z4)  // + eps
			VMULPS(Z2, hs[hStep], Z2) // negStep*m
			VDIVPS(Z4, Z2, Z2)        // / denom
			VADDPS(Z2, Z0, Z0)        // p + …
			VMOVUPS(Z0, pp)
		})
}
