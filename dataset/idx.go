package dataset

import (
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/bottleneck-ml/bottleneck/tensor"
)

// maxElems bounds the element count a header may declare (1 TiB of bytes);
// beyond it the header is rejected before any allocation.
const maxElems = 1 << 40

// decodeIDX reads an IDX file of unsigned bytes: big-endian magic
// (0, 0, type 0x08, ndim) and ndim uint32 dimensions, then the payload.
// avail is the number of bytes in r when known, else -1.
func decodeIDX(name string, r io.Reader, avail int64) (dims []int, data []byte, err error) {
	var hdr [4]byte
	if n, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, nil, fail(ErrFormat, name, "too short to be an IDX file (%d bytes); pass an IDX file such as train-images-idx3-ubyte.gz", n)
	}
	magic := binary.BigEndian.Uint32(hdr[:])
	if hdr[0] != 0 || hdr[1] != 0 || hdr[3] == 0 || hdr[3] > 4 {
		return nil, nil, fail(ErrFormat, name, "magic 0x%08x is not an IDX header; pass an IDX file such as train-images-idx3-ubyte.gz", magic)
	}
	if hdr[2] != 0x08 {
		return nil, nil, fail(ErrFormat, name, "magic 0x%08x: element type 0x%02x is not supported, only unsigned bytes (0x08); convert the file to uint8 or to .npy", magic, hdr[2])
	}
	nd := int(hdr[3])
	raw := make([]byte, 4*nd)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, nil, fail(ErrTruncated, name, "truncated: the IDX header needs %d dimensions and the file ends first; re-download the file", nd)
	}
	dims = make([]int, nd)
	total := int64(1)
	for i := range dims {
		d := int64(binary.BigEndian.Uint32(raw[4*i:]))
		dims[i] = int(d)
		if d != 0 && total > maxElems/d {
			return nil, nil, fail(ErrFormat, name, "header declares dimensions %v, too large to be real; the file is corrupt", dimsOf(raw))
		}
		total *= d
	}
	if avail >= 0 {
		avail -= int64(4 + 4*nd)
	}
	data, err = readExact(name, r, total, avail, fmt.Sprintf("dimensions %v", dims))
	if err != nil {
		return nil, nil, err
	}
	return dims, data, nil
}

func dimsOf(raw []byte) []uint32 {
	out := make([]uint32, len(raw)/4)
	for i := range out {
		out[i] = binary.BigEndian.Uint32(raw[4*i:])
	}
	return out
}

// labelSibling names the labels files that may belong to an images file:
// "images" → "labels" and "idx3" → "idx1" in the base name, with and
// without ".gz".
func labelSibling(name string) []string {
	i := strings.LastIndexByte(name, '/') + 1
	dir, base := name[:i], name[i:]
	lb := strings.Replace(base, "images", "labels", 1)
	lb = strings.Replace(lb, "idx3", "idx1", 1)
	if lb == base {
		return nil
	}
	alt := lb + ".gz"
	if strings.HasSuffix(lb, ".gz") {
		alt = strings.TrimSuffix(lb, ".gz")
	}
	return []string{dir + lb, dir + alt}
}

func loadIDX(fsys fs.FS, name string, df *dataFile, pre *Preprocessor, opt LoadOptions) (*Dataset, error) {
	dims, data, err := decodeIDX(name, df.r, df.size)
	if err != nil {
		return nil, err
	}
	var shape []int
	switch len(dims) {
	case 1:
		return nil, fail(ErrFormat, name, "magic 0x%08x is a label file; pass the images file (*-images-idx3-ubyte)", 0x800|len(dims))
	case 2:
		shape = []int{dims[1]}
	case 3:
		shape = []int{1, dims[1], dims[2]}
	default:
		return nil, fail(ErrFormat, name, "has %d dimensions %v; only images (n×rows×cols) and tables (n×d) are supported", len(dims), dims)
	}
	n, d := dims[0], tensor.Size(shape)
	if n == 0 || d == 0 {
		return nil, fail(ErrFormat, name, "holds no samples (dimensions %v); pass a non-empty file", dims)
	}

	var labels []string
	lpath := opt.LabelsPath
	if lpath == "" {
		for _, c := range labelSibling(name) {
			if _, err := fs.Stat(fsys, c); err == nil {
				lpath = c
				break
			}
		}
	}
	if lpath != "" {
		if labels, err = readIDXLabels(fsys, lpath, n, name); err != nil {
			return nil, err
		}
	}
	labels, rows, err := selectRows(name, n, labels, opt)
	if err != nil {
		return nil, err
	}

	scale := ScaleUnit
	if pre != nil {
		if pre.Kind != KindImage {
			return nil, fail(ErrFormat, name, "the model was trained on %s data (%s), this is an IDX image file; pass a %s file", pre.Kind, pre.Format, pre.Format)
		}
		if !slices.Equal(pre.InputShape, shape) {
			return nil, fail(ErrFormat, name, "samples have shape %v, the model expects %v; pass images of the training size", shape, pre.InputShape)
		}
		scale = pre.Scale
	} else {
		switch opt.Scale {
		case "", "auto", ScaleUnit, ScaleMinMax:
		case ScaleNone:
			scale = ScaleNone
		default:
			return nil, fail(ErrOption, name, "scale %q is not available for images; pass --scale auto (pixel/255) or none", opt.Scale)
		}
		pre = &Preprocessor{Kind: KindImage, Format: FormatIDX, InputShape: shape, Scale: scale, LabelIndex: -1, Missing: opt.missing(), Normal: opt.Normal}
	}
	mul := float32(1)
	if scale == ScaleUnit {
		mul = 1.0 / 255
	}
	x := tensor.New(append([]int{len(rows)}, shape...)...)
	var lb []string
	if labels != nil {
		lb = make([]string, len(rows))
	}
	for k, r := range rows {
		dst := x.Row(k)
		for j, p := range data[r*d : (r+1)*d] {
			dst[j] = float32(p) * mul
		}
		if lb != nil {
			lb[k] = labels[r]
		}
	}
	return &Dataset{X: x, Shape: shape, Labels: lb, Features: pre.Features(), Pre: pre}, nil
}

// readIDXLabels reads a labels-idx1 file that must hold n labels.
func readIDXLabels(fsys fs.FS, path string, n int, images string) ([]string, error) {
	df, err := openData(fsys, path)
	if err != nil {
		return nil, err
	}
	defer df.Close()
	dims, data, err := decodeIDX(path, df.r, df.size)
	if err != nil {
		return nil, err
	}
	if len(dims) != 1 {
		return nil, fail(ErrFormat, path, "has dimensions %v, not a labels file (magic 0x00000801); pass the matching *-labels-idx1-ubyte file", dims)
	}
	if dims[0] != n {
		return nil, fail(ErrFormat, path, "has %d labels for the %d images of %s; pass the matching labels file", dims[0], n, images)
	}
	var names [256]string
	for i := range names {
		names[i] = strconv.Itoa(i)
	}
	labels := make([]string, n)
	for i, b := range data {
		labels[i] = names[b]
	}
	return labels, nil
}
