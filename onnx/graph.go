package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"github.com/bottleneck-ml/bottleneck/onnx/onnxpb"
)

// builder assembles a graph: nodes in topological order, initializers,
// and fresh tensor names.
type builder struct {
	g     *onnxpb.GraphProto
	names map[string]bool
	keep  map[string]bool // tensors rename must not rename (inputs, and those used later)
	n     int
}

func newBuilder(name string) *builder {
	return &builder{g: &onnxpb.GraphProto{Name: &name}, names: map[string]bool{}, keep: map[string]bool{}}
}

func ptr[T any](v T) *T { return &v }

// fresh returns a tensor name not used yet, built from hint.
func (b *builder) fresh(hint string) string {
	for {
		b.n++
		name := hint + "_" + strconv.Itoa(b.n)
		if !b.names[name] {
			b.names[name] = true
			return name
		}
	}
}

// node adds a node with one output and returns the output's name (out, or
// a fresh name when out is "").
func (b *builder) node(op, out string, inputs []string, attrs ...*onnxpb.AttributeProto) string {
	if out == "" {
		out = b.fresh(op)
	}
	b.names[out] = true
	b.g.Node = append(b.g.Node, &onnxpb.NodeProto{
		Name: ptr(fmt.Sprintf("%s_%d", op, len(b.g.Node))), OpType: ptr(op),
		Input: inputs, Output: []string{out}, Attribute: attrs,
	})
	return out
}

// rename makes tensor cur be called name: the last node's output is
// renamed when it is cur (which nothing uses yet) and not kept, otherwise
// an Identity node copies cur.
func (b *builder) rename(cur, name string) string {
	if n := len(b.g.Node); n > 0 && b.g.Node[n-1].Output[0] == cur && !b.keep[cur] {
		b.g.Node[n-1].Output[0] = name
		b.names[name] = true
		return name
	}
	return b.node("Identity", name, []string{cur})
}

// floats adds a float32 initializer.
func (b *builder) floats(name string, data []float32, dims ...int) string {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return b.init(name, onnxpb.TensorProto_FLOAT, raw, dims)
}

// doubles adds a float64 initializer.
func (b *builder) doubles(name string, data []float64, dims ...int) string {
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], math.Float64bits(v))
	}
	return b.init(name, onnxpb.TensorProto_DOUBLE, raw, dims)
}

// ints adds an int64 initializer.
func (b *builder) ints(name string, data []int64, dims ...int) string {
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	return b.init(name, onnxpb.TensorProto_INT64, raw, dims)
}

func (b *builder) init(name string, dt onnxpb.TensorProto_DataType, raw []byte, dims []int) string {
	if name == "" || b.names[name] {
		name = b.fresh("const")
	}
	b.names[name] = true
	d := make([]int64, len(dims))
	for i, v := range dims {
		d[i] = int64(v)
	}
	b.g.Initializer = append(b.g.Initializer, &onnxpb.TensorProto{Name: &name, DataType: ptr(int32(dt)), Dims: d, RawData: raw})
	return name
}

func attrInts(name string, v ...int) *onnxpb.AttributeProto {
	vs := make([]int64, len(v))
	for i, x := range v {
		vs[i] = int64(x)
	}
	return &onnxpb.AttributeProto{Name: &name, Type: onnxpb.AttributeProto_INTS.Enum(), Ints: vs}
}

func attrInt(name string, v int) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: &name, Type: onnxpb.AttributeProto_INT.Enum(), I: ptr(int64(v))}
}

func attrFloat(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: &name, Type: onnxpb.AttributeProto_FLOAT.Enum(), F: &v}
}

func attrString(name, v string) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: &name, Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte(v)}
}

// dim is one dimension of a declared shape: a size, a named symbol
// ("N", "H"), or unknown ("?").
type dim struct {
	v     int
	param string
}

func dims(v ...int) []dim {
	d := make([]dim, len(v))
	for i, x := range v {
		d[i] = dim{v: x}
	}
	return d
}

// valueInfo declares a tensor of element type dt and shape ds (nil:
// unknown).
func valueInfo(name string, dt onnxpb.TensorProto_DataType, ds []dim) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{}
	for _, d := range ds {
		td := &onnxpb.TensorShapeProto_Dimension{}
		switch {
		case d.param == "?":
		case d.param != "":
			td.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: d.param}
		default:
			td.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d.v)}
		}
		shape.Dim = append(shape.Dim, td)
	}
	if ds == nil {
		shape = nil // unknown rank
	}
	return &onnxpb.ValueInfoProto{Name: &name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: ptr(int32(dt)), Shape: shape},
	}}}
}
