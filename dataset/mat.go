package dataset

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"io"
	"math"
)

// Matrix is a numeric matrix read from a MAT file, row-major.
type Matrix struct {
	Rows, Cols int
	Data       []float64
}

// MAT v5 data types.
const (
	miINT8       = 1
	miUINT8      = 2
	miINT16      = 3
	miUINT16     = 4
	miINT32      = 5
	miUINT32     = 6
	miSINGLE     = 7
	miDOUBLE     = 9
	miINT64      = 12
	miUINT64     = 13
	miMATRIX     = 14
	miCOMPRESSED = 15
)

// maxMATBytes bounds what a MAT file may decompress to (a zip bomb guard).
const maxMATBytes = 1 << 30

// ReadMAT reads the real, two-dimensional numeric matrices of a MATLAB
// level-5 MAT file (as the ODDS benchmark ships: X and y, often
// zlib-compressed), by variable name. Sparse, complex, cell, struct and
// character arrays are skipped; MATLAB v7.3 (HDF5) files are refused.
// name is used in errors.
func ReadMAT(name string, r io.Reader) (map[string]Matrix, error) {
	raw, err := io.ReadAll(io.LimitReader(r, maxMATBytes))
	if err != nil {
		return nil, failCause(ErrFormat, err, name, "read error: %v", err)
	}
	if len(raw) < 128 {
		return nil, fail(ErrFormat, name, "is %d bytes, shorter than a MAT file header; pass a MATLAB level-5 .mat file", len(raw))
	}
	if bytes.HasPrefix(raw, []byte("MATLAB 7.3")) || bytes.Contains(raw[:128], []byte("HDF")) {
		return nil, fail(ErrFormat, name, "is a MATLAB v7.3 (HDF5) file, which is not supported; re-save it with save -v7 or convert it to .npz")
	}
	if !bytes.HasPrefix(raw, []byte("MATLAB 5.0")) {
		return nil, fail(ErrFormat, name, "is not a MATLAB level-5 MAT file (no \"MATLAB 5.0\" header)")
	}
	var bo binary.ByteOrder
	switch string(raw[126:128]) {
	case "IM":
		bo = binary.LittleEndian
	case "MI":
		bo = binary.BigEndian
	default:
		return nil, fail(ErrFormat, name, "has an unknown endian indicator %q", raw[126:128])
	}
	out := map[string]Matrix{}
	if err := readMATElements(name, raw[128:], bo, out, 0); err != nil {
		return nil, err
	}
	return out, nil
}

// matTag reads an element tag at b: type, size, header length; small data
// elements pack type and size in 4 bytes.
func matTag(b []byte, bo binary.ByteOrder) (typ, size, hdr int, ok bool) {
	if len(b) < 8 {
		return 0, 0, 0, false
	}
	w := bo.Uint32(b)
	if w>>16 != 0 { // small data element format
		return int(w & 0xffff), int(w >> 16), 4, int(w>>16) <= 4
	}
	return int(w), int(bo.Uint32(b[4:])), 8, true
}

func readMATElements(name string, b []byte, bo binary.ByteOrder, out map[string]Matrix, depth int) error {
	for len(b) >= 8 {
		typ, size, hdr, ok := matTag(b, bo)
		if !ok || size < 0 || hdr+size > len(b) {
			return fail(ErrTruncated, name, "element of %d bytes runs past the end of the file; the file is damaged", size)
		}
		body := b[hdr : hdr+size]
		next := hdr + size
		if typ != miCOMPRESSED {
			next = (next + 7) &^ 7 // elements are 8-byte aligned
		}
		switch typ {
		case miCOMPRESSED:
			if depth > 0 {
				return fail(ErrFormat, name, "nested compressed element; the file is damaged")
			}
			zr, err := zlib.NewReader(bytes.NewReader(body))
			if err != nil {
				return failCause(ErrFormat, err, name, "compressed element: %v", err)
			}
			inner, err := io.ReadAll(io.LimitReader(zr, maxMATBytes))
			if err != nil {
				return failCause(ErrFormat, err, name, "compressed element: %v", err)
			}
			if err := readMATElements(name, inner, bo, out, depth+1); err != nil {
				return err
			}
		case miMATRIX:
			if err := readMATMatrix(name, body, bo, out); err != nil {
				return err
			}
		}
		if next > len(b) {
			break
		}
		b = b[next:]
	}
	return nil
}

