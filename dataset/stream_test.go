package dataset

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// drain reads a stream to the end and returns all rows.
func drain(t *testing.T, s *Stream) []float32 {
	t.Helper()
	var all []float32
	for {
		b, err := s.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b.Data...)
	}
	return all
}

func TestStreamMatchesLoad(t *testing.T) {
	dir := t.TempDir()
	// NPY array, 23 rows × 4 columns, standardised.
	npy := filepath.Join(dir, "x.npy")
	data := make([]float32, 23*4)
	for i := range data {
		data[i] = float32(i%7) * 1.5
	}
	f, _ := os.Create(npy)
	if err := WriteNPY(f, data, []int{23, 4}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// CSV table with a header, a categorical and a label column.
	var b strings.Builder
	b.WriteString("a,proto,b,label\n")
	for i := 0; i < 31; i++ {
		fmt.Fprintf(&b, "%d,%s,%g,%d\n", i, []string{"tcp", "udp"}[i%2], float64(i)/3, i%3)
	}
	csvPath := filepath.Join(dir, "t.csv")
	os.WriteFile(csvPath, []byte(b.String()), 0o644)
	noHeader := filepath.Join(dir, "nh.csv")
	os.WriteFile(noHeader, []byte(strings.SplitN(b.String(), "\n", 2)[1]), 0o644)

	for _, tc := range []struct {
		name, fit, stream string
		opt               LoadOptions
	}{
		{"npy", npy, npy, LoadOptions{}},
		{"csv", csvPath, csvPath, LoadOptions{Label: "label"}},
		{"csv-no-header", csvPath, noHeader, LoadOptions{Label: "label"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := Load(tc.fit, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			for _, batch := range []int{1, 5, 100} {
				s, err := OpenStream(tc.stream, ds.Pre, LoadOptions{}, batch)
				if err != nil {
					t.Fatal(err)
				}
				got := drain(t, s)
				s.Close()
				if !slices.Equal(got, ds.X.Data) {
					t.Fatalf("batch %d: streamed %d values, loaded %d; they differ", batch, len(got), len(ds.X.Data))
				}
			}
			s, err := OpenStream(tc.stream, ds.Pre, LoadOptions{MaxRows: 7}, 3)
			if err != nil {
				t.Fatal(err)
			}
			if got := drain(t, s); len(got) != 7*ds.X.Cols() {
				t.Errorf("MaxRows 7: %d values; want %d", len(got), 7*ds.X.Cols())
			}
		})
	}
}

func TestStreamErrors(t *testing.T) {
	dir := t.TempDir()
	npy := filepath.Join(dir, "x.npy")
	f, _ := os.Create(npy)
	WriteNPY(f, make([]float32, 12), []int{4, 3})
	f.Close()
	ds, err := Load(npy, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Truncated file: the header promises 4 rows.
	raw, _ := os.ReadFile(npy)
	trunc := filepath.Join(dir, "trunc.npy")
	os.WriteFile(trunc, raw[:len(raw)-5], 0o644)
	s, err := OpenStream(trunc, ds.Pre, LoadOptions{}, 2)
	if err != nil {
		t.Fatal(err)
	}
	s.Next()
	if _, err := s.Next(); !errors.Is(err, ErrTruncated) {
		t.Errorf("truncated NPY: %v; want ErrTruncated", err)
	}
	// Wrong width.
	wide := filepath.Join(dir, "wide.npy")
	f, _ = os.Create(wide)
	WriteNPY(f, make([]float32, 10), []int{2, 5})
	f.Close()
	if _, err := OpenStream(wide, ds.Pre, LoadOptions{}, 2); !errors.Is(err, ErrFieldCount) {
		t.Errorf("NPY of the wrong width: %v; want ErrFieldCount", err)
	}
	if _, err := OpenStream(npy, ds.Pre, LoadOptions{Normal: "x"}, 2); !errors.Is(err, ErrOption) {
		t.Errorf("stream with --normal: %v; want ErrOption", err)
	}
	if _, err := OpenStream(npy, ds.Pre, LoadOptions{}, 0); !errors.Is(err, ErrOption) {
		t.Errorf("batch 0: %v; want ErrOption", err)
	}
}

func TestWriteNPYHeader(t *testing.T) {
	var a, b strings.Builder
	data := []float32{1, 2, 3, 4, 5, 6}
	if err := WriteNPY(&a, data, []int{2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := WriteNPYHeader(&b, []int{2, 3}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a.String(), b.String()) || len(a.String()) != len(b.String())+24 {
		t.Errorf("WriteNPYHeader = %q; want the header WriteNPY writes", b.String())
	}
}
