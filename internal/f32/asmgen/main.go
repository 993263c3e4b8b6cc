// Command asmgen generates gemm_amd64.s, the amd64 GEMM microkernels of
// package f32, with avo. It lives in its own module so that the library
// module does not depend on avo; run it through go generate in internal/f32:
//
//	go generate ./internal/f32
//
// Each kernel computes one mr×nr tile of C from packed panels (see kernel in
// gemm_blocked.go): the mr×nr accumulators live in vector registers, every k
// step loads one row of the B micro-panel (nr floats) and broadcasts each of
// the mr values of the A micro-panel, then the tile is scaled by alpha and
// stored to C (or added to it). Multiply then add, not a fused
// multiply-add, at the store, so that an edge tile computed into a buffer
// and added to C in Go gives the same bits.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

func main() {
	ConstraintExpr("amd64,!noasm")
	// AVX-512: 14 rows × 2 zmm (32 floats): 28 accumulators, 2 B registers,
	// one broadcast register, the alpha register after the loop.
	microkernel("kernAVX512Asm", 14, 2, 16, zmm, 2)
	// AVX2/FMA: 6 rows × 2 ymm (16 floats): 12 accumulators of 16 ymm.
	microkernel("kernAVX2Asm", 6, 2, 8, ymm, 2)
	axpy()
	dot()
	elementwise()
	transpose()
	copyRows()
	q8Kernel()
	q8Quant()
	q8QuantRows()
	gather()
	rows()
	Generate()
}

func zmm(i int) VecPhysical {
	return []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15, Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}[i]
}
func ymm(i int) VecPhysical {
	return []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}[i]
}

