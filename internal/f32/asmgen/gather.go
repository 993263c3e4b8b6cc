package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// gather emits the index-table loops of the convolutions' im2col and
// col2im on small images (AVX-512F gathers and scatters, 16 elements per
// iteration, the first n/16*16 of them; the Go wrappers do the rest):
//
//	gatherAVX512:     dst[i] = src[idx[i]]
//	scatterAddAVX512: dst[idx[i]] += src[i], the indices of each block of
//	                  16 distinct (what the scatter needs to equal the
//	                  sequential loop)
func gather() {
	indexLoop("gatherAVX512", "gatherAVX512 sets dst[i] = src[idx[i]] for i < n/16*16.",
		func(pd, ps Register) {
			VGATHERDPS(Mem{Base: ps, Index: Z1, Scale: 4}, K1, Z0)
			VMOVUPS(Z0, Mem{Base: pd})
			ADDQ(U8(64), pd)
		})
	indexLoop("scatterAddAVX512", "scatterAddAVX512 adds src[i] to dst[idx[i]] for i < n/16*16; the indices of each block of 16 must be distinct.",
		func(pd, ps Register) {
			VGATHERDPS(Mem{Base: pd, Index: Z1, Scale: 4}, K1, Z0)
			VADDPS(Mem{Base: ps}, Z0, Z0)
			KXNORW(K2, K2, K2)
			VSCATTERDPS(Z0, K2, Mem{Base: pd, Index: Z1, Scale: 4})
			ADDQ(U8(64), ps)
		})
}

