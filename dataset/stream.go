package dataset

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing/fstest"

	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Stream reads a data file in batches of preprocessed rows with an already
// fitted Preprocessor, so files larger than memory can be encoded or
// scored. NPY files (C order) and CSV files are read incrementally, holding
// one batch at a time; other formats (IDX, NPZ, Fortran-order NPY) are
// loaded whole and then handed out in batches.
type Stream struct {
	// Warnings collects non-fatal findings (unknown categories), per batch.
	Warnings []string

	next  func() (*tensor.Tensor, error)
	close func() error
	rows  int
}

// OpenStream opens path for streaming with pre. opt.MaxRows limits the rows
// read; opt.Normal is not supported (it needs labels) and is an error.
func OpenStream(path string, pre *Preprocessor, opt LoadOptions, batch int) (*Stream, error) {
	if batch < 1 {
		return nil, fail(ErrOption, path, "batch size %d must be at least 1", batch)
	}
	if opt.Normal != "" {
		return nil, fail(ErrOption, path, "streaming cannot filter rows by label (--normal); drop the filter")
	}
	format := opt.Format
	if format == "" {
		var err error
		if format, err = DetectFormat(path); err != nil {
			format = ""
		}
	}
	s := &Stream{}
	switch {
	case format == FormatNPY && (pre.Kind == KindImage || pre.Kind == KindArray):
		ok, err := s.openNPY(path, pre, opt, batch)
		if err != nil || ok {
			return s, err
		}
	case format == FormatCSV && pre.Kind == KindTable:
		return s, s.openCSV(path, pre, opt, batch)
	}
	ds, err := LoadWith(path, pre, opt)
	if err != nil {
		return nil, err
	}
	s.Warnings = ds.Warnings
	n, d := ds.X.Rows(), ds.X.Cols()
	pos := 0
	s.next = func() (*tensor.Tensor, error) {
		if pos >= n {
			return nil, io.EOF
		}
		hi := min(pos+batch, n)
		t := tensor.From(ds.X.Data[pos*d:hi*d], hi-pos, d)
		pos = hi
		s.rows += t.Rows()
		return t, nil
	}
	s.close = func() error { return nil }
	return s, nil
}

// Next returns the next batch (rows × features, valid until the next
// call), or io.EOF after the last one.
func (s *Stream) Next() (*tensor.Tensor, error) { return s.next() }

// Rows is the number of rows returned so far.
func (s *Stream) Rows() int { return s.rows }

// Close releases the file.
func (s *Stream) Close() error { return s.close() }