// microkernel emits func name(kc int, a *float32, rsa, csa int, b, c
// *float32, ldc int, alpha float32, load bool): mr rows, nv vectors of w
// floats per row, the k loop unrolled unroll times. Element (i, p) of the A
// micro-panel is at a[i*rsa+p*csa]: rsa = 1, csa = mr for a packed panel, rsa
// = lda, csa = 1 for rows of an untransposed A read in place.
func microkernel(name string, mr, nv, w int, v func(int) VecPhysical, unroll int) {
	TEXT(name, NOSPLIT, "func(kc int, a *float32, rsa, csa int, b, c *float32, ldc int, alpha float32, load bool, bias *float32)")
	Doc(fmt.Sprintf("%s computes a %d×%d tile: c = alpha*A·B, or c += alpha*A·B when load is set, or c = alpha*A·B + bias (bias broadcast over the rows) when bias is not nil.", name, mr, nv*w))
	acc := func(i, j int) VecPhysical { return v(i*nv + j) }
	bReg := func(j int) VecPhysical { return v(mr*nv + j) }
	aReg := v(mr*nv + nv)
	alphaReg := bReg(0)
	const fs = 4 // sizeof(float32)

	// Rows are addressed in groups of three from one pointer each:
	// (P), (P)(rsa*1), (P)(rsa*2).
	kc, rsa, csa, pb, n := RCX, RSI, RDI, RBX, R8
	groups := []GPPhysical{RAX, RDX, R9, R10, R11, R12, R13}[:(mr+2)/3]
	Load(Param("kc"), kc)
	Load(Param("a"), groups[0])
	Load(Param("rsa"), rsa)
	Load(Param("csa"), csa)
	Load(Param("b"), pb)
	SHLQ(U8(2), rsa)
	SHLQ(U8(2), csa)
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

	Comment("Prefetch the C tile, zero the accumulators.")
	pc, ldc := R12, R13
	Load(Param("c"), pc)
	Load(Param("ldc"), ldc)
	SHLQ(U8(2), ldc)
	for i := 0; i < mr; i++ {
		for off := 0; off < nv*w*fs; off += 64 {
			PREFETCHT0(Mem{Base: pc, Disp: off})
		}
		if i < mr-1 {
			ADDQ(ldc, pc)
		}
	}
	for i := 0; i < mr; i++ {
		for j := 0; j < nv; j++ {
			if w == 16 {
				VPXORD(acc(i, j), acc(i, j), acc(i, j)) // AVX512F; VXORPS zmm needs DQ
			} else {
				VXORPS(acc(i, j), acc(i, j), acc(i, j))
			}
		}
	}

	step := func(u int) {
		for j := 0; j < nv; j++ {
			VMOVUPS(Mem{Base: pb, Disp: (u*nv*w + j*w) * fs}, bReg(j))
		}
		for i := 0; i < mr; i++ {
			VBROADCASTSS(aAddr(i), aReg)
			for j := 0; j < nv; j++ {
				VFMADD231PS(bReg(j), aReg, acc(i, j))
			}
		}
		for _, g := range groups {
			ADDQ(csa, g)
		}
	}

	Comment(fmt.Sprintf("Main loop, unrolled %d times.", unroll))
	MOVQ(kc, n)
	SHRQ(U8(bitsOf(unroll)), n)
	JZ(LabelRef("tail"))
	Label("loop")
	for u := 0; u < unroll; u++ {
		step(u)
	}
	ADDQ(U32(unroll*nv*w*fs), pb)
	DECQ(n)
	JNZ(LabelRef("loop"))

	Label("tail")
	ANDQ(U8(unroll-1), kc)
	JZ(LabelRef("store"))
	Label("tailloop")
	step(0)
	ADDQ(U32(nv*w*fs), pb)
	DECQ(kc)
	JNZ(LabelRef("tailloop"))

	Label("store")
	Load(Param("c"), pc)
	alpha, err := Param("alpha").Resolve()
	if err != nil {
		panic(err)
	}
	VBROADCASTSS(alpha.Addr, alphaReg)
	for i := 0; i < mr; i++ {
		for j := 0; j < nv; j++ {
			VMULPS(alphaReg, acc(i, j), acc(i, j))
		}
	}
	ld := RDI
	Load(Param("load"), ld)
	TESTB(ld.As8(), ld.As8())
	JNZ(LabelRef("add"))

	pbias := RSI
	Load(Param("bias"), pbias)
	TESTQ(pbias, pbias)
	JNZ(LabelRef("bias"))

	Comment("c = alpha*acc")
	storeRows(mr, nv, w, acc, pc, ldc, false)
	VZEROUPPER()
	RET()

	Label("bias")
	Comment("c = alpha*acc + bias")
	for j := 0; j < nv; j++ {
		VMOVUPS(Mem{Base: pbias, Disp: j * w * fs}, bReg(j))
	}
	for i := 0; i < mr; i++ {
		for j := 0; j < nv; j++ {
			VADDPS(bReg(j), acc(i, j), acc(i, j))
		}
	}
	storeRows(mr, nv, w, acc, pc, ldc, false)
	VZEROUPPER()
	RET()

	Label("add")
	Comment("c = c + alpha*acc")
	storeRows(mr, nv, w, acc, pc, ldc, true)
	VZEROUPPER()
	RET()
}

func storeRows(mr, nv, w int, acc func(i, j int) VecPhysical, pc, ldc GPPhysical, add bool) {
	for i := 0; i < mr; i++ {
		for j := 0; j < nv; j++ {
			m := Mem{Base: pc, Disp: j * w * 4}
			if add {
				VADDPS(m, acc(i, j), acc(i, j))
			}
			VMOVUPS(acc(i, j), m)
		}
		if i < mr-1 {
			ADDQ(ldc, pc)
		}
	}
}

func bitsOf(u int) int {
	b := 0
	for 1<<b < u {
		b++
	}
	if 1<<b != u {
		panic("unroll must be a power of two")
	}
	return b
}

