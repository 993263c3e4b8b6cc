// Package safetensors reads and writes the safetensors container format
// (https://github.com/huggingface/safetensors) for float32 tensors, stored
// as F32 or, to halve a file, as F16 (IEEE half precision); reading also
// accepts BF16. Values are float32 in memory either way.
//
// A file is an 8-byte little-endian header length N, N bytes of UTF-8 JSON
// padded with spaces to a multiple of 8, then the raw little-endian tensor
// bytes. The JSON object maps each tensor name to
// {"data_offsets":[begin,end],"dtype":"F32","shape":[...]}, offsets relative
// to the start of the data section, plus an optional "__metadata__" object
// of string values. The tensors cover the data section exactly, without
// gaps or overlaps.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/bottleneck-ml/bottleneck/internal/atomicfile"
)

// MetadataKey is the header key holding the string→string metadata.
const MetadataKey = "__metadata__"

// maxHeader bounds the JSON header, as the reference implementation does.
const maxHeader = 100_000_000

// Tensor is a named float32 tensor in row-major order. A nil or empty
// Shape is a scalar holding one value. Dtype is how it is stored in the
// file: F32 (or empty) or F16, which Write rounds Data to (to nearest,
// ties to even); Read reports the stored type and returns the values as
// float32.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
	Dtype string
}

// Stored types.
const (
	F32  = "F32"
	F16  = "F16"
	BF16 = "BF16" // read only
)

// dtypeSize is the bytes per value of the types this package reads.
func dtypeSize(dtype string) int {
	switch dtype {
	case F32:
		return 4
	case F16, BF16:
		return 2
	}
	return 0
}

// storedType is t's type in a file.
func storedType(t Tensor) string {
	if t.Dtype == "" {
		return F32
	}
	return t.Dtype
}

// entry is one tensor's header record.
type entry struct {
	DataOffsets [2]uint64 `json:"data_offsets"`
	Dtype       string    `json:"dtype"`
	Shape       []int     `json:"shape"`
}

// numElements returns the product of shape, or an error for negative
// dimensions or a product that overflows int.
func numElements(shape []int) (int, error) {
	n := uint64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %v has a negative dimension", shape)
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt {
			return 0, fmt.Errorf("shape %v has more elements than fit in an int", shape)
		}
		n = lo
	}
	return int(n), nil
}

// checkTensors reports the first tensor Write cannot store.
func checkTensors(tensors []Tensor) error {
	seen := make(map[string]bool, len(tensors))
	for i, t := range tensors {
		switch {
		case t.Name == "":
			return fmt.Errorf("tensor %d has an empty name", i)
		case t.Name == MetadataKey:
			return fmt.Errorf("tensor name %q is reserved for metadata", t.Name)
		case !utf8.ValidString(t.Name):
			return fmt.Errorf("tensor name %q is not valid UTF-8", t.Name)
		case seen[t.Name]:
			return fmt.Errorf("tensor name %q appears twice", t.Name)
		}
		seen[t.Name] = true
		n, err := numElements(t.Shape)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		if n != len(t.Data) {
			return fmt.Errorf("tensor %q: shape %v holds %d values but Data has %d", t.Name, t.Shape, n, len(t.Data))
		}
		if uint64(n) > math.MaxUint64/4 {
			return fmt.Errorf("tensor %q: %d values do not fit in a file", t.Name, n)
		}
		switch storedType(t) {
		case F32:
		case F16:
			for _, v := range t.Data {
				if h := toHalf(v); h&0x7c00 == 0x7c00 && !math.IsInf(float64(v), 0) && !math.IsNaN(float64(v)) {
					return fmt.Errorf("tensor %q: %v is beyond F16's range (±65504); store it as F32", t.Name, v)
				}
			}
		default:
			return fmt.Errorf("tensor %q: dtype %q cannot be written; use F32 or F16", t.Name, t.Dtype)
		}
	}
	return nil
}

