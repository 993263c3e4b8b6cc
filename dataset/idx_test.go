package dataset

import (
	"encoding/binary"
	"runtime"
	"slices"
	"testing"
	"testing/fstest"
)

// idxFile builds an IDX file of unsigned bytes.
func idxFile(dims []uint32, data []byte) []byte {
	b := []byte{0, 0, 0x08, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, d)
	}
	return append(b, data...)
}

// tinyImages is 3 images of 2×2 pixels and their labels.
func tinyImages() (images, labels []byte) {
	px := []byte{0, 255, 51, 102, 1, 2, 3, 4, 255, 255, 0, 0}
	return idxFile([]uint32{3, 2, 2}, px), idxFile([]uint32{3}, []byte{7, 0, 7})
}

func TestIDX(t *testing.T) {
	img, lab := tinyImages()
	for _, tc := range []struct {
		name      string
		images    string
		labels    string
		imgData   []byte
		labelData []byte
	}{
		{"raw", "train-images-idx3-ubyte", "train-labels-idx1-ubyte", img, lab},
		{"gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", gz(img), gz(lab)},
		{"gz images raw labels", "d/t10k-images-idx3-ubyte.gz", "d/t10k-labels-idx1-ubyte", gz(img), lab},
		{"raw images gz labels", "x-images.idx3-ubyte", "x-labels.idx1-ubyte.gz", img, gz(lab)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{tc.images: {Data: tc.imgData}, tc.labels: {Data: tc.labelData}}
			ds, err := LoadFS(fsys, tc.images, LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ds.Shape, []int{1, 2, 2}) || !slices.Equal(ds.X.Shape, []int{3, 1, 2, 2}) {
				t.Errorf("Shape %v X %v; want [1 2 2], [3 1 2 2]", ds.Shape, ds.X.Shape)
			}
			if !nearSlice(ds.X.Row(0), []float32{0, 1, 0.2, 0.4}) {
				t.Errorf("row 0 = %v; want [0 1 0.2 0.4]", ds.X.Row(0))
			}
			if !slices.Equal(ds.Labels, []string{"7", "0", "7"}) {
				t.Errorf("Labels = %q", ds.Labels)
			}
			if !ds.Pre.OutputInUnitRange() || ds.Pre.Kind != KindImage {
				t.Errorf("pre %+v", ds.Pre)
			}
		})
	}
	// Without a labels file, Normal filter, MaxRows, Scale none, explicit labels.
	fsys := fstest.MapFS{"a-images-idx3-ubyte": {Data: img}, "lab": {Data: lab}}
	ds, err := LoadFS(fsys, "a-images-idx3-ubyte", LoadOptions{})
	if err != nil || ds.Labels != nil {
		t.Fatalf("no labels file: %v %v", err, ds.Labels)
	}
	ds, err = LoadFS(fsys, "a-images-idx3-ubyte", LoadOptions{LabelsPath: "lab", Normal: "7", Scale: ScaleNone})
	if err != nil || ds.Len() != 2 || ds.X.Row(1)[0] != 255 || ds.Pre.OutputInUnitRange() {
		t.Fatalf("normal 7, scale none: %v %v", err, ds)
	}
	ds, err = LoadFS(fsys, "a-images-idx3-ubyte", LoadOptions{MaxRows: 1})
	if err != nil || ds.Len() != 1 {
		t.Fatalf("MaxRows 1: %v", err)
	}
	// LoadWith checks the shape.
	other := fstest.MapFS{"b-images-idx3-ubyte": {Data: idxFile([]uint32{1, 3, 3}, make([]byte, 9))}}
	_, err = LoadWithFS(other, "b-images-idx3-ubyte", ds.Pre, LoadOptions{})
	wantErr(t, err, ErrFormat, "shape [1 3 3]", "expects [1 2 2]")
	_, err = LoadWithFS(fsys, "a-images-idx3-ubyte", ds.Pre, LoadOptions{})
	if err != nil {
		t.Errorf("LoadWith same shape: %v", err)
	}
	// Transform/Inverse for images.
	x := make([]float32, 4)
	if err := ds.Pre.TransformValues([]float32{0, 255, 51, 102}, x); err != nil || !nearSlice(x, []float32{0, 1, 0.2, 0.4}) {
		t.Errorf("TransformValues = %v, %v", x, err)
	}
	raw := make([]float32, 4)
	ds.Pre.Inverse(x, raw)
	if !nearSlice(raw, []float32{0, 255, 51, 102}) {
		t.Errorf("Inverse = %v", raw)
	}
}

func TestIDXErrors(t *testing.T) {
	img, lab := tinyImages()
	for _, tc := range []struct {
		name  string
		data  []byte
		kind  error
		parts []string
	}{
		{"label file as data", lab, ErrFormat, []string{"magic 0x00000801 is a label file; pass the images file"}},
		{"truncated payload", img[:len(img)-3], ErrTruncated, []string{"truncated", "dimensions [3 2 2]", "(12 bytes) but only 9"}},
		{"truncated gz", gz(img[:len(img)-3]), ErrTruncated, []string{"(12 bytes) but only 9"}},
		{"truncated header", img[:9], ErrTruncated, []string{"3 dimensions"}},
		{"short", []byte{0, 0}, ErrFormat, []string{"too short"}},
		{"bad magic", []byte("GIF89a.........."), ErrFormat, []string{"not an IDX header"}},
		{"int type", []byte{0, 0, 0x0c, 1, 0, 0, 0, 1, 0, 0, 0, 0}, ErrFormat, []string{"element type 0x0c"}},
		{"4 dims", idxFile([]uint32{1, 1, 1, 1}, []byte{0}), ErrFormat, []string{"4 dimensions"}},
		{"empty", idxFile([]uint32{0, 28, 28}, nil), ErrFormat, []string{"no samples"}},
		{"overflowing dims", idxFile([]uint32{0xffffffff, 0xffffffff, 0xffffffff}, nil), ErrFormat, []string{"too large"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadFS(fstest.MapFS{"x-idx3-ubyte": {Data: tc.data}}, "x-idx3-ubyte", LoadOptions{})
			wantErr(t, err, tc.kind, append([]string{"x-idx3-ubyte"}, tc.parts...)...)
		})
	}
	// Labels that do not match.
	fsys := fstest.MapFS{"a-images-idx3-ubyte": {Data: img}, "a-labels-idx1-ubyte": {Data: idxFile([]uint32{2}, []byte{1, 2})}}
	_, err := LoadFS(fsys, "a-images-idx3-ubyte", LoadOptions{})
	wantErr(t, err, ErrFormat, "a-labels-idx1-ubyte", "2 labels for the 3 images")
}

// TestIDXHostileDims: a header declaring 2^39 bytes must fail without
// allocating anything near that, raw or gzipped.
func TestIDXHostileDims(t *testing.T) {
	hostile := idxFile([]uint32{1 << 20, 1 << 10, 1 << 9}, make([]byte, 1000))
	for _, data := range [][]byte{hostile, gz(hostile)} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := LoadFS(fstest.MapFS{"h-idx3-ubyte": {Data: data}}, "h-idx3-ubyte", LoadOptions{})
		runtime.ReadMemStats(&after)
		wantErr(t, err, ErrTruncated, "truncated")
		if got := after.TotalAlloc - before.TotalAlloc; got > 8<<20 {
			t.Errorf("allocated %d bytes for a hostile header", got)
		}
	}
}
