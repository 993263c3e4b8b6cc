package dataset

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/bottleneck-ml/bottleneck/tensor"
)

const npyMagic = "\x93NUMPY"

// npyArray is a decoded NPY array: shape, element type and raw bytes.
type npyArray struct {
	shape []int
	order binary.ByteOrder
	kind  byte // 'f', 'i', 'u', 'b'
	size  int  // bytes per element
	raw   []byte
	n     int // elements
}

// decodeNPY reads an NPY v1/v2/v3 array (dtypes b1, i1–i8, u1–u8, f4, f8
// in either byte order). Fortran-order arrays (ADBench's X arrays are) are
// reordered to C order. avail is the number of bytes in r when
// known, else -1.
func decodeNPY(name string, r io.Reader, avail int64) (*npyArray, error) {
	var pre [10]byte
	if n, err := io.ReadFull(r, pre[:8]); err != nil || string(pre[:6]) != npyMagic {
		return nil, fail(ErrFormat, name, "not an NPY file (no \\x93NUMPY magic in the first %d bytes); pass a file written by numpy.save", n)
	}
	major := pre[6]
	var hlen int64
	switch major {
	case 1:
		if _, err := io.ReadFull(r, pre[8:10]); err != nil {
			return nil, fail(ErrTruncated, name, "truncated NPY header; re-create the file")
		}
		hlen = int64(binary.LittleEndian.Uint16(pre[8:10]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fail(ErrTruncated, name, "truncated NPY header; re-create the file")
		}
		hlen = int64(binary.LittleEndian.Uint32(b[:]))
	default:
		return nil, fail(ErrFormat, name, "NPY version %d.%d is not supported (1, 2, 3 are); re-save with numpy.save", major, pre[7])
	}
	if hlen > 1<<20 {
		return nil, fail(ErrFormat, name, "NPY header of %d bytes is implausible; the file is corrupt", hlen)
	}
	hdr, err := readExact(name, r, hlen, -1, "an NPY header")
	if err != nil {
		return nil, err
	}
	descr, fortran, shape, err := parseNPYHeader(string(hdr))
	if err != nil {
		return nil, failCause(ErrFormat, err, name, "bad NPY header %q: %v; re-save with numpy.save", strings.TrimSpace(string(hdr)), err)
	}
	a := &npyArray{shape: shape}
	if len(descr) < 3 {
		return nil, fail(ErrFormat, name, "dtype %q is not supported; use float32, float64, int, uint8 or bool", descr)
	}
	switch descr[0] {
	case '<', '|', '=':
		a.order = binary.LittleEndian
	case '>':
		a.order = binary.BigEndian
	default:
		return nil, fail(ErrFormat, name, "dtype %q is not supported; use float32, float64, int, uint8 or bool", descr)
	}
	a.kind = descr[1]
	switch descr[1:] {
	case "b1", "u1", "u2", "u4", "u8", "i1", "i2", "i4", "i8", "f4", "f8":
		a.size, _ = strconv.Atoi(descr[2:])
	default:
		return nil, fail(ErrFormat, name, "dtype %q is not supported; use float32, float64, int, uint8 or bool", descr)
	}
	total := int64(1)
	for _, d := range shape {
		if d < 0 || (d != 0 && total > maxElems/int64(d)) {
			return nil, fail(ErrFormat, name, "header declares shape %v, too large to be real; the file is corrupt", shape)
		}
		total *= int64(d)
	}
	if total > maxElems/int64(a.size) {
		return nil, fail(ErrFormat, name, "header declares shape %v, too large to be real; the file is corrupt", shape)
	}
	if avail >= 0 {
		lf := int64(2)
		if major > 1 {
			lf = 4
		}
		avail -= 8 + lf + hlen
	}
	a.raw, err = readExact(name, r, total*int64(a.size), avail, fmt.Sprintf("shape %v of %s", shape, descr))
	if err != nil {
		return nil, err
	}
	a.n = int(total)
	if fortran && len(shape) > 1 {
		a.raw = fortranToC(a.raw, shape, a.size)
	}
	return a, nil
}

// fortranToC reorders a column-major (Fortran) array into row-major order.
func fortranToC(raw []byte, shape []int, size int) []byte {
	out := make([]byte, len(raw))
	fstride := make([]int, len(shape))
	s := 1
	for k, d := range shape {
		fstride[k] = s
		s *= d
	}
	idx := make([]int, len(shape))
	off := 0 // Fortran offset of idx, in elements
	for i := 0; i < len(raw)/size; i++ {
		copy(out[i*size:(i+1)*size], raw[off*size:(off+1)*size])
		for k := len(shape) - 1; k >= 0; k-- {
			idx[k]++
			off += fstride[k]
			if idx[k] < shape[k] {
				break
			}
			off -= idx[k] * fstride[k]
			idx[k] = 0
		}
	}
	return out
}

// value returns element i as float64.
func (a *npyArray) value(i int) float64 {
	b := a.raw[i*a.size : (i+1)*a.size]
	switch a.kind {
	case 'f':
		if a.size == 4 {
			return float64(math.Float32frombits(a.order.Uint32(b)))
		}
		return math.Float64frombits(a.order.Uint64(b))
	case 'b':
		if b[0] != 0 {
			return 1
		}
		return 0
	case 'u':
		switch a.size {
		case 1:
			return float64(b[0])
		case 2:
			return float64(a.order.Uint16(b))
		case 4:
			return float64(a.order.Uint32(b))
		}
		return float64(a.order.Uint64(b))
	}
	switch a.size {
	case 1:
		return float64(int8(b[0]))
	case 2:
		return float64(int16(a.order.Uint16(b)))
	case 4:
		return float64(int32(a.order.Uint32(b)))
	}
	return float64(int64(a.order.Uint64(b)))
}

// parseNPYHeader parses the Python dict literal of an NPY header.
func parseNPYHeader(h string) (descr string, fortran bool, shape []int, err error) {
	p := &pyLit{s: h}
	if !p.eat('{') {
		return "", false, nil, fmt.Errorf("want a dict")
	}
	seen := map[string]bool{}
	for {
		if p.eat('}') {
			break
		}
		key, ok := p.str()
		if !ok || !p.eat(':') {
			return "", false, nil, fmt.Errorf("want 'key': value at offset %d", p.i)
		}
		seen[key] = true
		switch key {
		case "descr":
			if descr, ok = p.str(); !ok {
				return "", false, nil, fmt.Errorf("descr is not a simple dtype string (structured arrays are not supported)")
			}
		case "fortran_order":
			switch {
			case p.word("True"):
				fortran = true
			case p.word("False"):
			default:
				return "", false, nil, fmt.Errorf("fortran_order is not True or False")
			}
		case "shape":
			if shape, ok = p.tuple(); !ok {
				return "", false, nil, fmt.Errorf("shape is not a tuple of integers")
			}
		default:
			return "", false, nil, fmt.Errorf("unknown key %q", key)
		}
		if !p.eat(',') {
			if !p.eat('}') {
				return "", false, nil, fmt.Errorf("want , or } at offset %d", p.i)
			}
			break
		}
	}
	if !seen["descr"] || !seen["shape"] {
		return "", false, nil, fmt.Errorf("descr or shape missing")
	}
	return descr, fortran, shape, nil
}

// pyLit scans a tiny subset of Python literals.
type pyLit struct {
	s string
	i int
}

func (p *pyLit) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\n' || p.s[p.i] == '\t' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *pyLit) eat(c byte) bool {
	p.space()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *pyLit) word(w string) bool {
	p.space()
	if strings.HasPrefix(p.s[p.i:], w) {
		p.i += len(w)
		return true
	}
	return false
}

