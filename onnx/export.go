package onnx

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"slices"
	"strconv"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/onnx/onnxpb"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Opsets Export writes. Every opset in [MinOpset, MaxOpset] gives the same
// graph under a different version stamp (13 is the first with ReduceSum's
// axes as an input and Resize without a region of interest); the tests run
// 13, 17 and 23 in ONNX Runtime 1.30 and check 13 and 17 with onnx.checker
// (Debian's ONNX 1.12 knows opsets up to 17).
const (
	DefaultOpset = 17
	MinOpset     = 13
	MaxOpset     = 23
)

// Names of the graph inputs and outputs (see the package documentation).
const (
	InputName     = "x"
	FeaturesName  = "features" // the model-space input of a table model, inside the graph
	ReconName     = "reconstruction"
	CodeName      = "code"
	LogvarName    = "logvar"
	ScoreName     = "score"
	AnomalyName   = "anomaly"
	DecoderInName = "code" // the input of a decoder graph
)

// Keys of the metadata_props Export writes.
const (
	MetaVersion         = "bottleneck_version"
	MetaHash            = "model_hash"
	MetaFormatVersion   = "model_format_version"
	MetaInput           = "input"
	MetaColumns         = "columns"
	MetaEncoding        = "encoding"
	MetaScore           = "score"
	MetaThreshold       = "threshold"
	MetaThresholdMethod = "threshold_method"
	MetaConfig          = "bottleneck.config"
	MetaPreprocess      = "bottleneck.preprocess"
	MetaSections        = "bottleneck.meta"
	MetaLogvar          = "bottleneck.likelihood_logvar"
)

// logvarParam is the tensor of a Gaussian VAE's learned log-variance.
const logvarParam = "likelihood.logvar"

// ExportOptions configure Export and ExportDecoder. The zero value writes
// opset DefaultOpset.
type ExportOptions struct {
	Opset int // MinOpset to MaxOpset; 0: DefaultOpset
	// Version is the bottleneck version recorded in the metadata ("":
	// the module version of the running binary).
	Version string
}

func (o *ExportOptions) check() (int, error) {
	op := o.Opset
	if op == 0 {
		op = DefaultOpset
	}
	if op < MinOpset || op > MaxOpset {
		return 0, fmt.Errorf("onnx: opset %d; this exporter writes opsets %d to %d", op, MinOpset, MaxOpset)
	}
	return op, nil
}

// irVersion is the IR version that goes with an opset (ONNX's
// docs/Versioning.md).
func irVersion(opset int) int64 {
	switch {
	case opset <= 18:
		return 8
	case opset <= 20:
		return 9
	case opset <= 22:
		return 10
	}
	return 11
}

// buildVersion is the module version (and VCS revision) of the binary.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v
}

