package nntest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"testing"
)

// Fixture file format (little-endian), written by testdata/ref/make_fixtures.py:
//
//	"BNFX"  uint32 version (1)
//	uint32 n, n bytes of JSON metadata (seed, torch version, notes)
//	uint32 count, then count tensors:
//	  uint16 n, n bytes of name; uint8 ndim; ndim × uint32 dims;
//	  prod(dims) × float32 values, row-major
const (
	FixtureMagic   = "BNFX"
	FixtureVersion = 1
)

// Fixture is a set of named float32 tensors with their metadata.
type Fixture struct {
	Meta    map[string]any
	Names   []string // in file order
	Tensors map[string][]float32
	Shapes  map[string][]int
}

// ReadFixture reads a fixture file.
func ReadFixture(path string) (*Fixture, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := ParseFixture(b)
	if err != nil {
		return nil, fmt.Errorf("nntest: %s: %w; regenerate it with testdata/ref/make_fixtures.py", path, err)
	}
	return f, nil
}

// ParseFixture decodes the bytes of a fixture file.
func ParseFixture(b []byte) (*Fixture, error) {
	r := bytes.NewReader(b)
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil || string(magic[:]) != FixtureMagic {
		return nil, fmt.Errorf("bad magic %q, want %q", magic[:], FixtureMagic)
	}
	var version, metaLen uint32
	if err := binary.Read(r, binary.LittleEndian, &version); err != nil {
		return nil, err
	}
	if version != FixtureVersion {
		return nil, fmt.Errorf("version %d, this reader knows %d", version, FixtureVersion)
	}
	if err := binary.Read(r, binary.LittleEndian, &metaLen); err != nil {
		return nil, err
	}
	if int64(metaLen) > int64(r.Len()) {
		return nil, fmt.Errorf("metadata length %d past the end", metaLen)
	}
	meta := make([]byte, metaLen)
	io.ReadFull(r, meta)
	f := &Fixture{Tensors: map[string][]float32{}, Shapes: map[string][]int{}}
	if err := json.Unmarshal(meta, &f.Meta); err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	var count uint32
	if err := binary.Read(r, binary.LittleEndian, &count); err != nil {
		return nil, err
	}
	for k := range count {
		var nameLen uint16
		if err := binary.Read(r, binary.LittleEndian, &nameLen); err != nil {
			return nil, fmt.Errorf("tensor %d: %w", k, err)
		}
		name := make([]byte, nameLen)
		if _, err := io.ReadFull(r, name); err != nil {
			return nil, fmt.Errorf("tensor %d: name: %w", k, err)
		}
		var ndim uint8
		if err := binary.Read(r, binary.LittleEndian, &ndim); err != nil {
			return nil, fmt.Errorf("tensor %s: %w", name, err)
		}
		dims := make([]uint32, ndim)
		if err := binary.Read(r, binary.LittleEndian, dims); err != nil {
			return nil, fmt.Errorf("tensor %s: shape: %w", name, err)
		}
		n := int64(1)
		shape := make([]int, ndim)
		for i, d := range dims {
			shape[i] = int(d)
			n *= int64(d)
			if n*4 > int64(r.Len()) {
				return nil, fmt.Errorf("tensor %s: shape %v past the end", name, shape)
			}
		}
		data := make([]float32, n)
		if err := binary.Read(r, binary.LittleEndian, data); err != nil {
			return nil, fmt.Errorf("tensor %s: data: %w", name, err)
		}
		s := string(name)
		if _, dup := f.Tensors[s]; dup {
			return nil, fmt.Errorf("tensor %s twice", s)
		}
		f.Names = append(f.Names, s)
		f.Tensors[s] = data
		f.Shapes[s] = shape
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%d trailing bytes", r.Len())
	}
	return f, nil
}

// Get returns the tensor called name or fails t.
func (f *Fixture) Get(t testing.TB, name string) []float32 {
	t.Helper()
	v, ok := f.Tensors[name]
	if !ok {
		t.Fatalf("fixture has no tensor %q (has %v)", name, f.Names)
	}
	return v
}

// Scalar returns the single value of tensor name or fails t.
func (f *Fixture) Scalar(t testing.TB, name string) float64 {
	t.Helper()
	v := f.Get(t, name)
	if len(v) != 1 {
		t.Fatalf("fixture tensor %q has %d values; want 1", name, len(v))
	}
	return float64(v[0])
}

// Shape returns the shape of tensor name.
func (f *Fixture) Shape(name string) []int { return slices.Clone(f.Shapes[name]) }

// Encode writes f in the fixture format (the inverse of ParseFixture; used
// by the reader's tests).
func (f *Fixture) Encode(w io.Writer) error {
	var buf bytes.Buffer
	buf.WriteString(FixtureMagic)
	meta, err := json.Marshal(f.Meta)
	if err != nil {
		return err
	}
	le := binary.LittleEndian
	buf.Write(le.AppendUint32(nil, FixtureVersion))
	buf.Write(le.AppendUint32(nil, uint32(len(meta))))
	buf.Write(meta)
	buf.Write(le.AppendUint32(nil, uint32(len(f.Names))))
	for _, name := range f.Names {
		buf.Write(le.AppendUint16(nil, uint16(len(name))))
		buf.WriteString(name)
		shape := f.Shapes[name]
		buf.WriteByte(byte(len(shape)))
		for _, d := range shape {
			buf.Write(le.AppendUint32(nil, uint32(d)))
		}
		for _, v := range f.Tensors[name] {
			buf.Write(le.AppendUint32(nil, math.Float32bits(v)))
		}
	}
	_, err = w.Write(buf.Bytes())
	return err
}
