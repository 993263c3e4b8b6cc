package dataset

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// npyFile builds an NPY file with a raw header dict and payload.
func npyFile(major byte, dict string, payload []byte) []byte {
	b := []byte(npyMagic)
	b = append(b, major, 0)
	h := dict + "\n"
	if major == 1 {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(h)))
	} else {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(h)))
	}
	b = append(b, h...)
	return append(b, payload...)
}

func npyDict(descr string, fortran bool, shape string) string {
	f := "False"
	if fortran {
		f = "True"
	}
	return fmt.Sprintf("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr, f, shape)
}

func writeNPY(t *testing.T, data []float32, shape []int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteNPY(&buf, data, shape); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestWriteNPYRoundTrip(t *testing.T) {
	for _, shape := range [][]int{{}, {5}, {2, 3}, {2, 1, 2, 2}, {0, 4}} {
		n := 1
		for _, d := range shape {
			n *= d
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = float32(i)*0.5 - 1
		}
		b := writeNPY(t, data, shape)
		hlen := int(binary.LittleEndian.Uint16(b[8:10]))
		if (10+hlen)%64 != 0 || b[10+hlen-1] != '\n' {
			t.Errorf("shape %v: header of %d bytes not 64-aligned or not newline-terminated", shape, hlen)
		}
		got, gotShape, err := ReadNPY(bytes.NewReader(b))
		if err != nil || !slices.Equal(got, data) || !slices.Equal(gotShape, shape) {
			t.Errorf("round trip %v: %v %v %v", shape, got, gotShape, err)
		}
	}
	if err := WriteNPY(&bytes.Buffer{}, []float32{1}, []int{2}); err == nil {
		t.Errorf("WriteNPY with a wrong shape succeeded")
	}
	// Load a written file as a dataset.
	b := writeNPY(t, []float32{0, 0.5, 1, 0.25}, []int{2, 2})
	ds, err := LoadFS(fstest.MapFS{"codes.npy": {Data: b}}, "codes.npy", LoadOptions{})
	if err != nil || ds.Pre.Scale != ScaleNone || !nearSlice(ds.X.Data, []float32{0, 0.5, 1, 0.25}) || !ds.Pre.OutputInUnitRange() {
		t.Fatalf("Load(npy in [0,1]) = %v, %v", ds, err)
	}
}

func TestNPYDtypes(t *testing.T) {
	le, be := binary.LittleEndian, binary.BigEndian
	f4 := func(o binary.AppendByteOrder) []byte {
		var b []byte
		for _, v := range []float32{0, 1, 2} {
			b = o.AppendUint32(b, math.Float32bits(v))
		}
		return b
	}
	f8 := func(o binary.AppendByteOrder) []byte {
		var b []byte
		for _, v := range []float64{0, 1, 2} {
			b = o.AppendUint64(b, math.Float64bits(v))
		}
		return b
	}
	i4 := le.AppendUint32(le.AppendUint32(le.AppendUint32(nil, 0), 1), 2)
	i8 := le.AppendUint64(le.AppendUint64(le.AppendUint64(nil, 0), 1), 2)
	for _, tc := range []struct {
		descr   string
		payload []byte
		want    []float32
	}{
		{"<f4", f4(le), []float32{0, 1, 2}},
		{">f4", f4(be), []float32{0, 1, 2}},
		{"<f8", f8(le), []float32{0, 1, 2}},
		{">f8", f8(be), []float32{0, 1, 2}},
		{"|u1", []byte{0, 1, 2}, []float32{0, 1, 2}},
		{"|i1", []byte{0, 1, 0xfe}, []float32{0, 1, -2}},
		{"|b1", []byte{0, 1, 7}, []float32{0, 1, 1}},
		{"<i4", i4, []float32{0, 1, 2}},
		{"<i8", i8, []float32{0, 1, 2}},
		{"<u2", []byte{0, 0, 1, 0, 2, 1}, []float32{0, 1, 258}},
	} {
		for _, major := range []byte{1, 2, 3} {
			b := npyFile(major, npyDict(tc.descr, false, "(3,)"), tc.payload)
			got, shape, err := ReadNPY(bytes.NewReader(b))
			if err != nil || !slices.Equal(got, tc.want) || !slices.Equal(shape, []int{3}) {
				t.Errorf("%s v%d: %v %v %v; want %v", tc.descr, major, got, shape, err, tc.want)
			}
		}
	}
}

func TestNPYFortranOrder(t *testing.T) {
	// The 2×3 array [[1 2 3] [4 5 6]] stored column-major.
	var p []byte
	for _, v := range []float32{1, 4, 2, 5, 3, 6} {
		p = binary.LittleEndian.AppendUint32(p, math.Float32bits(v))
	}
	got, shape, err := ReadNPY(bytes.NewReader(npyFile(1, npyDict("<f4", true, "(2, 3)"), p)))
	if err != nil || !slices.Equal(got, []float32{1, 2, 3, 4, 5, 6}) || !slices.Equal(shape, []int{2, 3}) {
		t.Errorf("Fortran 2×3 = %v %v %v", got, shape, err)
	}
	// 2×2×2: element (i,j,k) = 100i+10j+k at Fortran offset i+2j+4k.
	f := make([]byte, 8)
	for i := range 2 {
		for j := range 2 {
			for k := range 2 {
				f[i+2*j+4*k] = byte(100*i + 10*j + k)
			}
		}
	}
	got, _, err = ReadNPY(bytes.NewReader(npyFile(1, npyDict("|u1", true, "(2, 2, 2)"), f)))
	if err != nil || !slices.Equal(got, []float32{0, 1, 10, 11, 100, 101, 110, 111}) {
		t.Errorf("Fortran 2×2×2 = %v %v", got, err)
	}
}

func TestNPYErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		data  []byte
		kind  error
		parts []string
	}{
		{"magic", []byte("not numpy at all"), ErrFormat, []string{"not an NPY file"}},
		{"version", npyFile(9, npyDict("<f4", false, "(1,)"), make([]byte, 4)), ErrFormat, []string{"version 9"}},
		{"dtype", npyFile(1, npyDict("<U3", false, "(1,)"), make([]byte, 12)), ErrFormat, []string{`dtype "<U3"`}},
		{"structured", npyFile(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", make([]byte, 4)), ErrFormat, []string{"structured"}},
		{"no shape", npyFile(1, "{'descr': '<f4', 'fortran_order': False}", nil), ErrFormat, []string{"shape missing"}},
		{"truncated", npyFile(1, npyDict("<f4", false, "(2, 2)"), make([]byte, 10)), ErrTruncated, []string{"(16 bytes) but only 10"}},
		{"huge shape", npyFile(1, npyDict("<f8", false, "(4294967295, 4294967295)"), nil), ErrFormat, []string{"too large"}},
		{"scalar", npyFile(1, npyDict("<f4", false, "()"), make([]byte, 4)), ErrFormat, []string{"samples first"}},
		{"5-d", npyFile(1, npyDict("|u1", false, "(1, 1, 1, 1, 1)"), []byte{0}), ErrFormat, []string{"samples first"}},
		{"empty", npyFile(1, npyDict("<f4", false, "(0, 3)"), nil), ErrFormat, []string{"no samples"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadFS(fstest.MapFS{"a.npy": {Data: tc.data}}, "a.npy", LoadOptions{})
			wantErr(t, err, tc.kind, append([]string{"a.npy"}, tc.parts...)...)
		})
	}
	// A hostile shape within limits fails on the short file, without a
	// matching allocation, also when the size is unknown (gzip).
	h := npyFile(1, npyDict("<f8", false, "(1048576, 65536)"), make([]byte, 64))
	for _, data := range [][]byte{h, gz(h)} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := LoadFS(fstest.MapFS{"h.npy": {Data: data}}, "h.npy", LoadOptions{})
		runtime.ReadMemStats(&after)
		wantErr(t, err, ErrTruncated, "truncated")
		if got := after.TotalAlloc - before.TotalAlloc; got > 8<<20 {
			t.Errorf("allocated %d bytes for a hostile header", got)
		}
	}
}

// npzFile zips name → NPY bytes, deflated or stored.
func npzFile(t *testing.T, deflate bool, kv ...any) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i < len(kv); i += 2 {
		m := zip.Store
		if deflate {
			m = zip.Deflate
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: kv[i].(string), Method: m})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(kv[i+1].([]byte))
	}
	zw.Close()
	return buf.Bytes()
}