// Export builds the ONNX graph of a detector's model (a model without a
// detector section: anomaly.New(m)).
//
// Input x: the model's own input space, [N, D] for rows and [N, C, H, W]
// (float32 in [0,1]) for images, H and W dynamic for a fully
// convolutional model; for a table (CSV) or array (NPY) model the raw
// numbers of the feature columns in the model's column order, with the
// standardisation inside the graph (a categorical column takes one slot
// per training category, 1 for the row's category: metadata "encoding").
// Outputs: reconstruction (the shape bottleneck's reconstruct gives), code
// (a VAE's mean; its log-variance is the output logvar), and for a model
// with a threshold and a fixed input size score (float32 [N], the score
// `bottleneck score` prints, computed in float64) and anomaly (bool [N],
// score above the threshold).
func Export(d *anomaly.Detector, o ExportOptions) (*onnxpb.ModelProto, error) {
	opset, err := o.check()
	if err != nil {
		return nil, err
	}
	m := d.Model()
	c := m.Config
	enc, dec, err := specLayers(m)
	if err != nil {
		return nil, err
	}
	b := newBuilder("bottleneck")
	b.keep = map[string]bool{InputName: true}
	in := inputDims(c)
	pre := d.Preprocessor()
	raw := pre != nil && c.Input != nil && (pre.Kind == dataset.KindTable || pre.Kind == dataset.KindArray)
	decl := in
	if raw {
		decl = []dim{{param: "N"}, {v: tensor.Size(c.Input)}} // raw columns, one row each
	}
	b.g.Input = append(b.g.Input, valueInfo(InputName, onnxpb.TensorProto_FLOAT, decl))
	b.names[InputName] = true
	feats := InputName
	if raw {
		if feats, err = preprocess(b, pre, tensor.Size(c.Input)); err != nil {
			return nil, err
		}
		if len(c.Input) > 1 {
			shape := []int64{-1}
			for _, v := range c.Input {
				shape = append(shape, int64(v))
			}
			feats = b.node("Reshape", "", []string{feats, b.ints("", shape, len(shape))})
		}
		feats = b.rename(feats, FeaturesName)
	}
	b.keep[feats] = true
	h, rank, ch, err := emit(b, enc, "encoder.", weights(m), feats, len(in), c.InChannels())
	if err != nil {
		return nil, err
	}
	var logvar string
	if c.Variational {
		k := m.CodeSize()
		h0 := h
		h = b.node("Slice", CodeName, []string{h0, b.ints("", []int64{0}, 1), b.ints("", []int64{int64(k)}, 1), b.ints("", []int64{1}, 1)})
		logvar = b.node("Slice", LogvarName, []string{h0, b.ints("", []int64{int64(k)}, 1), b.ints("", []int64{int64(2 * k)}, 1), b.ints("", []int64{1}, 1)})
	} else {
		h = b.rename(h, CodeName)
	}
	code, codeRank := h, rank
	b.keep[code] = true
	h, rank, _, err = emit(b, dec, "decoder.", weights(m), h, rank, ch)
	if err != nil {
		return nil, err
	}
	if c.Residual {
		h = b.node("Add", "", []string{h, feats})
	}
	recon := b.rename(h, ReconName)
	out, err := outputDims(m, rank)
	if err != nil {
		return nil, err
	}
	cs, err := codeDims(m, codeRank)
	if err != nil {
		return nil, err
	}
	b.g.Output = append(b.g.Output, valueInfo(recon, onnxpb.TensorProto_FLOAT, out), valueInfo(code, onnxpb.TensorProto_FLOAT, cs))
	if logvar != "" {
		b.g.Output = append(b.g.Output, valueInfo(logvar, onnxpb.TensorProto_FLOAT, []dim{{param: "N"}, {v: m.CodeSize()}}))
	}
	th := d.Threshold()
	if th != nil && c.Input != nil && d.Window() == 1 {
		if err := scoreGraph(b, d, feats, len(in), recon, rank, code, codeRank); err != nil {
			return nil, err
		}
	}
	props, err := metadata(d, o, raw)
	if err != nil {
		return nil, err
	}
	return model(b, opset, props, "bottleneck autoencoder: "+c.Summary()), nil
}

// ExportDecoder builds the graph of a model's decoder alone: input code
// ([N, ...code shape], a VAE's z) and output reconstruction. It is what
// `bottleneck generate` runs on codes drawn from the prior. The model
// needs a fixed input size and no residual connection.
func ExportDecoder(d *anomaly.Detector, o ExportOptions) (*onnxpb.ModelProto, error) {
	opset, err := o.check()
	if err != nil {
		return nil, err
	}
	m := d.Model()
	c := m.Config
	if c.Input == nil {
		return nil, errors.New("onnx: a fully convolutional model has no fixed code size; export the whole model")
	}
	if c.Residual {
		return nil, errors.New("onnx: a residual model adds its input to the decoder's output; export the whole model")
	}
	_, dec, err := specLayers(m)
	if err != nil {
		return nil, err
	}
	cs, err := m.CodeShape(nil)
	if err != nil {
		return nil, err
	}
	b := newBuilder("bottleneck_decoder")
	b.keep = map[string]bool{DecoderInName: true}
	b.names[DecoderInName] = true
	in := append([]dim{{param: "N"}}, dims(cs...)...)
	b.g.Input = append(b.g.Input, valueInfo(DecoderInName, onnxpb.TensorProto_FLOAT, in))
	ch := 0
	if len(cs) == 3 {
		ch = cs[0]
	}
	h, rank, _, err := emit(b, dec, "decoder.", weights(m), DecoderInName, len(in), ch)
	if err != nil {
		return nil, err
	}
	recon := b.rename(h, ReconName)
	out, err := outputDims(m, rank)
	if err != nil {
		return nil, err
	}
	b.g.Output = append(b.g.Output, valueInfo(recon, onnxpb.TensorProto_FLOAT, out))
	props, err := metadata(d, o, false)
	if err != nil {
		return nil, err
	}
	return model(b, opset, props, "bottleneck decoder: "+c.Summary()), nil
}

