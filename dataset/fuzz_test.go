package dataset

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"testing"
	"testing/fstest"
)

func FuzzIDX(f *testing.F) {
	img, lab := tinyImages()
	f.Add(img)
	f.Add(gz(img))
	f.Add(lab)
	f.Add(img[:7])
	f.Add(idxFile([]uint32{1 << 20, 1 << 10, 1 << 9}, make([]byte, 8)))
	f.Add(idxFile([]uint32{2, 3}, []byte{1, 2, 3, 4, 5, 6}))
	f.Fuzz(func(t *testing.T, data []byte) {
		ds, err := LoadFS(fstest.MapFS{"f-idx3-ubyte": {Data: data}}, "f-idx3-ubyte", LoadOptions{})
		if err != nil {
			return
		}
		if ds.X.Len() != ds.Len()*ds.Dim() || ds.Len() == 0 {
			t.Fatalf("X %v for shape %v", ds.X.Shape, ds.Shape)
		}
		for _, v := range ds.X.Data {
			if v < 0 || v > 1 {
				t.Fatalf("pixel %v outside [0,1]", v)
			}
		}
	})
}

func FuzzNPY(f *testing.F) {
	var b bytes.Buffer
	WriteNPY(&b, []float32{1, 2, 3, 4, 5, 6}, []int{2, 3})
	f.Add(b.Bytes())
	f.Add(npyFile(2, npyDict("|u1", true, "(2, 2)"), []byte{1, 2, 3, 4}))
	f.Add(npyFile(1, npyDict(">f8", false, "(1,)"), make([]byte, 8)))
	f.Add(npyFile(1, npyDict("<f8", false, "(1048576, 65536)"), make([]byte, 8)))
	f.Add([]byte("\x93NUMPY\x01\x00\x05\x00{}   "))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, shape, err := ReadNPY(bytes.NewReader(data))
		if err == nil {
			var w bytes.Buffer
			if err := WriteNPY(&w, got, shape); err != nil {
				t.Fatalf("WriteNPY of a read array: %v", err)
			}
			again, shape2, err := ReadNPY(&w)
			if err != nil || !slices.Equal(shape, shape2) || !slices.EqualFunc(got, again, func(a, b float32) bool {
				return math.Float32bits(a) == math.Float32bits(b)
			}) {
				t.Fatalf("round trip: %v %v → %v %v %v", got, shape, again, shape2, err)
			}
		}
		ds, err := LoadFS(fstest.MapFS{"f.npy": {Data: data}}, "f.npy", LoadOptions{Missing: MissingImpute})
		if err != nil {
			return
		}
		for _, v := range ds.X.Data {
			if math.IsNaN(float64(v)) {
				t.Fatalf("NaN after imputation")
			}
		}
	})
}

func FuzzCSV(f *testing.F) {
	f.Add([]byte(small), "label")
	f.Add([]byte("1,x,5,n\n2,y,6,a\n3,x,7,n\n"), "3")
	f.Add([]byte("a;b\n1;?\n3;4\n"), "")
	f.Add([]byte("a,b\n1,2\n3,4,5\n"), "")
	f.Add([]byte("\"a\nb\",c\n1,2\n"), "c")
	f.Add([]byte("  1.0e+00  -0.5  2\n  2.0e+00  0.5  3\n"), "0")
	f.Fuzz(func(t *testing.T, data []byte, label string) {
		opt := LoadOptions{Label: label, Missing: MissingImpute}
		ds, err := LoadFS(fstest.MapFS{"f.csv": {Data: data}}, "f.csv", opt)
		if err != nil {
			return
		}
		if ds.X.Len() != ds.Len()*ds.Dim() || len(ds.Features) != ds.Dim() {
			t.Fatalf("X %v, %d features, dim %d", ds.X.Shape, len(ds.Features), ds.Dim())
		}
		if ds.Labels != nil && len(ds.Labels) != ds.Len() {
			t.Fatalf("%d labels for %d rows", len(ds.Labels), ds.Len())
		}
		for _, v := range ds.X.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("non-finite model value %v", v)
			}
		}
		// The fitted preprocessor, through JSON, reproduces X on the same file.
		js, err := json.Marshal(ds.Pre)
		if err != nil {
			t.Fatal(err)
		}
		var pre Preprocessor
		if err := json.Unmarshal(js, &pre); err != nil {
			t.Fatal(err)
		}
		again, err := LoadWithFS(fstest.MapFS{"f.csv": {Data: data}}, "f.csv", &pre, LoadOptions{Header: &pre.Header})
		if err != nil {
			t.Fatalf("LoadWith on the training file: %v", err)
		}
		if !slices.Equal(again.X.Data, ds.X.Data) {
			t.Fatalf("LoadWith X %v; Load X %v", again.X.Data, ds.X.Data)
		}
	})
}
