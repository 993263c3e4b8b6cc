package dataset

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestStreamLabelsIDsReadAhead streams a gzipped CSV file whose name says
// nothing of its format, with labels, ids and an unseen category, with and
// without read-ahead, and wants what LoadWith gives.
func TestStreamLabelsIDsReadAhead(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("id,a,proto,label\n")
	for i := range 53 {
		fmt.Fprintf(&b, "r%d,%d,%s,%s\n", i, i%9, []string{"tcp", "udp"}[i%2], []string{"normal", "attack"}[i%5/4])
	}
	train := filepath.Join(dir, "train.csv")
	os.WriteFile(train, []byte(b.String()), 0o644)
	ds, err := Load(train, LoadOptions{Label: "label", Drop: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	// the rows to score: an unseen category in two columns, gzipped,
	// named without an extension
	text := strings.Replace(strings.Replace(b.String(), "r40,4,tcp", "r40,4,sctp", 1), "r7,7,udp", "r7,7,gre", 1)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(text))
	zw.Close()
	path := filepath.Join(dir, "rows")
	os.WriteFile(path, gz.Bytes(), 0o644)
	plain := filepath.Join(dir, "rows.csv")
	os.WriteFile(plain, []byte(text), 0o644)
	want, err := LoadWith(plain, ds.Pre, LoadOptions{ID: "id"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ahead := range []int{0, 1, 3} {
		s, err := OpenStream(path, ds.Pre, LoadOptions{ID: "id"}, 10)
		if err != nil {
			t.Fatal(err)
		}
		if ahead > 0 {
			s = s.ReadAhead(ahead)
		}
		var x []float32
		var labels, ids []string
		var kept []*float32 // batches must stay valid after the next call with read-ahead
		for {
			batch, err := s.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			x = append(x, batch.Data...)
			kept = append(kept, &batch.Data[0])
			labels = append(labels, s.Labels()...)
			ids = append(ids, s.IDs()...)
		}
		if !slices.Equal(x, want.X.Data) || !slices.Equal(labels, want.Labels) || !slices.Equal(ids, want.IDs) {
			t.Errorf("read-ahead %d: the stream's rows, labels or ids differ from LoadWith's", ahead)
		}
		if w := strings.Join(want.Warnings, "|"); strings.Join(s.Warnings, "|") != strings.ReplaceAll(w, plain, path) || w == "" {
			t.Errorf("read-ahead %d: warnings %q; LoadWith's %q", ahead, s.Warnings, want.Warnings)
		}
		if s.Rows() != 53 {
			t.Errorf("read-ahead %d: Rows() = %d; want 53", ahead, s.Rows())
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		s.Close() // twice is harmless
	}
	// a read-ahead stream closed early stops its reader
	s, _ := OpenStream(path, ds.Pre, LoadOptions{}, 5)
	s = s.ReadAhead(2)
	s.Next()
	if err := s.Close(); err != nil {
		t.Error(err)
	}
}