func model(b *builder, opset int, props map[string]string, doc string) *onnxpb.ModelProto {
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var meta []*onnxpb.StringStringEntryProto
	for _, k := range keys {
		meta = append(meta, &onnxpb.StringStringEntryProto{Key: ptr(k), Value: ptr(props[k])})
	}
	b.g.DocString = ptr(doc)
	return &onnxpb.ModelProto{
		IrVersion:       ptr(irVersion(opset)),
		OpsetImport:     []*onnxpb.OperatorSetIdProto{{Domain: ptr(""), Version: ptr(int64(opset))}},
		ProducerName:    ptr("bottleneck"),
		ProducerVersion: ptr(props[MetaVersion]),
		Graph:           b.g,
		MetadataProps:   meta,
	}
}

// inputDims is the declared shape of x.
func inputDims(c ae.Config) []dim {
	if c.Input == nil {
		return []dim{{param: "N"}, {v: c.Channels}, {param: "H"}, {param: "W"}}
	}
	return append([]dim{{param: "N"}}, dims(c.Input...)...)
}

func outputDims(m *ae.Model, rank int) ([]dim, error) {
	c := m.Config
	if c.Input == nil {
		return []dim{{param: "N"}, {v: m.OutChannels()}, {param: "H"}, {param: "W"}}, nil
	}
	s, err := m.OutShape(c.Input)
	if err != nil {
		return nil, err
	}
	if len(s)+1 != rank {
		return nil, fmt.Errorf("onnx: the output has shape %v and the graph rank %d; this is a bug", s, rank)
	}
	return append([]dim{{param: "N"}}, dims(s...)...), nil
}

func codeDims(m *ae.Model, rank int) ([]dim, error) {
	s, err := m.CodeShape(nil)
	if err != nil {
		return nil, err
	}
	if m.Config.Input == nil {
		return []dim{{param: "N"}, {v: s[0]}, {param: "?"}, {param: "?"}}, nil
	}
	if len(s)+1 != rank {
		return nil, fmt.Errorf("onnx: the code has shape %v and the graph rank %d; this is a bug", s, rank)
	}
	return append([]dim{{param: "N"}}, dims(s...)...), nil
}

// specLayers builds fresh layers from the model's specs (the encoder's and
// the decoder's, without a VAE's Reparam), so that their geometry can be
// read; their weights are the model's, looked up by name.
func specLayers(m *ae.Model) (enc, dec []nn.Layer, err error) {
	c := m.Config
	if enc, err = nn.ParseSpecs(c.Encoder, nn.SpecInput{Channels: c.InChannels(), Shape: c.Input}); err != nil {
		return nil, nil, fmt.Errorf("onnx: encoder %w", err)
	}
	cs, err := m.CodeShape(nil)
	if err != nil {
		return nil, nil, err
	}
	mid := nn.SpecInput{}
	if c.Input != nil {
		mid.Shape = cs
	}
	if len(cs) == 3 {
		mid.Channels = cs[0]
	}
	if dec, err = nn.ParseSpecs(c.Decoder, mid); err != nil {
		return nil, nil, fmt.Errorf("onnx: decoder %w", err)
	}
	return enc, dec, nil
}

// weights maps the model's parameter and buffer names to their values.
func weights(m *ae.Model) map[string]*nn.Param {
	w := map[string]*nn.Param{}
	for _, p := range m.Params.Params {
		w[p.Name] = p
	}
	for _, p := range m.Buffers {
		w[p.Name] = p
	}
	return w
}