func (p *pyLit) str() (string, bool) {
	p.space()
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", false
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", false
	}
	v := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return v, true
}

func (p *pyLit) tuple() ([]int, bool) {
	if !p.eat('(') {
		return nil, false
	}
	dims := []int{}
	for {
		if p.eat(')') {
			return dims, true
		}
		p.space()
		j := p.i
		for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
			j++
		}
		d, err := strconv.Atoi(p.s[p.i:j])
		if err != nil || d < 0 || d > maxElems || len(dims) >= 32 {
			return nil, false
		}
		dims = append(dims, d)
		p.i = j
		if p.i < len(p.s) && p.s[p.i] == 'L' {
			p.i++
		}
		if !p.eat(',') {
			return dims, p.eat(')')
		}
	}
}

// ReadNPY reads one NPY array as float32 (any supported dtype converted).
func ReadNPY(r io.Reader) (data []float32, shape []int, err error) {
	a, err := decodeNPY("npy", r, -1)
	if err != nil {
		return nil, nil, err
	}
	data = make([]float32, a.n)
	for i := range data {
		data[i] = float32(a.value(i))
	}
	return data, a.shape, nil
}

// WriteNPY writes data with the given shape as a float32 ('<f4') NPY v1.0
// array in C order, readable by numpy.load.
func WriteNPY(w io.Writer, data []float32, shape []int) error {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return fail(ErrOption, "npy", "negative dimension in shape %v", shape)
		}
		n *= d
	}
	if n != len(data) {
		return fail(ErrOption, "npy", "shape %v needs %d values, have %d", shape, n, len(data))
	}
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = strconv.Itoa(d)
	}
	st := strings.Join(dims, ", ")
	if len(shape) == 1 {
		st += ","
	}
	h := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", st)
	pad := 64 - (10+len(h)+1)%64
	if pad == 64 {
		pad = 0
	}
	h += strings.Repeat(" ", pad) + "\n"
	if len(h) > math.MaxUint16 {
		return fail(ErrOption, "npy", "shape %v needs a header over 64 KiB", shape)
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	var pre [10]byte
	copy(pre[:], npyMagic)
	pre[6], pre[7] = 1, 0
	binary.LittleEndian.PutUint16(pre[8:], uint16(len(h)))
	bw.Write(pre[:])
	bw.WriteString(h)
	var b [4]byte
	for _, v := range data {
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
		bw.Write(b[:])
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("dataset: write npy: %w", err)
	}
	return nil
}

