package cli

import (
	"bufio"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/internal/atomicfile"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// writeMatrix writes rows × cols values to path as .npy (float32) or .csv
// (with a header of column names), chosen by the extension. The file is
// written atomically.
func writeMatrix(path string, t *tensor.Tensor, header []string) error {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".npy":
		return atomicfile.WriteFile(path, func(w io.Writer) error {
			return dataset.WriteNPY(w, t.Data, []int{t.Rows(), t.Cols()})
		}, 0o644)
	case ".csv":
		return atomicfile.WriteFile(path, func(w io.Writer) error {
			return writeCSV(w, t, header)
		}, 0o644)
	}
	return usagef("output %s: unknown extension; use .npy or .csv", path)
}

func writeCSV(w io.Writer, t *tensor.Tensor, header []string) error {
	bw := bufio.NewWriter(w)
	for j, h := range header {
		if j > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString(csvField(h))
	}
	if len(header) > 0 {
		bw.WriteByte('\n')
	}
	buf := make([]byte, 0, 32)
	for i := 0; i < t.Rows(); i++ {
		for j, v := range t.Row(i) {
			if j > 0 {
				bw.WriteByte(',')
			}
			buf = strconv.AppendFloat(buf[:0], float64(v), 'g', -1, 32)
			bw.Write(buf)
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

func csvField(s string) string {
	if strings.ContainsAny(s, ",\"\n\r") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

func codeNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("z%d", i)
	}
	return names
}