// indexLoop emits func(dst, src *float32, idx *int32, n int) looping over
// the first n/16*16 indices 16 at a time: each iteration loads the next 16
// into Z1, sets K1 to all lanes, runs body (which advances dst or src) and
// advances idx.
func indexLoop(name, doc string, body func(pd, ps Register)) {
	TEXT(name, NOSPLIT, "func(dst, src *float32, idx *int32, n int)")
	Doc(doc)
	pd, ps, pi, n := RDI, RSI, RDX, RCX
	Load(Param("dst"), pd)
	Load(Param("src"), ps)
	Load(Param("idx"), pi)
	Load(Param("n"), n)
	SHRQ(U8(4), n)
	JZ(LabelRef("done"))
	Label("loop")
	VMOVDQU32(Mem{Base: pi}, Z1)
	KXNORW(K1, K1, K1)
	body(pd, ps)
	ADDQ(U8(64), pi)
	DECQ(n)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// rows emits the row-table loops of the int8 convolutions (im2row, and the
// transposed convolution's sum of taps): n rows of w floats, the first
// w/16*16 of each as full vectors and the rest under the lane mask tail.
//
//	gatherRowsAVX512: row i of dst (row stride w) = src[off[i]:off[i]+w],
//	                  or zeros where off[i] < 0
//	addRowsAVX512:    dst[off[i]:off[i]+w] += row i of src (row stride w),
//	                  rows in order, skipped where off[i] < 0
func rows() {
	TEXT("gatherRowsAVX512", NOSPLIT, "func(dst, src *float32, off *int32, n, w int, tail uint16)")
	Doc("gatherRowsAVX512 sets row i of dst (row stride w) to src[off[i]:off[i]+w], or to zeros where off[i] < 0, for i < n.")
	{
		pd, ps, po, n, w, w16, p, c := RDI, RSI, RDX, RCX, R8, R9, R10, R11
		Load(Param("dst"), pd)
		Load(Param("src"), ps)
		Load(Param("off"), po)
		Load(Param("n"), n)
		Load(Param("w"), w)
		Load(Param("tail"), EAX)
		KMOVW(EAX, K1)
		MOVQ(w, w16)
		SHRQ(U8(4), w16)
		VPXORD(Z1, Z1, Z1)
		TESTQ(n, n)
		JZ(LabelRef("done"))
		Label("row")
		MOVLQSX(Mem{Base: po}, RAX)
		TESTQ(RAX, RAX)
		JS(LabelRef("zero"))
		LEAQ(Mem{Base: ps, Index: RAX, Scale: 4}, p)
		MOVQ(w16, c)
		TESTQ(c, c)
		JZ(LabelRef("ctail"))
		Label("copy")
		VMOVUPS(Mem{Base: p}, Z0)
		VMOVUPS(Z0, Mem{Base: pd})
		ADDQ(U8(64), p)
		ADDQ(U8(64), pd)
		DECQ(c)
		JNZ(LabelRef("copy"))
		Label("ctail")
		VMOVUPS_Z(Mem{Base: p}, K1, Z0)
		VMOVUPS(Z0, K1, Mem{Base: pd})
		JMP(LabelRef("next"))
		Label("zero")
		MOVQ(w16, c)
		TESTQ(c, c)
		JZ(LabelRef("ztail"))
		Label("zloop")
		VMOVUPS(Z1, Mem{Base: pd})
		ADDQ(U8(64), pd)
		DECQ(c)
		JNZ(LabelRef("zloop"))
		Label("ztail")
		VMOVUPS(Z1, K1, Mem{Base: pd})
		Label("next")
		// pd is at the row's last full vector's end: on past the tail.
		MOVQ(w, RAX)
		ANDQ(U8(15), RAX)
		LEAQ(Mem{Base: pd, Index: RAX, Scale: 4}, pd)
		ADDQ(U8(4), po)
		DECQ(n)
		JNZ(LabelRef("row"))
		Label("done")
		VZEROUPPER()
		RET()
	}

	TEXT("addRowsAVX512", NOSPLIT, "func(dst, src *float32, off *int32, n, w int, tail uint16)")
	Doc("addRowsAVX512 adds row i of src (row stride w) to dst[off[i]:off[i]+w] for i < n in order, skipping rows where off[i] < 0.")
	{
		pd, ps, po, n, w, w16, p, c := RDI, RSI, RDX, RCX, R8, R9, R10, R11
		Load(Param("dst"), pd)
		Load(Param("src"), ps)
		Load(Param("off"), po)
		Load(Param("n"), n)
		Load(Param("w"), w)
		Load(Param("tail"), EAX)
		KMOVW(EAX, K1)
		MOVQ(w, w16)
		SHRQ(U8(4), w16)
		TESTQ(n, n)
		JZ(LabelRef("done"))
		Label("row")
		MOVLQSX(Mem{Base: po}, RAX)
		TESTQ(RAX, RAX)
		JS(LabelRef("skip"))
		LEAQ(Mem{Base: pd, Index: RAX, Scale: 4}, p)
		MOVQ(w16, c)
		TESTQ(c, c)
		JZ(LabelRef("atail"))
		Label("add")
		// dst + src with dst the first operand: the bits of Go's dst += src.
		VMOVUPS(Mem{Base: p}, Z0)
		VADDPS(Mem{Base: ps}, Z0, Z0)
		VMOVUPS(Z0, Mem{Base: p})
		ADDQ(U8(64), p)
		ADDQ(U8(64), ps)
		DECQ(c)
		JNZ(LabelRef("add"))
		Label("atail")
		VMOVUPS_Z(Mem{Base: p}, K1, Z0)
		VMOVUPS_Z(Mem{Base: ps}, K1, Z2)
		VADDPS(Z2, Z0, Z0)
		VMOVUPS(Z0, K1, Mem{Base: p})
		MOVQ(w, RAX)
		ANDQ(U8(15), RAX)
		LEAQ(Mem{Base: ps, Index: RAX, Scale: 4}, ps)
		JMP(LabelRef("next"))
		Label("skip")
		LEAQ(Mem{Base: ps, Index: w, Scale: 4}, ps)
		Label("next")
		ADDQ(U8(4), po)
		DECQ(n)
		JNZ(LabelRef("row"))
		Label("done")
		VZEROUPPER()
		RET()
	}
}
