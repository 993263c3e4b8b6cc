package dataset

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing/fstest"
	"unicode/utf8"

	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Stream reads a data file in batches of preprocessed rows with an already
// fitted Preprocessor, so files larger than memory can be encoded or
// scored. NPY files (C order) and CSV files are read incrementally, holding
// one batch at a time; other formats (IDX, NPZ, Fortran-order NPY) are
// loaded whole and then handed out in batches.
type Stream struct {
	// Warnings are non-fatal findings (categories not seen in training),
	// one per column over everything read so far, naming the file.
	Warnings []string

	next    func() (*tensor.Tensor, error)
	close   func() error
	rows    int
	unknown map[string]int    // column → rows with an unseen category
	first   map[string]string // column → the first unseen category
	order   []string          // columns in the order they first had one
	path    string
	pre     *Preprocessor // CSV: orders the warnings
	labels  []string      // the last batch's labels (nil: none)
	ids     []string      // the last batch's LoadOptions.ID values (nil: none)
}

// note folds a chunk's unknown categories into the stream's warnings.
func (s *Stream) note(ds *Dataset) {
	if len(ds.Unknown) == 0 {
		return
	}
	if s.unknown == nil {
		s.unknown, s.first = map[string]int{}, map[string]string{}
	}
	cols := make([]string, 0, len(ds.Unknown))
	for c := range ds.Unknown {
		cols = append(cols, c)
	}
	slices.Sort(cols)
	for _, c := range cols {
		n := ds.Unknown[c]
		if _, ok := s.unknown[c]; !ok {
			s.order = append(s.order, c)
			s.first[c] = ds.firstUnknown[c]
		}
		s.unknown[c] += n
	}
	if s.pre != nil {
		// in column order, as LoadWith lists them
		slices.SortStableFunc(s.order, func(a, b string) int { return s.pre.columnIndex(a) - s.pre.columnIndex(b) })
	}
	s.Warnings = s.Warnings[:0]
	for _, c := range s.order {
		s.Warnings = append(s.Warnings, unknownWarning(s.path, c, s.unknown[c], s.first[c]))
	}
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
			format = sniffFile(path) // a name that says nothing (corrected.gz)
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
		s.labels, s.ids = nil, nil
		if ds.Labels != nil {
			s.labels = ds.Labels[pos:hi]
		}
		if ds.IDs != nil {
			s.ids = ds.IDs[pos:hi]
		}
		pos = hi
		s.rows += t.Rows()
		return t, nil
	}
	s.close = func() error { return nil }
	return s, nil
}

// sniffFile tells the format of a file from its first (decompressed)
// bytes, as Load does for a name that says nothing; "" when it cannot.
func sniffFile(path string) Format {
	f, err := openData(osFS{}, path)
	if err != nil {
		return ""
	}
	defer f.Close()
	head, _ := f.r.Peek(512)
	return sniff(head)
}

// Next returns the next batch (rows × features, valid until the next
// call), or io.EOF after the last one.
func (s *Stream) Next() (*tensor.Tensor, error) { return s.next() }

