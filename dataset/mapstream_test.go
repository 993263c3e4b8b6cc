package dataset

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bottleneck-ml/bottleneck/tensor"
)

func TestMapTo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.npy")
	data := make([]float32, 7*4)
	for i := range data {
		data[i] = float32(i)
	}
	f, _ := os.Create(path)
	if err := WriteNPY(f, data, []int{7, 4}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ds, err := Load(path, LoadOptions{Scale: ScaleNone})
	if err != nil {
		t.Fatal(err)
	}
	// sum of each 2×2 sample, and the sample's first value
	f2 := func(dst, x *tensor.Tensor) (*tensor.Tensor, error) {
		if len(x.Shape) != 3 || x.Shape[1] != 2 || x.Shape[2] != 2 {
			t.Fatalf("f got samples of shape %v; want [n 2 2]", x.Shape)
		}
		if dst == nil || dst.Rows() != x.Rows() {
			dst = tensor.New(x.Rows(), 2)
		}
		for i := range x.Rows() {
			r := x.Row(i)
			dst.Data[2*i], dst.Data[2*i+1] = r[0]+r[1]+r[2]+r[3], r[0]
		}
		return dst, nil
	}
	for _, batch := range []int{1, 3, 10} {
		s, err := OpenStream(path, ds.Pre, LoadOptions{}, batch)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		w, err := NewMatrixWriter(&b, FormatCSV, 2, []string{"sum", "first"})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.MapTo(w, []int{2, 2}, f2); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		want := "sum,first\n6,0\n22,4\n38,8\n54,12\n70,16\n86,20\n102,24\n"
		if b.String() != want || w.Rows() != 7 {
			t.Errorf("batch %d: MapTo wrote %d rows:\n%s\nwant\n%s", batch, w.Rows(), b.String(), want)
		}
	}
	s, _ := OpenStream(path, ds.Pre, LoadOptions{}, 3)
	w, _ := NewMatrixWriter(&bytes.Buffer{}, FormatCSV, 2, nil)
	if err := s.MapTo(w, []int{5}, f2); err == nil || !strings.Contains(err.Error(), "4 features per row after preprocessing, the model expects 5") {
		t.Errorf("MapTo with the wrong shape: %v", err)
	}
	s, _ = OpenStream(path, ds.Pre, LoadOptions{}, 3)
	boom := errors.New("boom")
	if err := s.MapTo(w, []int{2, 2}, func(_, _ *tensor.Tensor) (*tensor.Tensor, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("MapTo whose f fails: %v; want its error", err)
	}
	s, _ = OpenStream(path, ds.Pre, LoadOptions{}, 3)
	w3, _ := NewMatrixWriter(&bytes.Buffer{}, FormatCSV, 3, nil)
	if err := s.MapTo(w3, []int{2, 2}, f2); err == nil {
		t.Error("MapTo wrote rows of 2 values to a 3-column writer")
	}
}