func TestNPZ(t *testing.T) {
	x := writeNPY(t, []float32{1, 10, 2, 20, 3, 30, 4, 40}, []int{4, 2})
	var yb []byte
	for _, v := range []uint64{0, 0, 1, 0} {
		yb = binary.LittleEndian.AppendUint64(yb, v)
	}
	y := npyFile(1, npyDict("<i8", false, "(4,)"), yb)
	y2 := npyFile(1, npyDict("<i8", false, "(4, 1)"), yb)
	for _, tc := range []struct {
		name    string
		data    []byte
		labels  bool
		deflate bool
	}{
		{"stored X y", npzFile(t, false, "y.npy", y, "X.npy", x), true, false},
		{"deflated X y", npzFile(t, true, "X.npy", x, "y.npy", y), true, true},
		{"y column", npzFile(t, true, "X.npy", x, "y.npy", y2), true, true},
		{"only array", npzFile(t, true, "data.npy", x), false, true},
		{"first array", npzFile(t, true, "y.npy", y, "feats.npy", x, "other.npy", y), true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := LoadFS(fstest.MapFS{"d.npz": {Data: tc.data}}, "d.npz", LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if ds.Len() != 4 || ds.Dim() != 2 || ds.Pre.Scale != ScaleStandardize || ds.Pre.Kind != KindArray {
				t.Errorf("%d×%d scale %s", ds.Len(), ds.Dim(), ds.Pre.Scale)
			}
			if tc.labels != (ds.Labels != nil) || (tc.labels && !slices.Equal(ds.Labels, []string{"0", "0", "1", "0"})) {
				t.Errorf("Labels = %q", ds.Labels)
			}
			s := float32(math.Sqrt(1.25))
			if !nearSlice(ds.X.Row(0), []float32{-1.5 / s, -1.5 / s}) {
				t.Errorf("row 0 = %v", ds.X.Row(0))
			}
		})
	}
	tr, err := LoadFS(fstest.MapFS{"d.npz": {Data: npzFile(t, true, "X.npy", x, "y.npy", y)}}, "d.npz", LoadOptions{Normal: "0", Scale: ScaleMinMax})
	if err != nil || tr.Len() != 3 || !tr.Pre.OutputInUnitRange() {
		t.Fatalf("Normal 0 minmax: %v", err)
	}
	// Min-max fitted on rows 0, 1, 3: column 0 spans 1..4.
	if !nearSlice(tr.X.Row(2), []float32{1, 1}) {
		t.Errorf("minmax row = %v", tr.X.Row(2))
	}
	// Apply to a .npy with the same width, and to one with another width.
	ap, err := LoadWithFS(fstest.MapFS{"t.npy": {Data: x}}, "t.npy", tr.Pre, LoadOptions{})
	if err != nil || ap.Len() != 4 || !near(ap.X.Row(2)[0], 2.0/3) {
		t.Errorf("LoadWith npy: %v %v", ap, err)
	}
	_, err = LoadWithFS(fstest.MapFS{"t.npy": {Data: writeNPY(t, make([]float32, 3), []int{1, 3})}}, "t.npy", tr.Pre, LoadOptions{})
	wantErr(t, err, ErrFormat, "t.npy", "3 values", "expects 2")
	_, err = LoadWithFS(fsWith("t.csv", "1,2\n"), "t.csv", tr.Pre, LoadOptions{})
	wantErr(t, err, ErrFormat, "t.csv", "trained on npz")
	v := make([]float32, 2)
	if err := tr.Pre.TransformValues([]float32{4, 40}, v); err != nil || !nearSlice(v, []float32{1, 1}) {
		t.Errorf("TransformValues = %v %v", v, err)
	}

	_, err = LoadFS(fstest.MapFS{"b.npz": {Data: []byte("PK\x03\x04garbage")}}, "b.npz", LoadOptions{})
	wantErr(t, err, ErrFormat, "b.npz", "not a readable .npz")
	_, err = LoadFS(fstest.MapFS{"e.npz": {Data: npzFile(t, true, "readme.txt", []byte("hi"))}}, "e.npz", LoadOptions{})
	wantErr(t, err, ErrFormat, "e.npz", "no .npy arrays")
	short := npyFile(1, npyDict("<i8", false, "(3,)"), yb[:24])
	_, err = LoadFS(fstest.MapFS{"s.npz": {Data: npzFile(t, true, "X.npy", x, "y.npy", short)}}, "s.npz", LoadOptions{})
	wantErr(t, err, ErrFormat, "s.npz", "labels y have shape [3] for 4 samples")
}