// ReadAhead returns a stream that reads and preprocesses up to depth
// batches ahead of its caller, in a goroutine of its own, so that parsing
// the next batches overlaps the work on the current one; memory grows by
// depth batches. Use the returned stream instead of s (its Close closes
// s). Batches it returns stay valid after the next call.
func (s *Stream) ReadAhead(depth int) *Stream {
	type item struct {
		x                     *tensor.Tensor
		labels, ids, warnings []string
		rows                  int
		err                   error
	}
	ch := make(chan item, max(depth, 1))
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			x, err := s.Next()
			it := item{err: err, labels: s.labels, ids: s.ids, warnings: slices.Clone(s.Warnings), rows: s.rows}
			if err == nil {
				it.x = x.Clone()
			}
			select {
			case ch <- it:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	r := &Stream{path: s.path}
	var last error
	r.next = func() (*tensor.Tensor, error) {
		if last != nil {
			return nil, last
		}
		it := <-ch
		r.Warnings, r.labels, r.ids, r.rows, last = it.warnings, it.labels, it.ids, it.rows, it.err
		return it.x, it.err
	}
	closed := false
	r.close = func() error {
		if closed {
			return nil
		}
		closed = true
		close(stop)
		<-done
		return s.Close()
	}
	return r
}

// Labels are the labels of the last batch's rows, or nil when the data
// has none (a CSV file without a label column, an array).
func (s *Stream) Labels() []string { return s.labels }

// IDs are the values of the LoadOptions.ID column for the last batch's
// rows, or nil without one.
func (s *Stream) IDs() []string { return s.ids }

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
	f, err := openData(osFS{}, path) // gzip too, as LoadWith reads it
	if err != nil {
		return false, err
	}
	r := f.r
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
	if rows == 0 {
		f.Close()
		return false, fail(ErrFormat, path, "array of shape %v holds no samples; pass a non-empty array", shape)
	}
	if opt.MaxRows > 0 {
		rows = min(rows, opt.MaxRows)
	}
	missing := pre.Missing // as LoadWith: opt.Missing overrides the model's
	if opt.Missing != "" {
		missing = opt.Missing
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
			if pre.Kind == KindArray {
				// the same float64 arithmetic as LoadWith, not rounded
				// to float32 first
				row := buf.Row(i)
				for j := range row {
					v, err := arrayValue(path, &pre.Columns[j], missing, a.value(i*d+j), done+i, j)
					if err != nil {
						return nil, err
					}
					row[j] = v
				}
				continue
			}
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
	f, err := openData(osFS{}, path) // gzip too, as LoadWith reads it
	if err != nil {
		return err
	}
	s.path, s.pre = path, pre
	r := f.r
	comma := opt.Comma // as LoadWith picks it, once for every chunk
	if comma == 0 && pre.Comma != "" {
		comma, _ = utf8.DecodeRuneInString(pre.Comma)
	}
	if comma == 0 {
		comma = detectComma(r)
	}
	readLine := func() (string, error) {
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
	// readRecord skips the lines LoadWith skips: empty ones, and blank
	// ones in whitespace-separated files.
	readRecord := func() (string, error) {
		for {
			rec, err := readLine()
			if err != nil {
				return "", err
			}
			if strings.TrimRight(rec, "\r\n") != "" && (comma != ' ' || strings.TrimSpace(rec) != "") {
				return rec, nil
			}
		}
	}
	// fieldCount is the number of fields of one record, -1 if it does not
	// parse (the chunk's parse then reports that).
	fieldCount := func(rec string) int {
		if comma == ' ' {
			return len(strings.Fields(rec))
		}
		cr := csv.NewReader(strings.NewReader(rec))
		cr.Comma, cr.FieldsPerRecord = comma, -1
		f, err := cr.Read()
		if err != nil {
			return -1
		}
		return len(f)
	}
	// Header: as told, else decided as LoadWith decides it.
	hasHeader := false
	if opt.Header != nil {
		hasHeader = *opt.Header
	} else {
		hasHeader = streamHeader(r, pre, opt, comma)
	}
	var header string
	first, err := readRecord()
	if err != nil {
		f.Close()
		return fail(ErrFormat, path, "the file is empty")
	}
	pending, fields := "", -1
	if hasHeader {
		header = first
		if !strings.HasSuffix(header, "\n") {
			header += "\n"
		}
	} else {
		pending, fields = first, fieldCount(first)
	}
	no := false
	chunkOpt := opt
	chunkOpt.MaxRows = 0
	chunkOpt.Comma = comma
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
			if n == 0 && fields >= 0 {
				// a chunk's records agree with its first, and the
				// first with the file's first, as LoadWith checks
				if k := fieldCount(rec); k >= 0 && k != fields {
					return nil, fail(ErrFieldCount, path, "row %d has %d fields, the first row has %d; fix the row (a stray delimiter or quote?) or check --comma", done+1, k, fields)
				}
			}
			sb.WriteString(rec)
			if !strings.HasSuffix(rec, "\n") {
				sb.WriteByte('\n')
			}
			n++
		}
		if n == 0 {
			if done == 0 && hasHeader {
				// as LoadWith: a header alone is not an empty result
				return nil, fail(ErrFormat, path, "has a header but no data rows; pass a file with data")
			}
			return nil, io.EOF
		}
		fsys := fstest.MapFS{"chunk.csv": &fstest.MapFile{Data: []byte(sb.String())}}
		ds, err := LoadWithFS(fsys, "chunk.csv", pre, chunkOpt)
		if err != nil {
			return nil, fmt.Errorf("%s: rows %d to %d: %w", path, done, done+n-1, err)
		}
		s.note(ds)
		s.labels, s.ids = ds.Labels, ds.IDs
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

// streamHeader decides whether the first record in r is a header with
// LoadWith's rule (applyHeader), applied to the records r has buffered
// (up to the last whole line when the file goes on), without consuming
// them.
func streamHeader(r *bufio.Reader, pre *Preprocessor, opt LoadOptions, comma rune) bool {
	head, err := r.Peek(r.Size())
	if err == nil || err == bufio.ErrBufferFull {
		if i := bytes.LastIndexByte(head, '\n'); i >= 0 {
			head = head[:i+1]
		}
	}
	br := bufio.NewReader(bytes.NewReader(head))
	records := 1001 // detectHeader looks at up to 1000 rows below
	if opt.MaxRows > 0 {
		records = min(records, opt.MaxRows+1)
	}
	var t *table
	if comma == ' ' {
		t, err = readFields("head", br, records)
	} else {
		t, err = readTable("head", br, comma, records)
	}
	return err == nil && applyHeader(t, pre)
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
