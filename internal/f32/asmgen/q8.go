package main

import (
	"math"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The int8 kernels (AVX512_VNNI). A product is quantised as in package
// f32's gemm_q8.go: weights per output column to int8 stored as uint8 (+128),
// activations per row to int8 (symmetric, scale max|x|/127), and
// VPDPBUSD sums four uint8×int8 products into each int32 lane; the kernel
// then removes the +128 of the weights (128·Σ x of the row, comp) and scales
// back to float32.

// vpdpbusd emits VPDPBUSD a, b, acc (Go operand order: acc += the four
// products of the uint8 bytes of b and the int8 bytes of a, per dword).
// avo's instruction table predates AVX512_VNNI, so the instruction is added
// as it is; Go's assembler encodes it.
func vpdpbusd(a, b, acc Op) {
	Instruction(&ir.Instruction{
		Opcode:   "VPDPBUSD",
		Operands: []Op{a, b, acc},
		Inputs:   []Op{a, b, acc},
		Outputs:  []Op{acc},
		ISA:      []string{"AVX512_VNNI"},
	})
}

// q8Kernel emits kernQ8AVX512: one 14×32 tile of
//
//	c[i][j] = float32(acc[i][j] - comp[i]) · sw[j] · sx[i] (+ bias[j])
//
// with acc[i][j] = Σ_q Σ_t a[i·lda + 4q + t] · b[q·128 + 4j + t] over k4
// steps q (a int8, b uint8), each product rounded as the Go twin does
// (kernQ8Generic): exact int32 sums, then the conversion and the products
// and the sum in float32, in that order.
func q8Kernel() {
	const mr, nv = 14, 2
	TEXT("kernQ8AVX512", NOSPLIT, "func(k4 int, a *int8, lda int, b *uint8, c *float32, ldc int, sx *float32, comp *int32, sw *float32, bias *float32)")
	Doc("kernQ8AVX512 computes a 14×32 tile of an int8 product (see kernQ8Generic).")
	acc := func(i, j int) VecPhysical { return zmm(i*nv + j) }
	bReg := func(j int) VecPhysical { return zmm(mr*nv + j) }
	aReg := zmm(mr*nv + nv)

	kc, rsa, pb, n := RCX, RSI, RBX, R8
	groups := []GPPhysical{RAX, RDX, R9, R10, R11}
	Load(Param("k4"), kc)
	Load(Param("a"), groups[0])
	Load(Param("lda"), rsa)
	Load(Param("b"), pb)
	for g := 1; g < len(groups); g++ {
		LEAQ(Mem{Base: groups[g-1], Index: rsa, Scale: 2}, groups[g])
		ADDQ(rsa, groups[g])
	}
	aAddr := func(i int) Mem {
		m := Mem{Base: groups[i/3]}
		if i%3 > 0 {
			m.Index, m.Scale = rsa, uint8(i%3)
		}
		return m
	}
	for i := 0; i < mr; i++ {
		for j := 0; j < nv; j++ {
			VPXORD(acc(i, j), acc(i, j), acc(i, j))
		}
	}
	MOVQ(kc, n)
	TESTQ(n, n)
	JZ(LabelRef("store"))
	Label("loop")
	for j := 0; j < nv; j++ {
		VMOVDQU32(Mem{Base: pb, Disp: 64 * j}, bReg(j))
	}
	for i := 0; i < mr; i++ {
		VPBROADCASTD(aAddr(i), aReg)
		for j := 0; j < nv; j++ {
			vpdpbusd(aReg, bReg(j), acc(i, j))
		}
	}
	for _, g := range groups {
		ADDQ(U8(4), g)
	}
	ADDQ(U32(128), pb)
	DECQ(n)
	JNZ(LabelRef("loop"))

	Label("store")
	pc, ldc, psx, pcomp, psw, pbias := R12, R13, RSI, RDI, RBX, R8
	Load(Param("c"), pc)
	Load(Param("ldc"), ldc)
	SHLQ(U8(2), ldc)
	Load(Param("sx"), psx)
	Load(Param("comp"), pcomp)
	Load(Param("sw"), psw)
	Load(Param("bias"), pbias)
	for j := 0; j < nv; j++ {
		VMOVUPS(Mem{Base: psw, Disp: 64 * j}, bReg(j))
	}
	TESTQ(pbias, pbias)
	JNZ(LabelRef("withbias"))
	q8Store(mr, nv, acc, bReg, aReg, pc, ldc, psx, pcomp, nil)
	VZEROUPPER()
	RET()
	Label("withbias")
	q8Store(mr, nv, acc, bReg, aReg, pc, ldc, psx, pcomp, &pbias)
	VZEROUPPER()
	RET()
}

func q8Store(mr, nv int, acc func(i, j int) VecPhysical, sw func(j int) VecPhysical, t VecPhysical, pc, ldc, psx, pcomp GPPhysical, pbias *GPPhysical) {
	for i := 0; i < mr; i++ {
		VBROADCASTSS(Mem{Base: psx, Disp: 4 * i}, t)
		for j := 0; j < nv; j++ {
			VPSUBD_BCST(Mem{Base: pcomp, Disp: 4 * i}, acc(i, j), acc(i, j))
			VCVTDQ2PS(acc(i, j), acc(i, j))
			VMULPS(sw(j), acc(i, j), acc(i, j))
			VMULPS(t, acc(i, j), acc(i, j))
			if pbias != nil {
				VADDPS(Mem{Base: *pbias, Disp: 64 * j}, acc(i, j), acc(i, j))
			}
			VMOVUPS(acc(i, j), Mem{Base: pc, Disp: 64 * j})
		}
		if i < mr-1 {
			ADDQ(ldc, pc)
		}
	}
}

// q8Quant emits the two passes of quantising a row of activations (the
// Go wrappers do the last len%16 elements with the twins):
//
//	absMaxAVX512(x) = max |x[i]| over the first len(x)/16*16 elements
//	quantQ8AVX512(x, inv, dst) sets dst[i] = clamp(RNE(x[i]·inv), ±127) for
//	the first len(x)/16*16 elements and returns their sum.
func q8Quant() {
	TEXT("absMaxAVX512", NOSPLIT, "func(x []float32) float32")
	Doc("absMaxAVX512 returns the largest |x[i]| of the first len(x)/16*16 elements (0 if none; NaNs are skipped).")
	{
		n, px := RCX, RSI
		Load(Param("x").Len(), n)
		Load(Param("x").Base(), px)
		bcastBits(0x7fffffff, Z2)
		VPXORD(Z0, Z0, Z0)
		SHRQ(U8(4), n)
		JZ(LabelRef("reduce"))
		Label("loop")
		VPANDD(Mem{Base: px}, Z2, Z1)
		VMAXPS(Z0, Z1, Z0) // Z0 = |x| > Z0 ? |x| : Z0, so a NaN in x is skipped
		ADDQ(U8(64), px)
		DECQ(n)
		JNZ(LabelRef("loop"))
		Label("reduce")
		VEXTRACTF64X4(U8(1), Z0, Y1)
		VMAXPS(Y1, Y0, Y0)
		VEXTRACTF128(U8(1), Y0, X1)
		VMAXPS(X1, X0, X0)
		VMOVHLPS(X0, X0, X1)
		VMAXPS(X1, X0, X0)
		VMOVSHDUP(X0, X1)
		VMAXSS(X1, X0, X0)
		VZEROUPPER()
		Store(X0, ReturnIndex(0))
		RET()
	}

	TEXT("quantQ8AVX512", NOSPLIT, "func(x []float32, inv float32, dst []int8) int32")
	Doc("quantQ8AVX512 sets dst[i] = max(-127, min(127, RNE(x[i]*inv))) for the first len(x)/16*16 elements and returns their sum.")
	{
		n, px, pd := RCX, RSI, RDI
		Load(Param("x").Len(), n)
		Load(Param("x").Base(), px)
		Load(Param("dst").Base(), pd)
		inv, err := Param("inv").Resolve()
		if err != nil {
			panic(err)
		}
		VBROADCASTSS(inv.Addr, Z2)
		bcastBits(127, Z3)
		bcastBits(uint32(math.MaxUint32-126), Z4) // -127
		VPXORD(Z5, Z5, Z5)                        // sum
		SHRQ(U8(4), n)
		JZ(LabelRef("done"))
		Label("loop")
		quantStep(Mem{Base: px}, Z2)
		VPMOVDB(Z0, Mem{Base: pd})
		ADDQ(U8(64), px)
		ADDQ(U8(16), pd)
		DECQ(n)
		JNZ(LabelRef("loop"))
		Label("done")
		sumZ5()
		VZEROUPPER()
		Store(EAX, ReturnIndex(0))
		RET()
	}
}

// q8QuantRows emits quantRowsAVX512: quantRow (gemm_q8.go) over n rows of
// k floats in one call, each row read twice while it is in L1 (its largest
// |x|, then the int8 values and their sum), the last partial vector under
// lane masks (tail for the load, dtail for the store, which also writes the
// zeros of the row's padding up to a multiple of 4), so that short rows
// pay no call or Go tail per row.
func q8QuantRows() {
	TEXT("quantRowsAVX512", NOSPLIT, "func(x *float32, ldx, n, k int, dst *int8, ldd int, scale *float32, comp *int32, tail, dtail uint16)")
	Doc("quantRowsAVX512 quantises n rows of k floats (row stride ldx) as quantRow does: dst rows (stride ldd), scale[i] and comp[i].")
	px, ldx, n, k16, pd, ldd, ps, pc := RSI, R8, RCX, R9, RDI, R10, RBX, R11
	p, q, c := R12, R13, R14
	Load(Param("x"), px)
	Load(Param("ldx"), ldx)
	Load(Param("n"), n)
	Load(Param("k"), k16)
	Load(Param("dst"), pd)
	Load(Param("ldd"), ldd)
	Load(Param("scale"), ps)
	Load(Param("comp"), pc)
	Load(Param("tail"), EAX)
	KMOVW(EAX, K1)
	Load(Param("dtail"), EAX)
	KMOVW(EAX, K2)
	SHLQ(U8(2), ldx)
	SHRQ(U8(4), k16)
	bcastBits(0x7fffffff, Z2)
	bcastBits(127, Z3)
	bcastBits(uint32(math.MaxUint32-126), Z4) // -127
	TESTQ(n, n)
	JZ(LabelRef("done"))

	Label("row")
	// Pass 1: the largest |x| (NaNs skipped, as absMaxAVX512).
	VPXORD(Z0, Z0, Z0)
	MOVQ(px, p)
	MOVQ(k16, c)
	TESTQ(c, c)
	JZ(LabelRef("maxtail"))
	Label("max")
	VPANDD(Mem{Base: p}, Z2, Z1)
	VMAXPS(Z0, Z1, Z0)
	ADDQ(U8(64), p)
	DECQ(c)
	JNZ(LabelRef("max"))
	Label("maxtail")
	VMOVUPS_Z(Mem{Base: p}, K1, Z1)
	VPANDD(Z1, Z2, Z1)
	VMAXPS(Z0, Z1, Z0)
	VEXTRACTF64X4(U8(1), Z0, Y1)
	VMAXPS(Y1, Y0, Y0)
	VEXTRACTF128(U8(1), Y0, X1)
	VMAXPS(X1, X0, X0)
	VMOVHLPS(X0, X0, X1)
	VMAXPS(X1, X0, X0)
	VMOVSHDUP(X0, X1)
	VMAXSS(X1, X0, X0)
	// inv = 127/amax and scale = amax/127, or both 0 when amax is 0 or +Inf.
	VXORPS(X6, X6, X6)
	VXORPS(X7, X7, X7)
	VUCOMISS(X6, X0)
	JE(LabelRef("scaled"))
	MOVL(U32(math.Float32bits(float32(math.Inf(1)))), EAX)
	VMOVD(EAX, X5)
	VUCOMISS(X5, X0)
	JE(LabelRef("scaled"))
	MOVL(U32(math.Float32bits(127)), EAX)
	VMOVD(EAX, X5)
	VDIVSS(X0, X5, X6) // 127/amax
	VDIVSS(X5, X0, X7) // amax/127
	Label("scaled")
	VMOVSS(X7, Mem{Base: ps})
	VBROADCASTSS(X6, Z6)

	// Pass 2: quantise, sum.
	VPXORD(Z5, Z5, Z5)
	MOVQ(px, p)
	MOVQ(pd, q)
	MOVQ(k16, c)
	TESTQ(c, c)
	JZ(LabelRef("qtail"))
	Label("quant")
	quantStep(Mem{Base: p}, Z6)
	VPMOVDB(Z0, Mem{Base: q})
	ADDQ(U8(64), p)
	ADDQ(U8(16), q)
	DECQ(c)
	JNZ(LabelRef("quant"))
	Label("qtail")
	// The lanes past the row load 0 and quantise to 0: the row's padding.
	VMOVUPS_Z(Mem{Base: p}, K1, Z0)
	quantStep(Z0, Z6)
	VPMOVDB(Z0, K2, Mem{Base: q})
	sumZ5()
	SHLL(U8(7), EAX) // comp = 128·Σ
	MOVL(EAX, Mem{Base: pc})

	ADDQ(ldx, px)
	ADDQ(ldd, pd)
	ADDQ(U8(4), ps)
	ADDQ(U8(4), pc)
	DECQ(n)
	JNZ(LabelRef("row"))
	Label("done")
	VZEROUPPER()
	RET()
}

// quantStep emits one vector of quantisation: Z0 = max(−127, min(127,
// RNE(src·scale))) as int32 lanes (Z3 holds 127, Z4 −127), added to the
// lane sums in Z5; the caller stores Z0's bytes.
func quantStep(src, scale Op) {
	VMULPS(src, scale, Z0)
	VCVTPS2DQ(Z0, Z0) // RNE; NaN and overflow give -2³¹
	VPMINSD(Z3, Z0, Z0)
	VPMAXSD(Z4, Z0, Z0)
	VPADDD(Z0, Z5, Z5)
}

// sumZ5 emits the sum of Z5's sixteen int32 lanes into EAX.
func sumZ5() {
	VEXTRACTI64X4(U8(1), Z5, Y1)
	VPADDD(Y1, Y5, Y5)
	VEXTRACTI128(U8(1), Y5, X1)
	VPADDD(X1, X5, X5)
	VPSHUFD(U8(0x4e), X5, X1)
	VPADDD(X1, X5, X5)
	VPSHUFD(U8(0xb1), X5, X1)
	VPADDD(X1, X5, X5)
	VMOVD(X5, EAX)
}