// emit adds the nodes of layers after tensor h of rank rank; prefix names
// the layers' weights ("encoder.").
func emit(b *builder, layers []nn.Layer, prefix string, w map[string]*nn.Param, h string, rank, ch int) (string, int, int, error) {
	for i, l := range layers {
		name := prefix + strconv.Itoa(i) + "."
		param := func(p string) (string, error) {
			v, ok := w[name+p]
			if !ok {
				return "", fmt.Errorf("onnx: the model has no tensor %q; this is a bug", name+p)
			}
			return b.floats(name+p, v.W, v.Shape...), nil
		}
		params := func(ps ...string) ([]string, error) {
			var out []string
			for _, p := range ps {
				s, err := param(p)
				if err != nil {
					return nil, err
				}
				out = append(out, s)
			}
			return out, nil
		}
		switch l := l.(type) {
		case *nn.Dense:
			if rank != 2 {
				h, rank = b.node("Flatten", "", []string{h}, attrInt("axis", 1)), 2
			}
			ps, err := params("weight", "bias")
			if err != nil {
				return "", 0, 0, err
			}
			h = b.node("Gemm", "", append([]string{h}, ps...), attrInt("transB", 1))
		case *nn.Conv2D:
			ps, err := params("weight", "bias")
			if err != nil {
				return "", 0, 0, err
			}
			h = b.node("Conv", "", append([]string{h}, ps...), attrInts("kernel_shape", l.K, l.K),
				attrInts("strides", l.Stride, l.Stride), attrInts("pads", l.Pad, l.Pad, l.Pad, l.Pad),
				attrInts("dilations", l.Dilation, l.Dilation), attrInt("group", 1))
		case *nn.ConvTranspose2D:
			ps, err := params("weight", "bias")
			if err != nil {
				return "", 0, 0, err
			}
			h = b.node("ConvTranspose", "", append([]string{h}, ps...), attrInts("kernel_shape", l.K, l.K),
				attrInts("strides", l.Stride, l.Stride), attrInts("pads", l.Pad, l.Pad, l.Pad, l.Pad),
				attrInts("output_padding", l.OutPad, l.OutPad), attrInt("group", 1))
		case *nn.BatchNorm2D:
			ps, err := params("weight", "bias", "running_mean", "running_var")
			if err != nil {
				return "", 0, 0, err
			}
			h = b.node("BatchNormalization", "", append([]string{h}, ps...), attrFloat("epsilon", float32(l.Eps)))
		case *nn.ReLU:
			h = b.node("Relu", "", []string{h})
		case *nn.LeakyReLU:
			h = b.node("LeakyRelu", "", []string{h}, attrFloat("alpha", l.Slope))
		case *nn.Sigmoid:
			h = b.node("Sigmoid", "", []string{h})
		case *nn.Tanh:
			h = b.node("Tanh", "", []string{h})
		case *nn.GELU:
			// x·Φ(x) = 0.5·x·(1 + erf(x/√2)), as torch.onnx writes it
			// before opset 20's Gelu
			t := b.node("Div", "", []string{h, b.floats("", []float32{math.Sqrt2})}) // scalar
			t = b.node("Erf", "", []string{t})
			t = b.node("Add", "", []string{t, b.floats("", []float32{1})})
			t = b.node("Mul", "", []string{h, t})
			h = b.node("Mul", "", []string{t, b.floats("", []float32{0.5})})
		case *nn.Identity, *nn.Dropout:
			// nothing at inference
		case *nn.MaxPool2D, *nn.AvgPool2D:
			op, k, s, p := "MaxPool", 0, 0, 0
			if mp, ok := l.(*nn.MaxPool2D); ok {
				k, s, p = mp.K, mp.Stride, mp.Pad
			} else {
				ap := l.(*nn.AvgPool2D)
				op, k, s, p = "AveragePool", ap.K, ap.Stride, ap.Pad
			}
			if s == 0 {
				s = k
			}
			attrs := []*onnxpb.AttributeProto{attrInts("kernel_shape", k, k), attrInts("strides", s, s), attrInts("pads", p, p, p, p)}
			if op == "AveragePool" {
				attrs = append(attrs, attrInt("count_include_pad", 1))
			}
			h = b.node(op, "", []string{h}, attrs...)
		case *nn.Upsample:
			scales := b.floats("", []float32{1, 1, float32(l.Scale), float32(l.Scale)}, 4)
			attrs := []*onnxpb.AttributeProto{attrString("mode", "nearest"), attrString("coordinate_transformation_mode", "asymmetric"), attrString("nearest_mode", "floor")}
			if l.Mode == nn.UpsampleBilinear {
				attrs = []*onnxpb.AttributeProto{attrString("mode", "linear"), attrString("coordinate_transformation_mode", "pytorch_half_pixel")}
			}
			h = b.node("Resize", "", []string{h, "", scales}, attrs...)
		case *nn.PixelShuffle:
			if !l.Inverse {
				h = b.node("DepthToSpace", "", []string{h}, attrInt("blocksize", l.R), attrString("mode", "CRD"))
				break
			}
			// SpaceToDepth orders the channels block-major; PixelUnshuffle
			// channel-major: a Gather puts them in PyTorch's order
			h = b.node("SpaceToDepth", "", []string{h}, attrInt("blocksize", l.R))
			if ch > 1 {
				h = b.node("Gather", "", []string{h, b.ints("", unshufflePerm(ch, l.R), ch*l.R*l.R)}, attrInt("axis", 1))
			}
		case *nn.ABMean:
			// softmax(z/T) over the classes, then the centres' mean: a
			// 1×1 convolution whose weights are the centres
			c := l.Centres()
			wts := make([]float32, 2*len(c))
			for k, v := range c {
				wts[k], wts[len(c)+k] = v[0], v[1]
			}
			h = b.node("Mul", "", []string{h, b.floats("", []float32{float32(1 / l.T)})})
			h = b.node("Softmax", "", []string{h}, attrInt("axis", 1))
			h = b.node("Conv", "", []string{h, b.floats(name+"centres", wts, 2, len(c), 1, 1)}, attrInts("kernel_shape", 1, 1))
		case *nn.Reshape:
			if len(l.Shape) == 1 {
				h, rank = b.node("Flatten", "", []string{h}, attrInt("axis", 1)), 2
				break
			}
			shape := []int64{-1}
			for _, v := range l.Shape {
				shape = append(shape, int64(v))
			}
			h, rank = b.node("Reshape", "", []string{h, b.ints("", shape, len(shape))}), len(shape)
		default:
			return "", 0, 0, fmt.Errorf("onnx: layer %s%d (%T) has no ONNX form in this exporter", prefix, i, l)
		}
		ch = channels(l, ch)
	}
	return h, rank, ch, nil
}

