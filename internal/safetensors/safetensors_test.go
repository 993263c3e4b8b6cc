package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/fuzz/FuzzRead seed files")

// equalTensors compares names, shapes (nil == empty) and data bit for bit,
// so NaN payloads count.
func equalTensors(a, b []Tensor) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d tensors; want %d", len(a), len(b))
	}
	for i := range a {
		if a[i].Name != b[i].Name {
			return fmt.Errorf("tensor %d name %q; want %q", i, a[i].Name, b[i].Name)
		}
		if len(a[i].Shape) != len(b[i].Shape) || !slices.Equal(a[i].Shape, b[i].Shape) {
			return fmt.Errorf("tensor %q shape %v; want %v", a[i].Name, a[i].Shape, b[i].Shape)
		}
		if len(a[i].Data) != len(b[i].Data) {
			return fmt.Errorf("tensor %q has %d values; want %d", a[i].Name, len(a[i].Data), len(b[i].Data))
		}
		for j := range a[i].Data {
			if math.Float32bits(a[i].Data[j]) != math.Float32bits(b[i].Data[j]) {
				return fmt.Errorf("tensor %q [%d] = %v; want %v", a[i].Name, j, a[i].Data[j], b[i].Data[j])
			}
		}
	}
	return nil
}

func equalMeta(a, b map[string]string) bool {
	return len(a) == len(b) && maps.Equal(a, b)
}

func sample() ([]Tensor, map[string]string) {
	w := make([]float32, 3*5)
	for i := range w {
		w[i] = float32(i) - 7.25
	}
	ts := []Tensor{
		{Name: "encoder.0.weight", Shape: []int{3, 5}, Data: w},
		{Name: "encoder.0.bias", Shape: []int{3}, Data: []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}},
		{Name: "empty", Shape: []int{0, 4}, Data: nil},
		{Name: "step", Shape: []int{}, Data: []float32{42}},
		{Name: "a<b>&c \"ü\"", Shape: []int{1, 1, 2}, Data: []float32{math.SmallestNonzeroFloat32, float32(math.Copysign(0, -1))}},
	}
	meta := map[string]string{
		"format": "bottleneck",
		"config": `{"kind":"dense","hidden":[128,64]}`,
		"note":   "<&> ünïcode \n\t\"quoted\"",
	}
	return ts, meta
}

func encode(t testing.TB, ts []Tensor, meta map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, ts, meta); err != nil {
		t.Fatalf("Write = %v", err)
	}
	return b.Bytes()
}

func TestRoundTrip(t *testing.T) {
	ts, meta := sample()
	data := encode(t, ts, meta)
	if n := binary.LittleEndian.Uint64(data); n%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", n)
	}
	got, gotMeta, err := Read(data)
	if err != nil {
		t.Fatalf("Read = %v", err)
	}
	if err := equalTensors(got, ts); err != nil {
		t.Error(err)
	}
	if !equalMeta(gotMeta, meta) {
		t.Errorf("metadata = %q; want %q", gotMeta, meta)
	}
	// Writing the same input again gives the same bytes (map order does
	// not leak into the output).
	for range 5 {
		if again := encode(t, ts, meta); !bytes.Equal(again, data) {
			t.Fatal("Write is not deterministic")
		}
	}
}

func TestRoundTripNoMetadata(t *testing.T) {
	for _, meta := range []map[string]string{nil, {}} {
		data := encode(t, []Tensor{{Name: "x", Shape: []int{1}, Data: []float32{1}}}, meta)
		if bytes.Contains(data, []byte(MetadataKey)) {
			t.Errorf("Write(meta=%v) wrote a %s key", meta, MetadataKey)
		}
		_, got, err := Read(data)
		if err != nil || got != nil {
			t.Errorf("Read = %v, %v; want nil metadata, nil error", got, err)
		}
	}
	data := encode(t, nil, nil)
	want := "\x08\x00\x00\x00\x00\x00\x00\x00{}      "
	if string(data) != want {
		t.Errorf("Write(no tensors) = %q; want %q", data, want)
	}
}