// readMATMatrix reads one miMATRIX body: flags, dimensions, name, real part.
func readMATMatrix(name string, b []byte, bo binary.ByteOrder, out map[string]Matrix) error {
	var parts [][]byte
	var types []int
	for len(b) >= 8 && len(parts) < 5 {
		typ, size, hdr, ok := matTag(b, bo)
		if !ok || hdr+size > len(b) {
			return fail(ErrTruncated, name, "matrix sub-element runs past its matrix; the file is damaged")
		}
		parts = append(parts, b[hdr:hdr+size])
		types = append(types, typ)
		step := hdr + size
		if hdr == 4 {
			step = 8
		} else {
			step = (step + 7) &^ 7
		}
		if step > len(b) {
			break
		}
		b = b[step:]
	}
	if len(parts) < 4 || len(parts[0]) < 8 {
		return nil // empty or unusual array: skip
	}
	flags := bo.Uint32(parts[0])
	class := flags & 0xff
	complexFlag := flags&0x800 != 0
	if class < 6 || class > 15 || complexFlag { // not a real numeric array
		return nil
	}
	if types[1] != miINT32 || len(parts[1]) != 8 {
		return nil // not 2-D
	}
	rows, cols := int(int32(bo.Uint32(parts[1]))), int(int32(bo.Uint32(parts[1][4:])))
	if rows < 0 || cols < 0 || rows*cols > maxMATBytes/8 {
		return fail(ErrFormat, name, "matrix of %d×%d is out of range; the file is damaged", rows, cols)
	}
	varName := string(parts[2])
	vals, err := matValues(name, types[3], parts[3], bo)
	if err != nil {
		return err
	}
	if len(vals) != rows*cols {
		return fail(ErrFormat, name, "variable %q declares %d×%d values but holds %d; the file is damaged", varName, rows, cols, len(vals))
	}
	m := Matrix{Rows: rows, Cols: cols, Data: make([]float64, len(vals))}
	for c := 0; c < cols; c++ { // MATLAB is column-major
		for r := 0; r < rows; r++ {
			m.Data[r*cols+c] = vals[c*rows+r]
		}
	}
	out[varName] = m
	return nil
}

func matValues(name string, typ int, b []byte, bo binary.ByteOrder) ([]float64, error) {
	var w int
	switch typ {
	case miINT8, miUINT8:
		w = 1
	case miINT16, miUINT16:
		w = 2
	case miINT32, miUINT32, miSINGLE:
		w = 4
	case miDOUBLE, miINT64, miUINT64:
		w = 8
	default:
		return nil, fail(ErrFormat, name, "numeric data of MAT type %d is not supported", typ)
	}
	n := len(b) / w
	v := make([]float64, n)
	for i := range v {
		p := b[i*w:]
		switch typ {
		case miINT8:
			v[i] = float64(int8(p[0]))
		case miUINT8:
			v[i] = float64(p[0])
		case miINT16:
			v[i] = float64(int16(bo.Uint16(p)))
		case miUINT16:
			v[i] = float64(bo.Uint16(p))
		case miINT32:
			v[i] = float64(int32(bo.Uint32(p)))
		case miUINT32:
			v[i] = float64(bo.Uint32(p))
		case miSINGLE:
			v[i] = float64(math.Float32frombits(bo.Uint32(p)))
		case miDOUBLE:
			v[i] = math.Float64frombits(bo.Uint64(p))
		case miINT64:
			v[i] = float64(int64(bo.Uint64(p)))
		case miUINT64:
			v[i] = float64(bo.Uint64(p))
		}
	}
	return v, nil
}