// channels is the channel count after layer l for ch channels before it.
func channels(l nn.Layer, ch int) int {
	switch l := l.(type) {
	case *nn.Conv2D:
		return l.OutC
	case *nn.ConvTranspose2D:
		return l.OutC
	case *nn.Dense:
		return 0
	case *nn.ABMean:
		return 2
	case *nn.PixelShuffle:
		if l.Inverse {
			return ch * l.R * l.R
		}
		return ch / (l.R * l.R)
	case *nn.Reshape:
		if len(l.Shape) == 3 {
			return l.Shape[0]
		}
		return 0
	}
	return ch
}

// unshufflePerm is, for each PixelUnshuffle output channel c·r²+i·r+j, the
// SpaceToDepth channel (i·r+j)·C+c that holds it.
func unshufflePerm(ch, r int) []int64 {
	rr := r * r
	p := make([]int64, ch*rr)
	for q := range p {
		p[q] = int64((q%rr)*ch + q/rr)
	}
	return p
}

// preprocess adds the standardisation of raw table columns: x is cast to
// float64, (x − center) / spread per slot (one-hot slots pass unchanged),
// and cast back, as bottleneck computes it. d is the model's input width
// (a window of rows repeats the columns).
func preprocess(b *builder, pre *dataset.Preprocessor, d int) (string, error) {
	var center, spread []float64
	for _, c := range pre.Columns {
		switch {
		case c.Role != dataset.RoleFeature:
		case c.Type == dataset.TypeCategorical:
			for range c.Categories {
				center, spread = append(center, 0), append(spread, 1)
			}
		default:
			center, spread = append(center, c.Center), append(spread, c.Spread)
		}
	}
	if len(center) == 0 || d%len(center) != 0 {
		return "", fmt.Errorf("onnx: the model's preprocessing gives %d values per row and the model takes %d; the file is damaged", len(center), d)
	}
	for n := len(center); len(center) < d; {
		center, spread = append(center, center[:n]...), append(spread, spread[:n]...)
	}
	x := b.node("Cast", "", []string{InputName}, attrInt("to", int(onnxpb.TensorProto_DOUBLE)))
	x = b.node("Sub", "", []string{x, b.doubles("preprocess.center", center, d)})
	x = b.node("Div", "", []string{x, b.doubles("preprocess.spread", spread, d)})
	return b.node("Cast", "", []string{x}, attrInt("to", int(onnxpb.TensorProto_FLOAT))), nil
}

