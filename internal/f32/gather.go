package f32

import "fmt"

// Index is a table of element indices for Gather and ScatterAdd, checked
// once when it is made (every index in range, and within each block of 16
// no index twice, which a vector scatter needs to give the result of the
// sequential loop), so that the loops need no check per element. The
// convolutions' im2col and col2im on small images go through one.
type Index struct {
	idx []int32
	max int32 // the largest index
}

// NewIndex checks idx and returns it as an Index. It panics (programmer
// error) on a negative index or a repeated one within a block of 16.
func NewIndex(idx []int32) *Index {
	ix := &Index{idx: idx, max: -1}
	for b := 0; b < len(idx); b += 16 {
		blk := idx[b:min(b+16, len(idx))]
		for i, v := range blk {
			if v < 0 {
				panic(fmt.Sprintf(errPrefix+"NewIndex: index %d is negative", b+i))
			}
			ix.max = max(ix.max, v)
			for _, w := range blk[:i] {
				if w == v {
					panic(fmt.Sprintf(errPrefix+"NewIndex: index %d repeats %d within its block of 16", b+i, v))
				}
			}
		}
	}
	return ix
}

// Len is the number of indices.
func (ix *Index) Len() int { return len(ix.idx) }

// Slice returns the indices [lo, hi) as an Index; lo must be a multiple of
// 16 (the blocks stay those that were checked).
func (ix *Index) Slice(lo, hi int) Index {
	if lo%16 != 0 {
		panic(errPrefix + "Index.Slice: lo not a multiple of 16")
	}
	return Index{idx: ix.idx[lo:hi], max: ix.max}
}

// Gather sets dst[i] = src[ix[i]] for i < ix.Len().
func Gather(dst, src []float32, ix *Index) {
	n := len(ix.idx)
	if len(dst) < n || int(ix.max) >= len(src) {
		panic(errPrefix + "Gather: dst shorter than the index or an index beyond src")
	}
	if n == 0 {
		return
	}
	b := gatherBulk(dst, src, ix.idx)
	for i, o := range ix.idx[b:] {
		dst[b+i] = src[o]
	}
}

// ScatterAdd adds src[i] to dst[ix[i]] for i < ix.Len(), in index order
// (the bits of the sequential loop).
func ScatterAdd(dst, src []float32, ix *Index) {
	n := len(ix.idx)
	if len(src) < n || int(ix.max) >= len(dst) {
		panic(errPrefix + "ScatterAdd: src shorter than the index or an index beyond dst")
	}
	if n == 0 {
		return
	}
	b := scatterAddBulk(dst, src, ix.idx)
	for i, o := range ix.idx[b:] {
		dst[o] += src[b+i]
	}
}

// GatherRows sets row i of dst (w floats, row stride w) to
// src[off[i]:off[i]+w], or to zeros where off[i] < 0, for i < len(off).
// The int8 convolutions' im2row goes through it.
func GatherRows(dst, src []float32, off []int32, w int) {
	checkRows("GatherRows", len(dst), len(src), off, w)
	if len(off) == 0 || w == 0 || len(src) > 0 && gatherRows(dst, src, off, w) {
		return
	}
	gatherRowsGeneric(dst, src, off, w)
}

// AddRows adds row i of src (w floats, row stride w) to
// dst[off[i]:off[i]+w] for i < len(off), in that order, skipping the rows
// where off[i] < 0: the bits of the sequential loop, also where rows land
// on the same elements. The int8 transposed convolution sums its taps
// with it.
func AddRows(dst []float32, off []int32, src []float32, w int) {
	checkRows("AddRows", len(src), len(dst), off, w)
	if len(off) == 0 || w == 0 || len(dst) > 0 && addRows(dst, off, src, w) {
		return
	}
	addRowsGeneric(dst, off, src, w)
}

// checkRows panics unless the rows fit: len(off) rows of w in the
// contiguous side (n floats), every off[i]+w within the indexed side (m).
func checkRows(name string, n, m int, off []int32, w int) {
	if w < 0 || n < len(off)*w {
		panic(errPrefix + name + ": negative width or too few rows")
	}
	for _, o := range off {
		if int(o)+w > m {
			panic(fmt.Sprintf(errPrefix+"%s: offset %d + width %d beyond %d", name, o, w, m))
		}
	}
}

func gatherRowsGeneric(dst, src []float32, off []int32, w int) {
	for i, o := range off {
		d := dst[i*w : (i+1)*w]
		if o < 0 {
			clear(d)
			continue
		}
		copy(d, src[o:int(o)+w])
	}
}

func addRowsGeneric(dst []float32, off []int32, src []float32, w int) {
	for i, o := range off {
		if o < 0 {
			continue
		}
		d := dst[o : int(o)+w]
		for j, v := range src[i*w : (i+1)*w] {
			d[j] += v
		}
	}
}
