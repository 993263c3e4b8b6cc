package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// transpose emits packBT16AVX512, the transposed B packing of the GEMM:
// for blk < kb, a 16×16 block of b (16 rows of row stride ldb, columns
// 16·blk…) is transposed in registers and stored as 16 rows of 16 floats at
// dst, row stride nr: dst[p*nr+j] = b[j*ldb+p] for j < 16, p < 16·kb.
//
// The shuffle network (unpack, shufps, two shuff32x4 stages) is simulated
// here on element labels, so the generator itself checks that it is a
// transpose and finds which register holds which output row.
func transpose() {
	TEXT("packBT16AVX512", NOSPLIT, "func(dst, b *float32, ldb, kb, nr int)")
	Doc("packBT16AVX512 stores the transpose of the 16×(16·kb) block at b (row stride ldb) at dst (row stride nr).")
	pd, pb, ldb, kb, nr, r := RDI, RSI, RDX, RCX, R8, R9
	Load(Param("dst"), pd)
	Load(Param("b"), pb)
	Load(Param("ldb"), ldb)
	Load(Param("kb"), kb)
	Load(Param("nr"), nr)
	SHLQ(U8(2), ldb)
	SHLQ(U8(2), nr)
	TESTQ(kb, kb)
	JZ(LabelRef("done"))

	// lab[z] is the (row, col) label of each element of register z.
	type vec [16]int
	lab := map[VecPhysical]vec{}
	for i := 0; i < 16; i++ {
		var v vec
		for e := range v {
			v[e] = i*16 + e
		}
		lab[zmm(i)] = v
	}
	unpck := func(hi bool, s2, s1, d VecPhysical) {
		a, b := lab[s1], lab[s2]
		var o vec
		off := 0
		if hi {
			off = 2
			VUNPCKHPS(s2, s1, d)
		} else {
			VUNPCKLPS(s2, s1, d)
		}
		for l := 0; l < 4; l++ {
			o[4*l], o[4*l+1], o[4*l+2], o[4*l+3] = a[4*l+off], b[4*l+off], a[4*l+off+1], b[4*l+off+1]
		}
		lab[d] = o
	}
	shufps := func(imm uint8, s2, s1, d VecPhysical) {
		a, b := lab[s1], lab[s2]
		VSHUFPS(U8(imm), s2, s1, d)
		var o vec
		for l := 0; l < 4; l++ {
			o[4*l] = a[4*l+int(imm&3)]
			o[4*l+1] = a[4*l+int(imm>>2&3)]
			o[4*l+2] = b[4*l+int(imm>>4&3)]
			o[4*l+3] = b[4*l+int(imm>>6&3)]
		}
		lab[d] = o
	}
	shuff := func(imm uint8, s2, s1, d VecPhysical) {
		a, b := lab[s1], lab[s2]
		VSHUFF32X4(U8(imm), s2, s1, d)
		var o vec
		src := [4][]int{a[:], a[:], b[:], b[:]}
		for l := 0; l < 4; l++ {
			sl := int(imm >> (2 * l) & 3)
			copy(o[4*l:4*l+4], src[l][4*sl:4*sl+4])
		}
		lab[d] = o
	}

	Label("block")
	MOVQ(pb, r)
	for i := 0; i < 16; i++ {
		VMOVUPS(Mem{Base: r}, zmm(i))
		if i < 15 {
			ADDQ(ldb, r)
		}
	}
	// Stage 1: rows 2i, 2i+1 → Z16+2i, Z16+2i+1.
	for i := 0; i < 8; i++ {
		unpck(false, zmm(2*i+1), zmm(2*i), zmm(16+2*i))
		unpck(true, zmm(2*i+1), zmm(2*i), zmm(16+2*i+1))
	}
	// Stage 2: → Z0…Z15.
	for i := 0; i < 4; i++ {
		t := func(k int) VecPhysical { return zmm(16 + 4*i + k) }
		shufps(0x44, t(2), t(0), zmm(4*i))
		shufps(0xEE, t(2), t(0), zmm(4*i+1))
		shufps(0x44, t(3), t(1), zmm(4*i+2))
		shufps(0xEE, t(3), t(1), zmm(4*i+3))
	}
	// Stage 3: → Z16…Z31, pairing registers k and k+4.
	for _, k := range []int{0, 1, 2, 3, 8, 9, 10, 11} {
		shuff(0x88, zmm(k+4), zmm(k), zmm(16+k))
		shuff(0xDD, zmm(k+4), zmm(k), zmm(16+k+4))
	}
	// Stage 4: → Z0…Z15, pairing k and k+8.
	for k := 0; k < 8; k++ {
		shuff(0x88, zmm(16+k+8), zmm(16+k), zmm(k))
		shuff(0xDD, zmm(16+k+8), zmm(16+k), zmm(k+8))
	}
	// Find output row p (column p of the block) in the registers.
	out := make([]VecPhysical, 16)
	for i := 0; i < 16; i++ {
		v := lab[zmm(i)]
		col := v[0] % 16
		for e, x := range v {
			if x != e*16+col {
				panic(fmt.Sprintf("transpose: Z%d element %d holds (%d,%d)", i, e, x/16, x%16))
			}
		}
		out[col] = zmm(i)
	}
	MOVQ(pd, r)
	for p := 0; p < 16; p++ {
		VMOVUPS(out[p], Mem{Base: r})
		if p < 15 {
			ADDQ(nr, r)
		}
	}
	// Next block: 16 columns of b on, 16 rows of dst down.
	ADDQ(U8(64), pb)
	MOVQ(nr, r)
	SHLQ(U8(4), r)
	ADDQ(r, pd)
	DECQ(kb)
	JNZ(LabelRef("block"))
	Label("done")
	VZEROUPPER()
	RET()
}

// copyRows emits copyRowsAVX512: rows rows of w ≤ 32 floats from src (row
// stride lds) to dst (contiguous, row stride w), with masked loads and
// stores (m1, m2: the lane masks of the two halves), so that packing a
// full panel costs one or two vector moves per row and no call.
func copyRows() {
	TEXT("copyRowsAVX512", NOSPLIT, "func(dst, src *float32, lds, rows, w int, m1, m2 uint32)")
	Doc("copyRowsAVX512 copies rows rows of w floats (w ≤ 32; m1, m2 its lane masks) from src, row stride lds, to dst, row stride w.")
	pd, ps, lds, rows, w := RDI, RSI, RDX, RCX, R8
	Load(Param("dst"), pd)
	Load(Param("src"), ps)
	Load(Param("lds"), lds)
	Load(Param("rows"), rows)
	Load(Param("w"), w)
	Load(Param("m1"), EAX)
	KMOVW(EAX, K1)
	Load(Param("m2"), EAX)
	KMOVW(EAX, K2)
	SHLQ(U8(2), lds)
	SHLQ(U8(2), w)
	TESTQ(rows, rows)
	JZ(LabelRef("done"))
	Label("loop")
	VMOVUPS_Z(Mem{Base: ps}, K1, Z0)
	VMOVUPS_Z(Mem{Base: ps, Disp: 64}, K2, Z1)
	VMOVUPS(Z0, K1, Mem{Base: pd})
	VMOVUPS(Z1, K2, Mem{Base: pd, Disp: 64})
	ADDQ(lds, ps)
	ADDQ(w, pd)
	DECQ(rows)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}