// scoreGraph adds the outputs score and anomaly: the detector's score of
// each row, in float64 as package anomaly computes it, and whether it is
// above the threshold (NaN is).
func scoreGraph(b *builder, d *anomaly.Detector, feats string, inRank int, recon string, rank int, code string, codeRank int) error {
	m := d.Model()
	n := tensor.Size(m.Config.Input)
	flat := func(t string, r int) string {
		if r == 2 {
			return t
		}
		return b.node("Flatten", "", []string{t}, attrInt("axis", 1))
	}
	toDouble := func(t string) string {
		return b.node("Cast", "", []string{t}, attrInt("to", int(onnxpb.TensorProto_DOUBLE)))
	}
	axis1 := b.ints("score.axes", []int64{1}, 1)
	sum := func(t string) string {
		return b.node("ReduceSum", "", []string{t, axis1}, attrInt("keepdims", 0))
	}
	// the signed residual x̂ − x, float32 as the scorer has it
	resid := b.node("Sub", "", []string{flat(recon, rank), flat(feats, inRank)})
	sc := d.Scoring()
	var score string
	switch sc.Metric {
	case anomaly.MetricMSE, anomaly.MetricMAE, anomaly.MetricNMSE:
		var e string
		if sc.Metric == anomaly.MetricMAE {
			e = toDouble(b.node("Abs", "", []string{resid}))
		} else {
			e = toDouble(b.node("Mul", "", []string{resid, resid}))
		}
		if sc.Metric == anomaly.MetricNMSE {
			// each error divided by its feature's scale, rounded to float32
			e = b.node("Div", "", []string{e, b.doubles("score.feature_scale", sc.FeatureScale, n)})
			e = toDouble(b.node("Cast", "", []string{e}, attrInt("to", int(onnxpb.TensorProto_FLOAT))))
		}
		score = b.node("Div", "", []string{sum(e), b.doubles("", []float64{float64(n)})})
	case anomaly.MetricMahal:
		st := sc.Mahal
		k := len(st.CodeMean)
		quad := func(v string, mean []float64, inv []float32, name string, size int) string {
			c := b.node("Sub", "", []string{toDouble(v), b.doubles(name+"_mean", mean, size)})
			w := make([]float64, len(inv))
			for i, x := range inv {
				w[i] = float64(x)
			}
			p := b.node("MatMul", "", []string{c, b.doubles(name+"_inv", w, size, size)})
			return sum(b.node("Mul", "", []string{p, c}))
		}
		dz := quad(flat(code, codeRank), st.CodeMean, st.CodeInv, "score.code", k)
		var de string
		if st.ErrInv != nil {
			de = quad(resid, st.ErrMean, st.ErrInv, "score.err", n)
		} else {
			c := b.node("Sub", "", []string{toDouble(resid), b.doubles("score.err_mean", st.ErrMean, n)})
			c2 := b.node("Mul", "", []string{c, c})
			de = sum(b.node("Div", "", []string{c2, b.doubles("score.err_var", st.ErrVar, n)}))
		}
		robust := func(v string, med, mad float64) string {
			return b.node("Div", "", []string{b.node("Sub", "", []string{v, b.doubles("", []float64{med})}), b.doubles("", []float64{mad})})
		}
		score = b.node("Add", "", []string{robust(dz, st.CodeMed, st.CodeMAD), robust(de, st.ErrMed, st.ErrMAD)})
	default:
		return fmt.Errorf("onnx: score %q has no ONNX form in this exporter", sc.Metric)
	}
	th := d.Threshold()
	over := b.node("Greater", "", []string{score, b.doubles("threshold", []float64{th.Value})})
	nan := b.node("IsNaN", "", []string{score})
	flag := b.node("Or", AnomalyName, []string{over, nan})
	out := b.node("Cast", ScoreName, []string{score}, attrInt("to", int(onnxpb.TensorProto_FLOAT)))
	b.g.Output = append(b.g.Output, valueInfo(out, onnxpb.TensorProto_FLOAT, []dim{{param: "N"}}),
		valueInfo(flag, onnxpb.TensorProto_BOOL, []dim{{param: "N"}}))
	return nil
}

