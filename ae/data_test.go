package ae

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bottleneck-ml/bottleneck/dataset"
)

// writeIDX writes n 8×8 grey pictures, pixel values 0–255, as an IDX file.
func writeIDX(t *testing.T, path string, n int) {
	t.Helper()
	b := binary.BigEndian.AppendUint32(nil, 0x00000803)
	for _, d := range []uint32{uint32(n), 8, 8} {
		b = binary.BigEndian.AppendUint32(b, d)
	}
	for i := range n * 64 {
		b = append(b, byte(i*7%256))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadDataTable(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("a,b,proto,label\n")
	for i := range 20 {
		fmt.Fprintf(&b, "%d,%g,%s,%d\n", i, float64(i)/3, []string{"tcp", "udp"}[i%2], i%2)
	}
	csv := filepath.Join(dir, "t.csv")
	os.WriteFile(csv, []byte(b.String()), 0o644)
	ds, err := dataset.Load(csv, dataset.LoadOptions{Label: "label"})
	if err != nil {
		t.Fatal(err)
	}
	m := newModel(t, denseConfig(t, ds.Shape, false, Dense{Hidden: []int{3}, Code: 2}), 1)
	m.Preprocess = ds.Pre
	got, err := m.LoadData(csv, dataset.LoadOptions{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.X.Data, ds.X.Data) || !slices.Equal(got.Labels, ds.Labels) {
		t.Errorf("LoadData of the training file: rows or labels differ from the training set's")
	}
	if _, err := m.LoadData(csv, dataset.LoadOptions{}, 2); err == nil || !strings.Contains(err.Error(), "values per row after preprocessing") {
		t.Errorf("LoadData with a window of 2 rows for a model of one: %v", err)
	}
	pre, shape, err := m.StreamPreprocessor(csv, dataset.LoadOptions{})
	if err != nil || pre != m.Preprocess || !slices.Equal(shape, m.Config.Input) {
		t.Errorf("StreamPreprocessor of a table model = %p, %v, %v; want its own %p, %v", pre, shape, err, m.Preprocess, m.Config.Input)
	}
	if f := m.FeatureNames(4); !slices.Equal(f, []string{"a", "b", "proto=tcp", "proto=udp"}) {
		t.Errorf("FeatureNames(4) = %v", f)
	}
	if f := m.FeatureNames(2); !slices.Equal(f, []string{"x0", "x1"}) {
		t.Errorf("FeatureNames(2) = %v; want x0, x1", f)
	}
	// an image model refuses the table
	img := newModel(t, smallConvVAE(LikelihoodBernoulli), 1)
	if _, err := img.LoadData(csv, dataset.LoadOptions{}, 1); !errors.Is(err, ErrNotPictures) || !strings.HasPrefix(err.Error(), csv+" is a table") {
		t.Errorf("LoadData of a table for an image model: %v; want ErrNotPictures naming the file", err)
	}
	if _, _, err := img.StreamPreprocessor(csv, dataset.LoadOptions{}); !errors.Is(err, ErrNotPictures) {
		t.Errorf("StreamPreprocessor of a table for an image model: %v; want ErrNotPictures", err)
	}
	if _, _, err := img.StreamPreprocessor(csv, dataset.LoadOptions{Format: dataset.FormatCSV}); !errors.Is(err, ErrNotPictures) || !strings.Contains(err.Error(), "not an IDX or NPY file") {
		t.Errorf("StreamPreprocessor of --format csv for an image model: %v; want ErrNotPictures", err)
	}
}

func TestLoadDataImages(t *testing.T) {
	idx := filepath.Join(t.TempDir(), "x-idx3-ubyte")
	writeIDX(t, idx, 5)
	for _, c := range []Config{smallConvVAE(LikelihoodBernoulli), smallConvAE()} {
		m := newModel(t, c, 1)
		ds, err := m.LoadData(idx, dataset.LoadOptions{Scale: "standardize"}, 1)
		if err != nil {
			t.Fatal(err)
		}
		if ds.Len() != 5 || !slices.Equal(ds.Shape, []int{1, 8, 8}) || math.Abs(float64(ds.X.Data[1])-7.0/255) > 1e-6 {
			t.Errorf("LoadData(IDX) for %s: %d samples of %v, pixel 1 = %v; want 5 of [1 8 8], pixels scaled to [0,1]", c.Kind(), ds.Len(), ds.Shape, ds.X.Data[1])
		}
		pre, shape, err := m.StreamPreprocessor(idx, dataset.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pre.Kind != dataset.KindImage || pre.Scale != dataset.ScaleUnit || pre.Format != dataset.FormatIDX || !slices.Equal(shape, []int{1, 8, 8}) {
			t.Errorf("StreamPreprocessor(IDX) for %s = %+v, shape %v", c.Kind(), pre, shape)
		}
		s, err := dataset.OpenStream(idx, pre, dataset.LoadOptions{}, 2)
		if err != nil {
			t.Fatal(err)
		}
		x, err := s.Next()
		s.Close()
		if err != nil || !slices.Equal(x.Data, ds.X.Data[:len(x.Data)]) {
			t.Errorf("streamed IDX for %s differs from LoadData's: %v", c.Kind(), err)
		}
	}
	// a 3-channel model refuses grey pictures
	rgb := smallConvAE()
	rgb.Channels = 3
	m := newModel(t, rgb, 1)
	if _, err := m.LoadData(idx, dataset.LoadOptions{}, 1); err == nil {
		t.Error("LoadData gave grey pictures to an RGB model")
	}
	if _, _, err := m.StreamPreprocessor(idx, dataset.LoadOptions{}); err == nil {
		t.Error("StreamPreprocessor gave grey pictures to an RGB model")
	}
}