// npyShape maps an array shape to (samples, per-sample shape).
func npyShape(name string, shape []int) (int, []int, error) {
	switch len(shape) {
	case 1:
		return shape[0], []int{1}, nil
	case 2:
		return shape[0], []int{shape[1]}, nil
	case 3:
		return shape[0], []int{1, shape[1], shape[2]}, nil
	case 4:
		return shape[0], slices.Clone(shape[1:]), nil
	}
	return 0, nil, fail(ErrFormat, name, "array has shape %v; want samples first with 1 to 4 dimensions", shape)
}

func loadNPY(fsys fs.FS, name string, df *dataFile, pre *Preprocessor, opt LoadOptions) (*Dataset, error) {
	x, err := decodeNPY(name, df.r, df.size)
	if err != nil {
		return nil, err
	}
	var y *npyArray
	if opt.LabelsPath != "" {
		lf, err := openData(fsys, opt.LabelsPath)
		if err != nil {
			return nil, err
		}
		defer lf.Close()
		if y, err = decodeNPY(opt.LabelsPath, lf.r, lf.size); err != nil {
			return nil, err
		}
	}
	return buildArray(name, FormatNPY, x, y, pre, opt)
}

func loadNPZ(name string, df *dataFile, pre *Preprocessor, opt LoadOptions) (*Dataset, error) {
	var zr *zip.Reader
	var err error
	if ra, ok := df.f.(io.ReaderAt); ok && df.gz == nil && df.size >= 0 {
		zr, err = zip.NewReader(ra, df.size)
	} else {
		var all []byte
		if all, err = io.ReadAll(df.r); err == nil {
			zr, err = zip.NewReader(bytes.NewReader(all), int64(len(all)))
		}
	}
	if err != nil {
		return nil, failCause(ErrFormat, err, name, "not a readable .npz (zip) archive: %v; re-save with numpy.savez", err)
	}
	arrays := map[string]*zip.File{}
	var order []string
	for _, f := range zr.File {
		if !strings.HasSuffix(f.Name, ".npy") {
			continue
		}
		k := strings.TrimSuffix(path.Base(f.Name), ".npy")
		if _, dup := arrays[k]; !dup {
			arrays[k] = f
			order = append(order, k)
		}
	}
	if len(order) == 0 {
		return nil, fail(ErrFormat, name, "archive holds no .npy arrays; save the data with numpy.savez(f, X=..., y=...)")
	}
	xk := ""
	switch {
	case arrays["X"] != nil:
		xk = "X"
	case len(order) == 1:
		xk = order[0]
	default:
		for _, k := range order {
			if k != "y" {
				xk = k
				break
			}
		}
	}
	read := func(k string) (*npyArray, error) {
		f := arrays[k]
		rc, err := f.Open()
		if err != nil {
			return nil, failCause(ErrFormat, err, name, "array %q: %v; re-save with numpy.savez", k, err)
		}
		defer rc.Close()
		a, err := decodeNPY(name+":"+f.Name, rc, -1)
		if err != nil {
			return nil, err
		}
		return a, nil
	}
	x, err := read(xk)
	if err != nil {
		return nil, err
	}
	var y *npyArray
	if xk != "y" && arrays["y"] != nil {
		if y, err = read("y"); err != nil {
			return nil, err
		}
	}
	return buildArray(name, FormatNPZ, x, y, pre, opt)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// buildArray turns decoded arrays into a Dataset, fitting pre when nil.
func buildArray(name string, format Format, x, y *npyArray, pre *Preprocessor, opt LoadOptions) (*Dataset, error) {
	n, shape, err := npyShape(name, x.shape)
	if err != nil {
		return nil, err
	}
	d := tensor.Size(shape)
	if n == 0 || d == 0 {
		return nil, fail(ErrFormat, name, "array of shape %v holds no samples; pass a non-empty array", x.shape)
	}
	var labels []string
	if y != nil {
		if y.n != n || len(y.shape) > 2 || (len(y.shape) == 2 && y.shape[1] != 1) {
			return nil, fail(ErrFormat, name, "labels y have shape %v for %d samples; want (%d,)", y.shape, n, n)
		}
		labels = make([]string, n)
		for i := range labels {
			labels[i] = strconv.FormatFloat(y.value(i), 'f', -1, 64)
		}
	}
	labels, rows, err := selectRows(name, n, labels, opt)
	if err != nil {
		return nil, err
	}
	missing := opt.missing()
	if pre != nil {
		if pre.Kind != KindArray {
			return nil, fail(ErrFormat, name, "the model was trained on %s data (%s), this is a NumPy array; pass a %s file", pre.Kind, pre.Format, pre.Format)
		}
		if pre.Dim() != d {
			return nil, fail(ErrFormat, name, "samples have %d values (shape %v), the model expects %d; pass data with the training columns", d, shape, pre.Dim())
		}
		shape = slices.Clone(pre.InputShape)
		if opt.Missing == "" {
			missing = pre.Missing
		}
	} else {
		pre = &Preprocessor{Kind: KindArray, Format: format, InputShape: shape, LabelIndex: -1, Missing: missing, Normal: opt.Normal}
		if err := fitArray(name, pre, x, rows, d, opt.Scale); err != nil {
			return nil, err
		}
	}
	t := tensor.New(append([]int{len(rows)}, shape...)...)
	var lb []string
	if labels != nil {
		lb = make([]string, len(rows))
	}
	for k, r := range rows {
		dst := t.Row(k)
		for c := range dst {
			if dst[c], err = arrayValue(name, &pre.Columns[c], missing, x.value(r*d+c), r, c); err != nil {
				return nil, err
			}
		}
		if lb != nil {
			lb[k] = labels[r]
		}
	}
	return &Dataset{X: t, Shape: shape, Labels: lb, Features: pre.Features(), Pre: pre}, nil
}

// arrayValue encodes value v of row r, column c of an array into model
// space with col: a value that is not finite is missing (imputed with the
// column's fill, or an error), then it is scaled in float64.
func arrayValue(name string, col *ColumnSpec, missing string, v float64, r, c int) (float32, error) {
	if !finite(v) {
		if missing != MissingImpute {
			return 0, fail(ErrMissing, name, "row %d, column %d: value is %v; fix the value or pass --missing impute", r, c, v)
		}
		v = col.Fill
	}
	m := float32((v - col.Center) / col.Spread)
	if math.IsInf(float64(m), 0) || m != m {
		return 0, fail(ErrValue, name, "row %d, column %d: %v is out of float32 range after scaling; fix the value or pass --scale standardize", r, c, v)
	}
	return m, nil
}

// fitArray fits per-column statistics over rows; scale "auto" becomes
// "none" when every finite value is in [0,1], else "standardize".
func fitArray(name string, pre *Preprocessor, x *npyArray, rows []int, d int, scale string) error {
	switch scale {
	case "", "auto":
		scale = ScaleNone
		for _, r := range rows {
			for c := range d {
				if v := x.value(r*d + c); finite(v) && (v < 0 || v > 1) {
					scale = ScaleStandardize
					break
				}
			}
			if scale != ScaleNone {
				break
			}
		}
	case ScaleUnit:
		return fail(ErrOption, name, "scale %q is for images; pass --scale auto, standardize, minmax or none", scale)
	}
	pre.Scale = scale
	pre.Columns = make([]ColumnSpec, d)
	vals := make([]float64, 0, len(rows))
	for c := range d {
		vals = vals[:0]
		for _, r := range rows {
			if v := x.value(r*d + c); finite(v) {
				vals = append(vals, v)
			}
		}
		col := &pre.Columns[c]
		*col = ColumnSpec{Name: "x" + strconv.Itoa(c), Role: RoleFeature, Type: TypeNumeric}
		numericStats(col, vals, scale)
	}
	return nil
}