// slot is a raw feature column's place in a table model's input.
type slot struct {
	Name       string   `json:"name"`
	Type       string   `json:"type"`
	Slots      [2]int   `json:"slots"` // [first, end): one for a number, one per category
	Categories []string `json:"categories,omitempty"`
	Center     float64  `json:"center,omitempty"` // numeric: the graph computes (x − center) / spread
	Spread     float64  `json:"spread,omitempty"`
}

// metadata is the model's metadata_props.
func metadata(d *anomaly.Detector, o ExportOptions, raw bool) (map[string]string, error) {
	m := d.Model()
	v := o.Version
	if v == "" {
		v = buildVersion()
	}
	props := map[string]string{
		MetaVersion:       v,
		MetaHash:          d.Version(),
		MetaFormatVersion: strconv.Itoa(ae.FormatVersion),
	}
	js := func(key string, x any) error {
		b, err := json.Marshal(x)
		if err != nil {
			return fmt.Errorf("onnx: metadata %s: %w", key, err)
		}
		props[key] = string(b)
		return nil
	}
	if err := js(MetaConfig, m.Config); err != nil {
		return nil, err
	}
	if pre := m.Preprocess; pre != nil {
		if err := js(MetaPreprocess, pre); err != nil {
			return nil, err
		}
	}
	for _, p := range m.Params.Params {
		if p.Name == logvarParam { // a Gaussian VAE's learned variance, not used by the graph
			if err := js(MetaLogvar, p.W); err != nil {
				return nil, err
			}
		}
	}
	sections, err := d.Meta()
	if err != nil {
		return nil, err
	}
	if err := js(MetaSections, sections); err != nil {
		return nil, err
	}
	switch pre := m.Preprocess; {
	case raw:
		var slots []slot
		cat := false
		j := 0
		for _, c := range pre.Columns {
			switch {
			case c.Role != dataset.RoleFeature:
			case c.Type == dataset.TypeCategorical:
				slots = append(slots, slot{Name: c.Name, Type: c.Type, Slots: [2]int{j, j + len(c.Categories)}, Categories: c.Categories})
				j += len(c.Categories)
				cat = true
			default:
				slots = append(slots, slot{Name: c.Name, Type: dataset.TypeNumeric, Slots: [2]int{j, j + 1}, Center: c.Center, Spread: c.Spread})
				j++
			}
		}
		if err := js(MetaColumns, pre.FeatureColumns()); err != nil {
			return nil, err
		}
		if err := js(MetaEncoding, slots); err != nil {
			return nil, err
		}
		props[MetaInput] = "raw numeric columns in the order of \"columns\", standardised inside the graph"
		if cat {
			props[MetaInput] = "encoded feature vector (\"encoding\"): raw numbers in numeric slots, one-hot categories (all zero for an unseen one); numbers are standardised inside the graph"
		}
		if w := d.Window(); w > 1 {
			props[MetaInput] += fmt.Sprintf("; a sample is %d consecutive rows, one after the other (no score output: bottleneck scores each row by the windows covering it)", w)
		}
	case m.Config.Input == nil:
		props[MetaInput] = fmt.Sprintf("images NCHW float32 in the model's input space (pixels in [0,1]), %d channel(s), any height and width that are multiples of %d", m.Config.Channels, m.Config.Multiple())
	default:
		props[MetaInput] = fmt.Sprintf("the model's input space, %v per sample (images NCHW float32 in [0,1])", m.Config.Input)
		if pre != nil && pre.Kind != dataset.KindImage {
			props[MetaInput] = fmt.Sprintf("the model's input space, %v per sample", m.Config.Input)
		}
	}
	if th := d.Threshold(); th != nil {
		props[MetaScore] = d.Scoring().Metric
		props[MetaThreshold] = strconv.FormatFloat(th.Value, 'g', -1, 64)
		props[MetaThresholdMethod] = anomaly.Spec{Method: th.Method, Param: th.Param}.String()
	}
	return props, nil
}