// readNPYHeader reads an NPY file's magic and header from r.
func readNPYHeader(r io.Reader, path string) (descr string, fortran bool, shape []int, err error) {
	var head [10]byte
	if _, err := io.ReadFull(r, head[:8]); err != nil || string(head[:6]) != npyMagic {
		return "", false, nil, fail(ErrFormat, path, "not an NPY file (no \\x93NUMPY magic); pass a file written by numpy.save")
	}
	var hlen int
	switch head[6] {
	case 1:
		if _, err := io.ReadFull(r, head[8:10]); err != nil {
			return "", false, nil, fail(ErrTruncated, path, "truncated NPY header; re-create the file")
		}
		hlen = int(binary.LittleEndian.Uint16(head[8:10]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return "", false, nil, fail(ErrTruncated, path, "truncated NPY header; re-create the file")
		}
		hlen = int(binary.LittleEndian.Uint32(b[:]))
	default:
		return "", false, nil, fail(ErrFormat, path, "NPY version %d is not supported (1, 2, 3 are)", head[6])
	}
	if hlen > 1<<20 {
		return "", false, nil, fail(ErrFormat, path, "NPY header of %d bytes is implausible; the file is corrupt", hlen)
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return "", false, nil, fail(ErrTruncated, path, "truncated NPY header; re-create the file")
	}
	descr, fortran, shape, err = parseNPYHeader(string(hdr))
	if err != nil {
		return "", false, nil, fail(ErrFormat, path, "bad NPY header: %v", err)
	}
	return descr, fortran, shape, nil
}

// NPYDtype returns the numpy dtype string of an NPY file ("<f4", "|u1",
// ...) and its shape, reading only the header.
func NPYDtype(path string) (string, []int, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", nil, fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	descr, _, shape, err := readNPYHeader(bufio.NewReader(f), path)
	return descr, shape, err
}

// openNPY streams a C-order NPY file; it returns false (and no error) for
// a Fortran-order file, which the caller loads whole.
func (s *Stream) openNPY(path string, pre *Preprocessor, opt LoadOptions, batch int) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("dataset: %w", err)
	}
	r := bufio.NewReaderSize(f, 1<<20)
	descr, fortran, shape, err := readNPYHeader(r, path)
	if err != nil {
		f.Close()
		return false, err
	}
	if fortran && len(shape) > 1 {
		f.Close()
		return false, nil
	}
	a := &npyArray{}
	if len(descr) < 3 {
		f.Close()
		return false, fail(ErrFormat, path, "dtype %q is not supported", descr)
	}
	switch descr[0] {
	case '<', '|', '=':
		a.order = binary.LittleEndian
	case '>':
		a.order = binary.BigEndian
	default:
		f.Close()
		return false, fail(ErrFormat, path, "dtype %q is not supported", descr)
	}
	switch descr[1:] {
	case "b1", "u1", "u2", "u4", "u8", "i1", "i2", "i4", "i8", "f4", "f8":
		a.kind = descr[1]
		a.size, _ = strconv.Atoi(descr[2:])
	default:
		f.Close()
		return false, fail(ErrFormat, path, "dtype %q is not supported; use float32, float64, int, uint8 or bool", descr)
	}
	if len(shape) == 0 {
		f.Close()
		return false, fail(ErrFormat, path, "NPY array is a scalar; want rows × features")
	}
	rows, d := shape[0], 1
	for _, v := range shape[1:] {
		d *= v
	}
	if d != pre.Dim() {
		f.Close()
		return false, fail(ErrFieldCount, path, "rows have %d values (shape %v), the model expects %d (shape %v)", d, shape, pre.Dim(), pre.InputShape)
	}
	if opt.MaxRows > 0 {
		rows = min(rows, opt.MaxRows)
	}
	buf := tensor.New(batch, d)
	raw := make([]float32, d)
	a.raw = make([]byte, batch*d*a.size)
	done := 0
	s.next = func() (*tensor.Tensor, error) {
		if done >= rows {
			return nil, io.EOF
		}
		n := min(batch, rows-done)
		if _, err := io.ReadFull(r, a.raw[:n*d*a.size]); err != nil {
			return nil, fail(ErrTruncated, path, "file ends inside row %d of %d; re-create it", done, rows)
		}
		buf.SetRows(n)
		for i := 0; i < n; i++ {
			for j := range raw {
				raw[j] = float32(a.value(i*d + j))
			}
			if err := pre.TransformValues(raw, buf.Row(i)); err != nil {
				return nil, fmt.Errorf("%s: row %d: %w", path, done+i, err)
			}
		}
		done += n
		s.rows += n
		return buf, nil
	}
	s.close = f.Close
	return true, nil
}