// TestWriteGolden pins the exact bytes of a tiny file. Header checked by
// hand: 138 bytes of JSON + 6 spaces = 144 = 0x90; keys sorted at every
// level ("__metadata__" < "a" < "b"), data in the given order (b then a);
// 1.0 = 0x3f800000, -2.0 = 0xc0000000, 0.5 = 0x3f000000, little-endian.
func TestWriteGolden(t *testing.T) {
	ts := []Tensor{
		{Name: "b", Shape: []int{2}, Data: []float32{1, -2}},
		{Name: "a", Data: []float32{0.5}},
	}
	got := encode(t, ts, map[string]string{"format": "pt"})
	want := "\x90\x00\x00\x00\x00\x00\x00\x00" +
		`{"__metadata__":{"format":"pt"},` +
		`"a":{"data_offsets":[8,12],"dtype":"F32","shape":[]},` +
		`"b":{"data_offsets":[0,8],"dtype":"F32","shape":[2]}}` +
		"      " +
		"\x00\x00\x80\x3f" + "\x00\x00\x00\xc0" + "\x00\x00\x00\x3f"
	if string(got) != want {
		t.Errorf("Write =\n%q\nwant\n%q", got, want)
	}
	back, _, err := Read(got)
	if err != nil {
		t.Fatal(err)
	}
	if err := equalTensors(back, []Tensor{{Name: "b", Shape: []int{2}, Data: []float32{1, -2}}, {Name: "a", Shape: []int{}, Data: []float32{0.5}}}); err != nil {
		t.Error(err)
	}
}

// TestReadReferenceLayout reads a header laid out the way the reference
// (Rust/Python) writer does it: __metadata__ first, fields in
// dtype/shape/data_offsets order, tensors sorted by name in the data.
func TestReadReferenceLayout(t *testing.T) {
	hdr := `{"__metadata__":{"format":"pt"},"bias":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},` +
		`"weight":{"dtype":"F32","shape":[1,2],"data_offsets":[8,16]}}`
	body := []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 0, 0, 0x40, 0x40, 0, 0, 0x80, 0x40}
	ts, meta, err := Read(file(hdr+strings.Repeat(" ", (8-len(hdr)%8)%8), body))
	if err != nil {
		t.Fatalf("Read = %v", err)
	}
	want := []Tensor{
		{Name: "bias", Shape: []int{2}, Data: []float32{1, 2}},
		{Name: "weight", Shape: []int{1, 2}, Data: []float32{3, 4}},
	}
	if err := equalTensors(ts, want); err != nil {
		t.Error(err)
	}
	if meta["format"] != "pt" {
		t.Errorf("metadata = %q; want format=pt", meta)
	}
}

func TestWriteErrors(t *testing.T) {
	tests := []struct {
		name    string
		tensors []Tensor
		want    string
	}{
		{"length mismatch", []Tensor{{Name: "w", Shape: []int{2, 3}, Data: make([]float32, 5)}}, `tensor "w": shape [2 3] holds 6 values but Data has 5`},
		{"negative dim", []Tensor{{Name: "w", Shape: []int{-1}, Data: nil}}, "negative dimension"},
		{"overflow", []Tensor{{Name: "w", Shape: []int{1 << 40, 1 << 40}}}, "more elements than fit"},
		{"duplicate", []Tensor{{Name: "w", Data: []float32{1}}, {Name: "w", Data: []float32{2}}}, `"w" appears twice`},
		{"empty name", []Tensor{{Name: "", Data: []float32{1}}}, "empty name"},
		{"reserved", []Tensor{{Name: MetadataKey, Data: []float32{1}}}, "reserved"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		err := Write(&b, tt.tensors, nil)
		if err == nil || !strings.HasPrefix(err.Error(), "safetensors: ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Write = %v; want error containing %q", tt.name, err, tt.want)
		}
		if b.Len() != 0 {
			t.Errorf("%s: Write wrote %d bytes before failing", tt.name, b.Len())
		}
	}
	var b bytes.Buffer
	if err := Write(&b, nil, map[string]string{"k": "\xff"}); err == nil {
		t.Error("Write(metadata with invalid UTF-8) = nil; want error")
	}
}

// file packs header and body into a safetensors file without padding.
func file(header string, body []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, body...)
}

func withLen(n uint64, rest string) []byte {
	return append(binary.LittleEndian.AppendUint64(nil, n), rest...)
}