func TestNPYMissing(t *testing.T) {
	nan := float32(math.NaN())
	b := writeNPY(t, []float32{1, nan, 3, 5}, []int{4, 1})
	_, err := LoadFS(fstest.MapFS{"n.npy": {Data: b}}, "n.npy", LoadOptions{})
	wantErr(t, err, ErrMissing, "n.npy", "row 1, column 0", "--missing impute")
	ds, err := LoadFS(fstest.MapFS{"n.npy": {Data: b}}, "n.npy", LoadOptions{Missing: MissingImpute, Scale: ScaleNone})
	if err != nil || !nearSlice(ds.X.Data, []float32{1, 3, 3, 5}) {
		t.Errorf("imputed = %v, %v", ds, err)
	}
	if !strings.HasPrefix(ds.Features[0], "x0") {
		t.Errorf("Features = %q", ds.Features)
	}
}

func TestNPYLabelsPathAndSniff(t *testing.T) {
	x := writeNPY(t, []float32{1, 2, 3}, []int{3})
	y := writeNPY(t, []float32{0, 1, 0}, []int{3})
	fsys := fstest.MapFS{"x.npy": {Data: x}, "y.npy": {Data: y}, "x.bin": {Data: x},
		"z.bin": {Data: npzFile(t, true, "X.npy", x)}}
	ds, err := LoadFS(fsys, "x.npy", LoadOptions{LabelsPath: "y.npy", Normal: "0"})
	if err != nil || ds.Len() != 2 || !slices.Equal(ds.Shape, []int{1}) {
		t.Fatalf("LabelsPath + Normal: %v %v", ds, err)
	}
	_, err = LoadFS(fsys, "x.npy", LoadOptions{LabelsPath: "nope.npy"})
	wantErr(t, err, ErrOption, "nope.npy", "no such file")
	for name, want := range map[string]Format{"x.bin": FormatNPY, "z.bin": FormatNPZ} {
		ds, err := LoadFS(fsys, name, LoadOptions{})
		if err != nil || ds.Pre.Format != want {
			t.Errorf("sniffed %s: %v %v; want %s", name, ds, err, want)
		}
	}
	img, _ := tinyImages()
	ds, err = LoadFS(fstest.MapFS{"raw.bin": {Data: gz(img)}}, "raw.bin", LoadOptions{})
	if err != nil || ds.Pre.Kind != KindImage {
		t.Errorf("sniffed IDX: %v", err)
	}
	_, err = LoadFS(fsys, "x.npy", LoadOptions{Format: "parquet"})
	wantErr(t, err, ErrOption, `format "parquet"`)
}
