package dataset

import (
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
	out   *atomicfile.File // the file itself (CSV) or the NPY body
	body  *os.File         // NPY: the values, before the header is known
	buf   []byte
	b4    [4]byte
	wbody io.Writer
}

// CreateMatrix starts a matrix file of cols columns at path; the extension
// picks the format. header names the CSV columns (nil: none).
func CreateMatrix(path string, cols int, header []string) (*MatrixWriter, error) {
	w := &MatrixWriter{path: path, cols: cols}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".npy":
		w.npy = true
		f, err := os.CreateTemp(filepath.Dir(path), ".matrix-*.f32")
		if err != nil {
			return nil, fmt.Errorf("dataset: %s: %w", path, err)
		}
		os.Remove(f.Name()) // unlinked: gone whatever happens
		w.body = f
		w.wbody = f
		return w, nil
	case ".csv":
		out, err := atomicfile.Create(path, 0o644)
		if err != nil {
			return nil, err
		}
		w.out = out
		if len(header) > 0 {
			for j, h := range header {
				if j > 0 {
					out.WriteByte(',')
				}
				out.WriteString(CSVField(h))
			}
			out.WriteByte('\n')
		}
		return w, nil
	}
	return nil, fmt.Errorf("dataset: output %s: unknown extension; use .npy or .csv", path)
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

// Close puts the complete file in place.
func (w *MatrixWriter) Close() error {
	if !w.npy {
		return w.out.Commit()
	}
	defer w.body.Close()
	if _, err := w.body.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("dataset: %s: %w", w.path, err)
	}
	return atomicfile.WriteFile(w.path, func(out io.Writer) error {
		if err := WriteNPYHeader(out, []int{w.rows, w.cols}); err != nil {
			return err
		}
		_, err := io.Copy(out, w.body)
		return err
	}, 0o644)
}

// Abort discards the file.
func (w *MatrixWriter) Abort() {
	if w.npy {
		w.body.Close()
		return
	}
	w.out.Abort()
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
