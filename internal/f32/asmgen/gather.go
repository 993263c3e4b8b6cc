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
	TEXT("gatherAVX512", NOSPLIT, "func(dst, src *float32, idx *int32, n int)")
	Doc("gatherAVX512 sets dst[i] = src[idx[i]] for i < n/16*16.")
	{
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
		VGATHERDPS(Mem{Base: ps, Index: Z1, Scale: 4}, K1, Z0)
		VMOVUPS(Z0, Mem{Base: pd})
		ADDQ(U8(64), pd)
		ADDQ(U8(64), pi)
		DECQ(n)
		JNZ(LabelRef("loop"))
		Label("done")
		VZEROUPPER()
		RET()
	}

	TEXT("scatterAddAVX512", NOSPLIT, "func(dst, src *float32, idx *int32, n int)")
	Doc("scatterAddAVX512 adds src[i] to dst[idx[i]] for i < n/16*16; the indices of each block of 16 must be distinct.")
	{
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
		VGATHERDPS(Mem{Base: pd, Index: Z1, Scale: 4}, K1, Z0)
		VADDPS(Mem{Base: ps}, Z0, Z0)
		KXNORW(K2, K2, K2)
		VSCATTERDPS(Z0, K2, Mem{Base: pd, Index: Z1, Scale: 4})
		ADDQ(U8(64), ps)
		ADDQ(U8(64), pi)
		DECQ(n)
		JNZ(LabelRef("loop"))
		Label("done")
		VZEROUPPER()
		RET()
	}
}
