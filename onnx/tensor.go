package onnx

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"

	"google.golang.org/protobuf/proto"

	"github.com/bottleneck-ml/bottleneck/internal/atomicfile"
	"github.com/bottleneck-ml/bottleneck/onnx/onnxpb"
)

// maxFile bounds the ONNX files Load reads (protobuf cannot hold more than
// 2 GiB; larger models keep their weights in external files, which this
// package does not read).
const maxFile = 2 << 30

// Marshal encodes a model in ONNX's protobuf wire format.
func Marshal(m *onnxpb.ModelProto) ([]byte, error) {
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	return b, nil
}

// Unmarshal decodes an ONNX model.
func Unmarshal(b []byte) (*onnxpb.ModelProto, error) {
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("onnx: not an ONNX model (%v)", err)
	}
	if m.GetGraph() == nil {
		return nil, fmt.Errorf("onnx: the model has no graph; pass an .onnx model file")
	}
	return m, nil
}

// Save writes m to path atomically (a temporary file renamed into place).
func Save(path string, m *onnxpb.ModelProto) error {
	b, err := Marshal(m)
	if err != nil {
		return err
	}
	err = atomicfile.WriteFile(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	}, 0o644)
	if err != nil {
		return fmt.Errorf("onnx: save %s: %w", path, err)
	}
	return nil
}

// Load reads an ONNX model file.
func Load(path string) (*onnxpb.ModelProto, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	if st.Size() > maxFile {
		return nil, fmt.Errorf("onnx: %s is %d bytes, more than an ONNX file can hold", path, st.Size())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	m, err := Unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", path, err)
	}
	return m, nil
}

// constant is a tensor whose value the graph fixes: an initializer, a
// Constant node, or a shape computation folded. Float tensors fill f,
// integer ones i.
type constant struct {
	dims []int
	f    []float32
	i    []int64
	isI  bool
}

func (c *constant) size() int {
	if c.isI {
		return len(c.i)
	}
	return len(c.f)
}

// ints gives an integer constant's values (floats that are whole numbers
// count too).
func (c *constant) ints() ([]int64, bool) {
	if c.isI {
		return c.i, true
	}
	out := make([]int64, len(c.f))
	for k, v := range c.f {
		if v != float32(math.Trunc(float64(v))) {
			return nil, false
		}
		out[k] = int64(v)
	}
	return out, true
}

// floats gives a constant's values as float32.
func (c *constant) floats() []float32 {
	if !c.isI {
		return c.f
	}
	out := make([]float32, len(c.i))
	for k, v := range c.i {
		out[k] = float32(v)
	}
	return out
}

// decodeTensor reads an initializer or a Constant node's value.
func decodeTensor(t *onnxpb.TensorProto) (*constant, error) {
	name := t.GetName()
	if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		return nil, fmt.Errorf("tensor %q keeps its data in an external file, which this importer does not read; save the model with its weights inside (onnx.save_model(m, path, save_as_external_data=False))", name)
	}
	c := &constant{}
	n := 1
	for _, d := range t.GetDims() {
		if d < 0 || d > 1<<31 {
			return nil, fmt.Errorf("tensor %q has dimensions %v", name, t.GetDims())
		}
		c.dims = append(c.dims, int(d))
		n *= int(d)
		if n > 1<<31 {
			return nil, fmt.Errorf("tensor %q has dimensions %v", name, t.GetDims())
		}
	}
	raw := t.GetRawData()
	width := func(w int) error {
		if raw != nil && len(raw) != n*w {
			return fmt.Errorf("tensor %q holds %d bytes for %d values; the file is damaged", name, len(raw), n)
		}
		return nil
	}
	count := func(have int) error {
		if raw == nil && have != n {
			return fmt.Errorf("tensor %q holds %d values for dimensions %v; the file is damaged", name, have, c.dims)
		}
		return nil
	}
	switch dt := onnxpb.TensorProto_DataType(t.GetDataType()); dt {
	case onnxpb.TensorProto_FLOAT:
		if err := width(4); err != nil {
			return nil, err
		}
		if raw == nil {
			c.f = t.GetFloatData()
			return c, count(len(c.f))
		}
		c.f = make([]float32, n)
		for k := range c.f {
			c.f[k] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*k:]))
		}
	case onnxpb.TensorProto_DOUBLE:
		if err := width(8); err != nil {
			return nil, err
		}
		c.f = make([]float32, n)
		if raw == nil {
			d := t.GetDoubleData()
			if err := count(len(d)); err != nil {
				return nil, err
			}
			for k, v := range d {
				c.f[k] = float32(v)
			}
			return c, nil
		}
		for k := range c.f {
			c.f[k] = float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*k:])))
		}
	case onnxpb.TensorProto_INT64:
		c.isI = true
		if err := width(8); err != nil {
			return nil, err
		}
		if raw == nil {
			c.i = t.GetInt64Data()
			return c, count(len(c.i))
		}
		c.i = make([]int64, n)
		for k := range c.i {
			c.i[k] = int64(binary.LittleEndian.Uint64(raw[8*k:]))
		}
	case onnxpb.TensorProto_INT32:
		c.isI = true
		if err := width(4); err != nil {
			return nil, err
		}
		c.i = make([]int64, n)
		if raw == nil {
			d := t.GetInt32Data()
			if err := count(len(d)); err != nil {
				return nil, err
			}
			for k, v := range d {
				c.i[k] = int64(v)
			}
			return c, nil
		}
		for k := range c.i {
			c.i[k] = int64(int32(binary.LittleEndian.Uint32(raw[4*k:])))
		}
	default:
		return nil, fmt.Errorf("tensor %q has data type %s; this importer reads float32, float64, int32 and int64 tensors", name, dt)
	}
	return c, nil
}