// header builds the padded JSON header for tensors laid out in order.
// Keys are sorted at every level, so the output is deterministic.
func header(tensors []Tensor, metadata map[string]string) ([]byte, error) {
	h := make(map[string]any, len(tensors)+1)
	if len(metadata) > 0 {
		for k, v := range metadata {
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return nil, fmt.Errorf("metadata %q is not valid UTF-8", k)
			}
		}
		h[MetadataKey] = metadata
	}
	var off uint64
	for _, t := range tensors {
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		dt := storedType(t)
		end := off + uint64(dtypeSize(dt))*uint64(len(t.Data))
		if end < off {
			return nil, errors.New("tensors do not fit in a file")
		}
		h[t.Name] = entry{DataOffsets: [2]uint64{off, end}, Dtype: dt, Shape: shape}
		off = end
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(h); err != nil {
		return nil, err
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	for len(b)%8 != 0 {
		b = append(b, ' ')
	}
	if len(b) > maxHeader {
		return nil, fmt.Errorf("header is %d bytes, over the %d-byte limit readers accept; use fewer tensors or less metadata", len(b), maxHeader)
	}
	return b, nil
}

// Write writes tensors, in the given order, and metadata (which may be nil)
// as a safetensors file. The output depends only on the arguments: JSON
// keys are sorted and the header is padded with spaces to a multiple of 8.
func Write(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	if err := checkTensors(tensors); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	h, err := header(tensors, metadata)
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	buf := make([]byte, 0, 32<<10)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(len(h)))
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("safetensors: write: %w", err)
	}
	if _, err := w.Write(h); err != nil {
		return fmt.Errorf("safetensors: write: %w", err)
	}
	buf = buf[:0]
	for _, t := range tensors {
		half := storedType(t) == F16
		for _, v := range t.Data {
			if half {
				buf = binary.LittleEndian.AppendUint16(buf, toHalf(v))
			} else {
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			}
			if len(buf) >= cap(buf)-4 {
				if _, err := w.Write(buf); err != nil {
					return fmt.Errorf("safetensors: write: %w", err)
				}
				buf = buf[:0]
			}
		}
	}
	if len(buf) > 0 {
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("safetensors: write: %w", err)
		}
	}
	return nil
}

// WriteFile writes a safetensors file atomically: readers of path see
// either the old file or the complete new one.
func WriteFile(path string, tensors []Tensor, metadata map[string]string) error {
	// Check first so a bad tensor does not even create a temporary file.
	if err := checkTensors(tensors); err != nil {
		return fmt.Errorf("safetensors: %s: %w", path, err)
	}
	err := atomicfile.WriteFile(path, func(w io.Writer) error {
		return Write(w, tensors, metadata)
	}, 0o644)
	if err != nil {
		return fmt.Errorf("safetensors: %s: %w", path, err)
	}
	return nil
}

// Read parses a safetensors file held in data. It returns the tensors in
// file order (by data offset) and the metadata (nil when the file has
// none). It validates the whole file and never panics; F32, F16 and BF16
// tensors are read (as float32). The tensors do not share memory with data.
func Read(data []byte) ([]Tensor, map[string]string, error) {
	ts, meta, err := parse(data)
	if err != nil {
		return nil, nil, fmt.Errorf("safetensors: %w", err)
	}
	return ts, meta, nil
}

// ReadFile reads and parses the safetensors file at path.
func ReadFile(path string) ([]Tensor, map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("safetensors: %w", err)
	}
	ts, meta, err := parse(data)
	if err != nil {
		return nil, nil, fmt.Errorf("safetensors: %s: %w", path, err)
	}
	return ts, meta, nil
}

const hintTruncated = "the file is truncated, re-save or re-download it"

// located is a header entry that passed the per-tensor checks.
type located struct {
	name       string
	shape      []int
	dtype      string
	begin, end uint64
}

