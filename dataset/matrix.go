package dataset

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bottleneck-ml/bottleneck/internal/atomicfile"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// MatrixWriter writes rows of numbers to a .npy (float32) or .csv file
// (with a header of column names) as they come, in bounded memory; the
// file appears atomically on Close, complete, or not at all.
type MatrixWriter struct {
	path  string
	cols  int
	rows  int
	npy   bool
	file  *atomicfile.File // the file being written (nil for a stream)
	out   *bufio.Writer    // CSV text, to file or stream
	dst   io.Writer        // a stream's destination
	body  *os.File         // NPY: the values, before the header is known
	buf   []byte
	wbody io.Writer
}

// CreateMatrix starts a matrix file of cols columns at path; the extension
// picks the format. header names the CSV columns (nil: none).
func CreateMatrix(path string, cols int, header []string) (*MatrixWriter, error) {
	var format Format
	switch strings.ToLower(filepath.Ext(path)) {
	case ".npy":
		format = FormatNPY
	case ".csv":
		format = FormatCSV
	default:
		return nil, fmt.Errorf("dataset: output %s: unknown extension; use .npy or .csv", path)
	}
	w := &MatrixWriter{path: path, cols: cols}
	if format == FormatCSV {
		f, err := atomicfile.Create(path, 0o644)
		if err != nil {
			return nil, err
		}
		w.file, w.out = f, f.Writer
	}
	return w, w.start(format, filepath.Dir(path), header)
}

// NewMatrixWriter writes a matrix of cols columns in format (csv or npy)
// to dst, a stream such as standard output. An NPY stream is written on
// Close, when the row count is known.
func NewMatrixWriter(dst io.Writer, format Format, cols int, header []string) (*MatrixWriter, error) {
	w := &MatrixWriter{path: "the output", cols: cols, dst: dst}
	switch format {
	case FormatCSV:
		w.out = bufio.NewWriterSize(dst, 64<<10)
	case FormatNPY:
	default:
		return nil, fmt.Errorf("dataset: output format %q; use csv or npy", format)
	}
	return w, w.start(format, os.TempDir(), header)
}

func (w *MatrixWriter) start(format Format, dir string, header []string) error {
	if format == FormatNPY {
		w.npy = true
		f, err := os.CreateTemp(dir, ".matrix-*.f32")
		if err != nil {
			return fmt.Errorf("dataset: %s: %w", w.path, err)
		}
		os.Remove(f.Name()) // unlinked: gone whatever happens
		w.body = f
		w.wbody = bufio.NewWriterSize(f, 64<<10)
		return nil
	}
	if len(header) > 0 {
		for j, h := range header {
			if j > 0 {
				w.out.WriteByte(',')
			}
			w.out.WriteString(CSVField(h))
		}
		w.out.WriteByte('\n')
	}
	return nil
}

// Write appends the rows of t ([n, cols]).
func (w *MatrixWriter) Write(t *tensor.Tensor) error {
	if t.Rows() > 0 && len(t.Data)/t.Rows() != w.cols {
		return fmt.Errorf("dataset: %s: rows of %d values, the file has %d columns", w.path, len(t.Data)/t.Rows(), w.cols)
	}
	w.rows += t.Rows()
	if w.npy {
		if cap(w.buf) < 4*len(t.Data) {
			w.buf = make([]byte, 4*len(t.Data))
		}
		b := w.buf[:4*len(t.Data)]
		for i, v := range t.Data {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		_, err := w.wbody.Write(b)
		return err
	}
	for i := range t.Rows() {
		for j, v := range t.Data[i*w.cols : (i+1)*w.cols] {
			if j > 0 {
				w.out.WriteByte(',')
			}
			w.buf = strconv.AppendFloat(w.buf[:0], float64(v), 'g', -1, 32)
			w.out.Write(w.buf)
		}
		if err := w.out.WriteByte('\n'); err != nil {
			return err
		}
	}
	return nil
}

// Rows is the number of rows written.
func (w *MatrixWriter) Rows() int { return w.rows }

// Close puts the complete file in place (or finishes the stream).
func (w *MatrixWriter) Close() error {
	if !w.npy {
		if w.file != nil {
			return w.file.Commit()
		}
		return w.out.Flush()
	}
	defer w.body.Close()
	if err := w.wbody.(*bufio.Writer).Flush(); err != nil {
		return fmt.Errorf("dataset: %s: %w", w.path, err)
	}
	if _, err := w.body.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("dataset: %s: %w", w.path, err)
	}
	write := func(out io.Writer) error {
		if err := WriteNPYHeader(out, []int{w.rows, w.cols}); err != nil {
			return err
		}
		_, err := io.Copy(out, w.body)
		return err
	}
	if w.dst != nil {
		return write(w.dst)
	}
	return atomicfile.WriteFile(w.path, write, 0o644)
}

// Abort discards the file.
func (w *MatrixWriter) Abort() {
	if w.npy {
		w.body.Close()
		return
	}
	if w.file != nil {
		w.file.Abort()
	}
}

// WriteMatrix writes t ([rows, cols]) to a .npy or .csv file atomically.
func WriteMatrix(path string, t *tensor.Tensor, header []string) error {
	w, err := CreateMatrix(path, len(t.Data)/max(t.Rows(), 1), header)
	if err != nil {
		return err
	}
	if err := w.Write(t); err != nil {
		w.Abort()
		return err
	}
	return w.Close()
}

// CSVField quotes s for a CSV file when it needs it.
func CSVField(s string) string {
	if strings.ContainsAny(s, ",\"\n\r") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}