// openCSV streams a CSV file: it reads batch records at a time and encodes
// each chunk with the same code as LoadWith (header, column order, label
// and dropped columns, one-hot categories). Records may not span lines
// (quoted newlines are joined as long as the quotes balance).
func (s *Stream) openCSV(path string, pre *Preprocessor, opt LoadOptions, batch int) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	r := bufio.NewReaderSize(f, 1<<20)
	readRecord := func() (string, error) {
		var sb strings.Builder
		for {
			line, err := r.ReadString('\n')
			sb.WriteString(line)
			if err != nil {
				if sb.Len() > 0 && err == io.EOF {
					return sb.String(), nil
				}
				return "", err
			}
			if strings.Count(sb.String(), `"`)%2 == 0 {
				return sb.String(), nil
			}
		}
	}
	// Header: as told, else the first record names the model's columns.
	var header string
	first, err := readRecord()
	if err != nil {
		f.Close()
		return fail(ErrFormat, path, "the file is empty")
	}
	hasHeader := false
	if opt.Header != nil {
		hasHeader = *opt.Header
	} else {
		fields := splitLoose(first)
		hasHeader = true
		for _, c := range pre.Columns {
			if c.Role == RoleFeature && !slices.Contains(fields, c.Name) {
				hasHeader = false
				break
			}
		}
	}
	pending := ""
	if hasHeader {
		header = first
		if !strings.HasSuffix(header, "\n") {
			header += "\n"
		}
	} else {
		pending = first
	}
	no := false
	chunkOpt := opt
	chunkOpt.MaxRows = 0
	chunkOpt.Header = &no
	if hasHeader {
		yes := true
		chunkOpt.Header = &yes
	}
	done := 0
	s.next = func() (*tensor.Tensor, error) {
		limit := batch
		if opt.MaxRows > 0 {
			limit = min(limit, opt.MaxRows-done)
		}
		if limit <= 0 {
			return nil, io.EOF
		}
		var sb strings.Builder
		sb.WriteString(header)
		n := 0
		if pending != "" {
			sb.WriteString(pending)
			if !strings.HasSuffix(pending, "\n") {
				sb.WriteByte('\n')
			}
			pending = ""
			n++
		}
		for n < limit {
			rec, err := readRecord()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("dataset: %s: %w", path, err)
			}
			if strings.TrimSpace(rec) == "" {
				continue
			}
			sb.WriteString(rec)
			if !strings.HasSuffix(rec, "\n") {
				sb.WriteByte('\n')
			}
			n++
		}
		if n == 0 {
			return nil, io.EOF
		}
		fsys := fstest.MapFS{"chunk.csv": &fstest.MapFile{Data: []byte(sb.String())}}
		ds, err := LoadWithFS(fsys, "chunk.csv", pre, chunkOpt)
		if err != nil {
			return nil, fmt.Errorf("%s: rows %d to %d: %w", path, done, done+n-1, err)
		}
		s.Warnings = append(s.Warnings, ds.Warnings...)
		done += ds.Len()
		s.rows += ds.Len()
		x := ds.X
		if len(x.Shape) != 2 {
			x = tensor.From(x.Data, x.Rows(), x.Cols())
		}
		return x, nil
	}
	s.close = f.Close
	return nil
}

// splitLoose splits a header line on the usual delimiters, trimming quotes
// and spaces; it is only used to recognise column names.
func splitLoose(line string) []string {
	fields := strings.FieldsFunc(line, func(r rune) bool {
		return r == ',' || r == ';' || r == '\t' || r == '|' || r == '\n' || r == '\r'
	})
	for i, f := range fields {
		fields[i] = strings.Trim(strings.TrimSpace(f), `"`)
	}
	return fields
}

// WriteNPYHeader writes the header of a little-endian float32, C-order NPY
// array of the given shape; the caller then writes the values (for
// streaming writers that know the shape only at the end).
func WriteNPYHeader(w io.Writer, shape []int) error {
	dims := make([]string, len(shape))
	for i, d := range shape {
		if d < 0 {
			return fail(ErrOption, "npy", "negative dimension in shape %v", shape)
		}
		dims[i] = strconv.Itoa(d)
	}
	st := strings.Join(dims, ", ")
	if len(shape) == 1 {
		st += ","
	}
	h := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", st)
	if pad := 64 - (10+len(h)+1)%64; pad != 64 {
		h += strings.Repeat(" ", pad)
	}
	h += "\n"
	var pre [10]byte
	copy(pre[:], npyMagic)
	pre[6], pre[7] = 1, 0
	binary.LittleEndian.PutUint16(pre[8:], uint16(len(h)))
	if _, err := w.Write(pre[:]); err != nil {
		return err
	}
	_, err := io.WriteString(w, h)
	return err
}