func TestReadErrors(t *testing.T) {
	f32 := func(s string) string { return `{"dtype":"F32",` + s + `}` }
	four := make([]byte, 4)
	eight := make([]byte, 8)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty file", nil, "file has 0 bytes"},
		{"short file", []byte{1, 2, 3}, "fewer than the 8-byte header length"},
		{"truncated header", withLen(1234, strings.Repeat(" ", 92)), "header says 1234 bytes but file has 92 after the 8-byte length; the file is truncated, re-save or re-download it"},
		{"absurd header length", withLen(math.MaxUint64, "{}"), "this is not a safetensors file"},
		{"header length zero", withLen(0, ""), "too short"},
		{"not JSON", file(`{"a":`, nil), "not JSON: unexpected EOF"},
		{"not JSON garbage", file(`{xyz}   `, nil), "not JSON"},
		{"not an object", file(`[1,2,3] `, nil), "does not start with '{'"},
		{"leading space", file(` {}`, nil), "does not start with '{'"},
		{"extra after object", file(`{}{}`, nil), "extra data"},
		{"NUL padding", file("{}\x00\x00\x00\x00\x00\x00", nil), "extra data"},
		{"invalid UTF-8", file("{\"\xff\":1}", nil), "not valid UTF-8"},
		{"entry not object", file(`{"a":[1]}`, nil), `tensor "a": "[1]" is not a JSON object`},
		{"duplicate names", file(`{"a":`+f32(`"shape":[1],"data_offsets":[0,4]`)+`,"a":`+f32(`"shape":[1],"data_offsets":[4,8]`)+`}`, eight), `key "a" appears twice`},
		{"duplicate field", file(`{"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, four), `key "dtype" appears twice`},
		{"dtype I32", file(`{"w":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}`, four), `tensor "w": dtype "I32" is not supported, only F32, F16 and BF16 are`},
		{"dtype F64", file(`{"w":{"dtype":"F64","shape":[2],"data_offsets":[0,4]}}`, four), `dtype "F64" is not supported`},
		{"dtype F16 wrong size", file(`{"w":{"dtype":"F16","shape":[3],"data_offsets":[0,4]}}`, four), `of F16 needs 6`},
		{"dtype lowercase", file(`{"w":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}}`, four), `dtype "f32" is not supported`},
		{"dtype not string", file(`{"w":{"dtype":32,"shape":[1],"data_offsets":[0,4]}}`, four), `tensor "w": dtype "32"`},
		{"missing dtype", file(`{"w":{"shape":[1],"data_offsets":[0,4]}}`, four), "dtype is missing"},
		{"missing shape", file(`{"w":{"dtype":"F32","data_offsets":[0,4]}}`, four), "shape is missing"},
		{"missing offsets", file(`{"w":{"dtype":"F32","shape":[1]}}`, four), "data_offsets is missing"},
		{"null shape", file(`{"w":{"dtype":"F32","shape":null,"data_offsets":[0,4]}}`, four), "shape is null"},
		{"unknown field", file(`{"w":`+f32(`"shape":[1],"data_offsets":[0,4],"Shape":[2]`)+`}`, four), `unknown field "Shape"`},
		{"shape not ints", file(`{"w":`+f32(`"shape":[1.5],"data_offsets":[0,4]`)+`}`, four), "shape"},
		{"shape too big for int", file(`{"w":`+f32(`"shape":[1e30],"data_offsets":[0,4]`)+`}`, four), "shape"},
		{"negative dim", file(`{"w":`+f32(`"shape":[-1,-4],"data_offsets":[0,16]`)+`}`, make([]byte, 16)), "negative dimension"},
		{"shape overflow", file(`{"w":`+f32(`"shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]`)+`}`, four), "more elements than fit"},
		{"shape product wraps", file(`{"w":`+f32(`"shape":[4611686018427387904,4],"data_offsets":[0,0]`)+`}`, nil), "more elements than fit"},
		{"elements times 4 overflows", file(`{"w":`+f32(`"shape":[4611686018427387905],"data_offsets":[0,4]`)+`}`, four), "more bytes than fit"},
		{"offsets not pair", file(`{"w":`+f32(`"shape":[1],"data_offsets":[0,4,8]`)+`}`, four), "not a [begin, end] pair"},
		{"offsets one", file(`{"w":`+f32(`"shape":[1],"data_offsets":[4]`)+`}`, four), "not a [begin, end] pair"},
		{"offsets negative", file(`{"w":`+f32(`"shape":[1],"data_offsets":[-4,0]`)+`}`, four), "data_offsets"},
		{"offsets reversed", file(`{"w":`+f32(`"shape":[1],"data_offsets":[4,0]`)+`}`, four), "end before they begin"},
		{"offsets out of range", file(`{"w":`+f32(`"shape":[4],"data_offsets":[0,16]`)+`}`, four), "data section has only 4 bytes; the file is truncated"},
		{"offsets huge", file(`{"w":`+f32(`"shape":[1],"data_offsets":[18446744073709551612,18446744073709551615]`)+`}`, four), "the file is truncated"},
		{"size mismatch", file(`{"w":`+f32(`"shape":[2],"data_offsets":[0,4]`)+`}`, four), "span 4 bytes but shape [2] of F32 needs 8"},
		{"overlap", file(`{"a":`+f32(`"shape":[2],"data_offsets":[0,8]`)+`,"b":`+f32(`"shape":[1],"data_offsets":[4,8]`)+`}`, eight), "overlaps"},
		{"same range", file(`{"a":`+f32(`"shape":[1],"data_offsets":[0,4]`)+`,"b":`+f32(`"shape":[1],"data_offsets":[0,4]`)+`}`, eight), "overlaps"},
		{"hole", file(`{"a":`+f32(`"shape":[1],"data_offsets":[0,4]`)+`,"b":`+f32(`"shape":[1],"data_offsets":[8,12]`)+`}`, make([]byte, 12)), "hole"},
		{"hole at start", file(`{"a":`+f32(`"shape":[1],"data_offsets":[4,8]`)+`}`, eight), "hole"},
		{"trailing bytes", file(`{"a":`+f32(`"shape":[1],"data_offsets":[0,4]`)+`}`, eight), "data section has 8 bytes but the tensors cover only 4"},
		{"trailing bytes no tensors", file(`{}`, four), "trailing bytes"},
		{"metadata not object", file(`{"__metadata__":"x"}`, nil), "is not a JSON object"},
		{"metadata number value", file(`{"__metadata__":{"k":1}}`, nil), `value of "k" is "1", not a string`},
		{"metadata null value", file(`{"__metadata__":{"k":null}}`, nil), "not a string"},
		{"metadata duplicate", file(`{"__metadata__":{"k":"a","k":"b"}}`, nil), `key "k" appears twice`},
		{"empty name", file(`{"":`+f32(`"shape":[1],"data_offsets":[0,4]`)+`}`, four), "empty tensor name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, meta, err := Read(tt.data)
			if err == nil {
				t.Fatalf("Read = %v, %v, nil; want error containing %q", ts, meta, tt.want)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "safetensors: ") || !strings.Contains(msg, tt.want) {
				t.Errorf("Read error = %q; want prefix \"safetensors: \" and %q", msg, tt.want)
			}
			if ts != nil || meta != nil {
				t.Errorf("Read returned data with an error")
			}
		})
	}
}