// axpy emits y[i] = alpha*x[i] + y[i] for i < len(x) with AVX2 FMA, 32
// floats per iteration, then 8, then one.
func axpy() {
	TEXT("axpyAVX2", NOSPLIT, "func(alpha float32, x, y []float32)")
	Doc("axpyAVX2 computes y[i] += alpha*x[i] for i < len(x); len(y) >= len(x).")
	n, px, py := RCX, RSI, RDI
	Load(Param("x").Len(), n)
	Load(Param("x").Base(), px)
	Load(Param("y").Base(), py)
	alpha, err := Param("alpha").Resolve()
	if err != nil {
		panic(err)
	}
	VBROADCASTSS(alpha.Addr, Y0)
	Label("loop32")
	CMPQ(n, U8(32))
	JL(LabelRef("loop8"))
	for u := 0; u < 4; u++ {
		VMOVUPS(Mem{Base: px, Disp: 32 * u}, ymm(1+u))
		VFMADD213PS(Mem{Base: py, Disp: 32 * u}, Y0, ymm(1+u))
		VMOVUPS(ymm(1+u), Mem{Base: py, Disp: 32 * u})
	}
	ADDQ(U8(128), px)
	ADDQ(U8(128), py)
	SUBQ(U8(32), n)
	JMP(LabelRef("loop32"))
	Label("loop8")
	CMPQ(n, U8(8))
	JL(LabelRef("loop1"))
	VMOVUPS(Mem{Base: px}, Y1)
	VFMADD213PS(Mem{Base: py}, Y0, Y1)
	VMOVUPS(Y1, Mem{Base: py})
	ADDQ(U8(32), px)
	ADDQ(U8(32), py)
	SUBQ(U8(8), n)
	JMP(LabelRef("loop8"))
	Label("loop1")
	TESTQ(n, n)
	JZ(LabelRef("done"))
	VMOVSS(Mem{Base: px}, X1)
	VFMADD213SS(Mem{Base: py}, X0, X1)
	VMOVSS(X1, Mem{Base: py})
	ADDQ(U8(4), px)
	ADDQ(U8(4), py)
	DECQ(n)
	JMP(LabelRef("loop1"))
	Label("done")
	VZEROUPPER()
	RET()
}

// dot emits the sum of x[i]*y[i] for i < len(x) with AVX2 FMA: four
// accumulators of 8 floats, summed pairwise at the end, then the tail.
func dot() {
	TEXT("dotAVX2", NOSPLIT, "func(x, y []float32) float32")
	Doc("dotAVX2 returns the sum of x[i]*y[i] for i < len(x); len(y) >= len(x).")
	n, px, py := RCX, RSI, RDI
	Load(Param("x").Len(), n)
	Load(Param("x").Base(), px)
	Load(Param("y").Base(), py)
	for u := 0; u < 4; u++ {
		VXORPS(ymm(u), ymm(u), ymm(u))
	}
	Label("loop32")
	CMPQ(n, U8(32))
	JL(LabelRef("loop8"))
	for u := 0; u < 4; u++ {
		VMOVUPS(Mem{Base: px, Disp: 32 * u}, ymm(4+u))
		VFMADD231PS(Mem{Base: py, Disp: 32 * u}, ymm(4+u), ymm(u))
	}
	ADDQ(U8(128), px)
	ADDQ(U8(128), py)
	SUBQ(U8(32), n)
	JMP(LabelRef("loop32"))
	Label("loop8")
	CMPQ(n, U8(8))
	JL(LabelRef("reduce"))
	VMOVUPS(Mem{Base: px}, Y4)
	VFMADD231PS(Mem{Base: py}, Y4, Y0)
	ADDQ(U8(32), px)
	ADDQ(U8(32), py)
	SUBQ(U8(8), n)
	JMP(LabelRef("loop8"))
	Label("reduce")
	VADDPS(Y1, Y0, Y0)
	VADDPS(Y3, Y2, Y2)
	VADDPS(Y2, Y0, Y0)
	VEXTRACTF128(U8(1), Y0, X1)
	VADDPS(X1, X0, X0)
	VMOVHLPS(X0, X0, X1)
	VADDPS(X1, X0, X0)
	VMOVSHDUP(X0, X1)
	VADDSS(X1, X0, X0)
	Label("loop1")
	TESTQ(n, n)
	JZ(LabelRef("done"))
	VMOVSS(Mem{Base: px}, X1)
	VFMADD231SS(Mem{Base: py}, X1, X0)
	ADDQ(U8(4), px)
	ADDQ(U8(4), py)
	DECQ(n)
	JMP(LabelRef("loop1"))
	Label("done")
	VZEROUPPER()
	Store(X0, ReturnIndex(0))
	RET()
}