func parse(data []byte) ([]Tensor, map[string]string, error) {
	if len(data) < 8 {
		return nil, nil, fmt.Errorf("file has %d bytes, fewer than the 8-byte header length; %s", len(data), hintTruncated)
	}
	n := binary.LittleEndian.Uint64(data)
	rest := uint64(len(data) - 8)
	switch {
	case n > maxHeader && n > rest:
		return nil, nil, fmt.Errorf("header length %d is implausible (limit %d); this is not a safetensors file", n, maxHeader)
	case n > rest:
		return nil, nil, fmt.Errorf("header says %d bytes but file has %d after the 8-byte length; %s", n, rest, hintTruncated)
	case n > maxHeader:
		return nil, nil, fmt.Errorf("header is %d bytes, over the %d-byte limit", n, maxHeader)
	case n < 2:
		return nil, nil, fmt.Errorf("header length %d is too short for a JSON object; this is not a safetensors file", n)
	}
	hdr := data[8 : 8+n]
	body := data[8+n:]
	if hdr[0] != '{' {
		return nil, nil, errors.New("header does not start with '{'; this is not a safetensors file")
	}
	if !utf8.Valid(hdr) {
		return nil, nil, errors.New("header is not valid UTF-8; the file is corrupt")
	}
	fields, err := objectFields(hdr)
	if err != nil {
		return nil, nil, fmt.Errorf("header: %w; the file is corrupt or not safetensors", err)
	}

	var meta map[string]string
	var locs []located
	for _, f := range fields {
		if f.key == MetadataKey {
			meta, err = parseMetadata(f.value)
			if err != nil {
				return nil, nil, err
			}
			continue
		}
		l, err := parseEntry(f.key, f.value, uint64(len(body)))
		if err != nil {
			return nil, nil, err
		}
		locs = append(locs, l)
	}

	// Lay the tensors out by offset; zero-sized ones tie, so break ties by
	// name to keep the order deterministic.
	slices.SortFunc(locs, func(a, b located) int {
		if a.begin != b.begin {
			if a.begin < b.begin {
				return -1
			}
			return 1
		}
		if a.end != b.end {
			if a.end < b.end {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	var pos uint64
	for i, l := range locs {
		switch {
		case l.begin > pos:
			return nil, nil, fmt.Errorf("tensor %q starts at byte %d but the previous tensor ends at %d; the data section has a hole, the file is corrupt", l.name, l.begin, pos)
		case l.begin < pos:
			return nil, nil, fmt.Errorf("tensor %q (bytes %d to %d) overlaps tensor %q; the file is corrupt", l.name, l.begin, l.end, locs[i-1].name)
		}
		pos = l.end
	}
	if pos != uint64(len(body)) {
		return nil, nil, fmt.Errorf("data section has %d bytes but the tensors cover only %d; the file has trailing bytes and is corrupt", len(body), pos)
	}

	ts := make([]Tensor, len(locs))
	for i, l := range locs {
		raw := body[l.begin:l.end]
		vals := make([]float32, len(raw)/dtypeSize(l.dtype))
		for j := range vals {
			switch l.dtype {
			case F32:
				vals[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
			case F16:
				vals[j] = fromHalf(binary.LittleEndian.Uint16(raw[2*j:]))
			case BF16:
				vals[j] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*j:])) << 16)
			}
		}
		ts[i] = Tensor{Name: l.name, Shape: l.shape, Data: vals, Dtype: l.dtype}
	}
	return ts, meta, nil
}

func parseMetadata(raw json.RawMessage) (map[string]string, error) {
	fields, err := objectFields(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w; the file is corrupt", MetadataKey, err)
	}
	meta := make(map[string]string, len(fields))
	for _, f := range fields {
		var s string
		if f.value[0] != '"' || json.Unmarshal(f.value, &s) != nil {
			return nil, fmt.Errorf("%s: value of %q is %s, not a string; the file is corrupt", MetadataKey, f.key, clip(f.value))
		}
		meta[f.key] = s
	}
	return meta, nil
}

func parseEntry(name string, raw json.RawMessage, bodyLen uint64) (located, error) {
	fail := func(format string, args ...any) (located, error) {
		return located{}, fmt.Errorf("tensor %q: "+format, append([]any{name}, args...)...)
	}
	if name == "" {
		return fail("empty tensor name; the file is corrupt")
	}
	fields, err := objectFields(raw)
	if err != nil {
		return fail("%w; the file is corrupt", err)
	}
	var (
		e    entry
		have = map[string]bool{}
	)
	for _, f := range fields {
		var dst any
		switch f.key {
		case "dtype":
			dst = &e.Dtype
		case "shape":
			dst = &e.Shape
		case "data_offsets":
			dst = &e.DataOffsets
		default:
			return fail("unknown field %q; the file is corrupt", f.key)
		}
		if f.value[0] == 'n' { // null would leave the zero value silently
			return fail("%s is null; the file is corrupt", f.key)
		}
		if f.key == "data_offsets" && !isPair(f.value) {
			return fail("data_offsets %s is not a [begin, end] pair; the file is corrupt", clip(f.value))
		}
		if err := json.Unmarshal(f.value, dst); err != nil {
			return fail("%s %s: %w; the file is corrupt", f.key, clip(f.value), err)
		}
		have[f.key] = true
	}
	for _, k := range []string{"dtype", "shape", "data_offsets"} {
		if !have[k] {
			return fail("%s is missing; the file is corrupt", k)
		}
	}
	size := uint64(dtypeSize(e.Dtype))
	if size == 0 {
		return fail("dtype %s is not supported, only F32, F16 and BF16 are; convert the tensors to float32 before saving", clip([]byte(e.Dtype)))
	}
	count, err := numElements(e.Shape)
	if err != nil {
		return fail("%w; the file is corrupt", err)
	}
	begin, end := e.DataOffsets[0], e.DataOffsets[1]
	switch {
	case end < begin:
		return fail("data_offsets [%d, %d] end before they begin; the file is corrupt", begin, end)
	case end > bodyLen:
		return fail("data ends at byte %d but the data section has only %d bytes; %s", end, bodyLen, hintTruncated)
	case uint64(count) > math.MaxUint64/4:
		return fail("shape %v has more bytes than fit in a file; the file is corrupt", e.Shape)
	case end-begin != size*uint64(count):
		return fail("data_offsets [%d, %d] span %d bytes but shape %v of %s needs %d; the file is corrupt", begin, end, end-begin, e.Shape, e.Dtype, size*uint64(count))
	}
	if e.Shape == nil {
		e.Shape = []int{}
	}
	return located{name: name, shape: e.Shape, dtype: e.Dtype, begin: begin, end: end}, nil
}

// isPair reports whether raw is a JSON array of exactly two elements
// (json.Unmarshal into a [2]T silently drops or zero-fills others).
func isPair(raw json.RawMessage) bool {
	var a []json.RawMessage
	return json.Unmarshal(raw, &a) == nil && len(a) == 2
}

type field struct {
	key   string
	value json.RawMessage
}

// objectFields splits a JSON object into its fields in order, rejecting
// anything but a single object and duplicate keys.
func objectFields(raw []byte) ([]field, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, notJSON(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("%s is not a JSON object", clip(raw))
	}
	var fields []field
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, notJSON(err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("not JSON: object key %v is not a string", tok)
		}
		if seen[key] {
			return nil, fmt.Errorf("key %q appears twice", key)
		}
		seen[key] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, notJSON(err)
		}
		fields = append(fields, field{key, bytes.TrimSpace(v)})
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, notJSON(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("not JSON: extra data after the object")
	}
	return fields, nil
}

func notJSON(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("not JSON: %w", err)
}

// clip quotes b for an error message, shortened if long.
func clip(b []byte) string {
	const max = 40
	if len(b) > max {
		return fmt.Sprintf("%q...", b[:max])
	}
	return fmt.Sprintf("%q", b)
}