func TestReadAcceptsWhitespace(t *testing.T) {
	hdr := "{ \"a\" : {\n\"shape\" : [ 1 ] , \"data_offsets\" : [0, 4], \"dtype\" : \"F32\" } ,\t\"__metadata__\": { \"k\" : \"v\" } }\n\r\t "
	ts, meta, err := Read(file(hdr, []byte{0, 0, 0x80, 0x3f}))
	if err != nil {
		t.Fatalf("Read = %v", err)
	}
	if len(ts) != 1 || ts[0].Data[0] != 1 || meta["k"] != "v" {
		t.Errorf("Read = %v, %v", ts, meta)
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	ts, meta := sample()
	if err := WriteFile(path, ts, meta); err != nil {
		t.Fatalf("WriteFile = %v", err)
	}
	got, gotMeta, err := ReadFile(path)
	if err != nil {
		t.Fatalf("ReadFile = %v", err)
	}
	if err := equalTensors(got, ts); err != nil {
		t.Error(err)
	}
	if !equalMeta(gotMeta, meta) {
		t.Errorf("metadata = %q; want %q", gotMeta, meta)
	}

	// A bad tensor leaves the old file in place.
	old, _ := os.ReadFile(path)
	err = WriteFile(path, []Tensor{{Name: "w", Shape: []int{2}, Data: []float32{1}}}, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "safetensors: "+path+": ") {
		t.Errorf("WriteFile(bad) = %v; want error naming %s", err, path)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, old) {
		t.Error("WriteFile(bad) changed the existing file")
	}

	// Truncation is reported with the path.
	if err := os.WriteFile(path, old[:len(old)-3], 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = ReadFile(path)
	if err == nil || !strings.HasPrefix(err.Error(), "safetensors: "+path+": ") || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("ReadFile(truncated) = %v; want error naming the path and truncation", err)
	}
	bin := filepath.Join(dir, "model.bin")
	if err := os.WriteFile(bin, withLen(1234, strings.Repeat("x", 92)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = ReadFile(bin)
	want := "safetensors: " + bin + ": header says 1234 bytes but file has 92 after the 8-byte length; the file is truncated, re-save or re-download it"
	if err == nil || err.Error() != want {
		t.Errorf("ReadFile = %v;\nwant %s", err, want)
	}

	_, _, err = ReadFile(filepath.Join(dir, "missing.safetensors"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadFile(missing) = %v; want wrapped os.ErrNotExist", err)
	}
	if err := WriteFile(filepath.Join(dir, "no", "such", "dir.safetensors"), ts, nil); err == nil {
		t.Error("WriteFile into a missing directory = nil; want error")
	}
}

// seeds are valid files for the fuzzer to start from.
func seeds(t testing.TB) map[string][]byte {
	ts, meta := sample()
	return map[string][]byte{
		"sample":   encode(t, ts, meta),
		"golden":   encode(t, []Tensor{{Name: "b", Shape: []int{2}, Data: []float32{1, -2}}, {Name: "a", Data: []float32{0.5}}}, map[string]string{"format": "pt"}),
		"empty":    encode(t, nil, nil),
		"zerosize": encode(t, []Tensor{{Name: "z", Shape: []int{3, 0}}, {Name: "y", Shape: []int{0}}, {Name: "x", Shape: []int{1}, Data: []float32{3}}}, nil),
		"metaonly": encode(t, nil, map[string]string{"format": "bottleneck", "format_version": "1"}),
	}
}

// TestSeedCorpus keeps testdata/fuzz/FuzzRead in step with seeds; run
// with -update to rewrite it.
func TestSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzRead")
	for name, data := range seeds(t) {
		path := filepath.Join(dir, "seed-"+name)
		content := "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n"
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%v; run go test -run TestSeedCorpus -update", err)
			continue
		}
		if string(got) != content {
			t.Errorf("%s is stale; run go test -run TestSeedCorpus -update", path)
		}
	}
}

// FuzzRead checks that Read never panics and that whatever it accepts
// writes back to a file that reads the same and is a fixed point of
// Write∘Read.
func FuzzRead(f *testing.F) {
	for _, data := range seeds(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, meta, err := Read(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "safetensors: ") {
				t.Fatalf("error %q lacks the prefix", err)
			}
			return
		}
		var b bytes.Buffer
		if err := Write(&b, ts, meta); err != nil {
			t.Fatalf("Read accepted the input but Write of its result fails: %v", err)
		}
		ts2, meta2, err := Read(b.Bytes())
		if err != nil {
			t.Fatalf("Read(Write(Read(x))) = %v", err)
		}
		if err := equalTensors(ts2, ts); err != nil {
			t.Fatalf("tensors changed over a round trip: %v", err)
		}
		if !equalMeta(meta2, meta) {
			t.Fatalf("metadata changed over a round trip: %q; want %q", meta2, meta)
		}
		var b2 bytes.Buffer
		if err := Write(&b2, ts2, meta2); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b2.Bytes(), b.Bytes()) {
			t.Fatal("Write(Read(Write(...))) is not a fixed point")
		}
	})
}
