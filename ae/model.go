package ae

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Model is an autoencoder: the layers of its Config with their weights in
// one flat nn.ParamSet (encoder first, in layer order), BatchNorm running
// statistics in Buffers, and what the model file keeps beside them.
//
// A Model is not safe for concurrent use: it keeps the activations of the
// last batch. Give each goroutine its own Clone. A network instance is
// built per input size (all share the weights), so a fully convolutional
// model runs on pictures of any size.
type Model struct {
	Config  Config
	Params  *nn.ParamSet
	Buffers []*nn.Param // BatchNorm running statistics, saved with the weights

	// Preprocess is how raw records become model input, fitted on the
	// training data; nil for models that read pixels or arrays as they
	// are.
	Preprocess *dataset.Preprocessor
	// Training is the record of how the model was trained (nil if not).
	Training *Record
	// Meta holds the sections other packages keep in the model file, as
	// JSON by name (the anomaly package's "detector"). Open keeps sections
	// this package does not know, so they survive Open → Save.
	Meta map[string]json.RawMessage

	nEnc     int // encoder layers
	nets     map[[4]int]*instance
	trainKey [4]int     // the input size TrainStep last used (kept by Forget)
	template []nn.Layer // the layers the ParamSet was bound to, until the first instance
	loss     nn.Loss    // plain models
	logits   bool       // the loss is computed before the final sigmoid
	head     int        // final layers training skips (Config.head)
	vae      *variational
	sparse   *sparsity
	noise    noiseSeed // set by SeedNoise

	precision nn.Precision // of inference, once prepared (SetPrecision)
	prepared  bool         // the layers hold weights prepared for it
}

// Precision is the arithmetic a model's inference runs in (SetPrecision).
type Precision = nn.Precision

// Precisions of SetPrecision.
const (
	FP32 = nn.FP32 // float32, the bits of training's forward pass
	INT8 = nn.INT8 // int8 weights and activations where the CPU has AVX512_VNNI
)

// SetPrecision prepares m's inference at precision p: the weights are
// packed for the GEMM (FP32) or quantised to int8 (INT8) once, here, for
// every input size the model runs, instead of per batch. Forward, Encode,
// Decode, Reconstruct and validation losses then use them. Training drops
// them (TrainStep); after training, or after writing to Params.W, call
// SetPrecision again. It returns the precision in effect: INT8 on a CPU
// without AVX512_VNNI (or a -tags noasm build) runs FP32. Dense layers and
// convolutions large enough for int8 to pay run int8 under INT8; the
// others, and BatchNorm, run float32.
func (m *Model) SetPrecision(p Precision) (Precision, error) {
	if p == INT8 && !nn.Int8Available() {
		p = FP32
	}
	m.precision, m.prepared = p, true
	for _, n := range m.nets {
		if err := n.net.PrepareInference(p); err != nil {
			m.prepared = false
			return FP32, fmt.Errorf("ae: precision %v: %w", p, err)
		}
	}
	return p, nil
}

// Precision reports the precision set by SetPrecision (FP32 if none, or
// since training).
func (m *Model) Precision() Precision {
	if !m.prepared {
		return FP32
	}
	return m.precision
}

// instance is the network for one input size, with the model's own
// per-size buffers.
type instance struct {
	net                   *nn.Net
	out, dOut, code, x, t *tensor.Tensor
}

// New builds a model from cfg with weights drawn from seed: PyTorch's
// default initialisation of every layer in order, then He's (normal,
// fan-in) for convolutions that feed a ReLU (deep restoration networks
// train better from it), and a residual model's last convolution scaled
// by 0.1 so it starts near the identity.
func New(cfg Config, seed uint64) (*Model, error) {
	m, err := build(cfg)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x6a09e667f3bcc908))
	layers := m.nets[shapeKey(cfg.probeShape())].net.Layers // bound to the weights
	for _, l := range layers {
		if _, ok := l.(*nn.Reparam); ok {
			continue // its noise is seeded per step (SeedNoise)
		}
		l.Init(rng)
	}
	m.heInit(layers, seed)
	return m, nil
}

func (m *Model) heInit(layers []nn.Layer, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x6865))
	var last *nn.Param
	for i, l := range layers {
		c, ok := l.(*nn.Conv2D)
		if !ok {
			continue
		}
		if i+1 < len(layers) {
			switch layers[i+1].(type) {
			case *nn.Sigmoid, *nn.Tanh:
				// a saturating output keeps PyTorch's smaller default draw:
				// He's would start it saturated
				continue
			}
		}
		w := c.Weight
		s := math.Sqrt(2 / float64(w.Size()/w.Shape[0]))
		for i := range w.W {
			w.W[i] = float32(s * rng.NormFloat64())
		}
		last = w
	}
	if m.Config.Residual && last != nil {
		for i := range last.W {
			last.W[i] *= 0.1
		}
	}
}

// probeShape is an input shape the layers can be built for: the fixed
// input, or a small image of a valid size.
func (c *Config) probeShape() []int {
	if c.Input != nil {
		return slices.Clone(c.Input)
	}
	k := 4 * c.Multiple()
	return []int{c.Channels, k, k}
}

// layers builds fresh layers: the encoder's, the Reparam of a VAE, the
// decoder's.
func (c *Config) layers() ([]nn.Layer, error) {
	in := nn.SpecInput{Channels: c.InChannels(), Shape: c.Input}
	enc, err := nn.ParseSpecs(c.Encoder, in)
	if err != nil {
		return nil, fmt.Errorf("%w: encoder %w", ErrConfig, err)
	}
	mid := nn.SpecInput{Channels: in.Channels}
	if c.Input != nil {
		net, err := nn.NewNet(c.Input, enc...)
		if err != nil {
			return nil, fmt.Errorf("%w: encoder: %w", ErrConfig, err)
		}
		mid.Shape = net.OutShape
	} else if len(enc) > 0 {
		k := c.probeShape()
		net, err := nn.NewNet(k, enc...)
		if err != nil {
			return nil, fmt.Errorf("%w: encoder: %w", ErrConfig, err)
		}
		mid.Channels = net.OutShape[0]
	}
	layers := enc
	if c.Variational {
		r := nn.NewReparam()
		out, err := r.Setup(mid.Shape)
		if err != nil {
			return nil, fmt.Errorf("%w: the encoder's output: %w", ErrConfig, err)
		}
		mid.Shape = out
		layers = append(layers, r)
	}
	if mid.Shape != nil && len(mid.Shape) == 3 {
		mid.Channels = mid.Shape[0]
	}
	dec, err := nn.ParseSpecs(c.Decoder, mid)
	if err != nil {
		return nil, fmt.Errorf("%w: decoder %w", ErrConfig, err)
	}
	return append(layers, dec...), nil
}

// build makes the layers and binds the parameters, without initialising.
func build(cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	layers, err := cfg.layers()
	if err != nil {
		return nil, err
	}
	m := &Model{Config: cfg, nets: map[[4]int]*instance{}, nEnc: len(cfg.Encoder), logits: cfg.logits(), head: cfg.head()}
	var ps []*nn.Param
	name := func(i int) string {
		if i < m.nEnc {
			return fmt.Sprintf("encoder.%d.", i)
		}
		j := i - m.nEnc
		if cfg.Variational {
			j--
		}
		return fmt.Sprintf("decoder.%d.", j)
	}
	for i, l := range layers {
		for _, p := range l.Params() {
			p.Name = name(i) + p.Name
			ps = append(ps, p)
		}
		if b, ok := l.(interface{ Buffers() []*nn.Param }); ok {
			for _, p := range b.Buffers() {
				p.Name = name(i) + p.Name
				m.Buffers = append(m.Buffers, p)
			}
		}
	}
	if cfg.Variational {
		m.vae = &variational{pcg: rand.NewPCG(1, 0)}
		m.vae.rng = rand.New(m.vae.pcg)
		m.vae.klWeight = cfg.beta()
	}
	// a probe instance checks that the layers fit and gives the output
	// shape (it becomes the first instance, so nothing is built twice)
	m.template = layers
	inst, err := m.instanceFor(cfg.probeShape())
	if err != nil {
		return nil, err
	}
	if cfg.Variational && cfg.Likelihood == LikelihoodGaussian {
		// one log-variance per output channel (per feature for flat
		// outputs); after the layers' parameters, which instances bind by
		// position
		out := inst.net.OutShape
		n := out[0]
		if len(out) != 3 {
			n = tensor.Size(out)
		}
		m.vae.logvar = &nn.Param{Name: "likelihood.logvar", Shape: []int{n}}
		ps = append(ps, m.vae.logvar)
	}
	m.Params = nn.NewParamSet(ps)
	if err := m.checkOutput(inst.net); err != nil {
		return nil, err
	}
	if !cfg.Variational {
		lossName := cfg.Loss
		if m.logits {
			lossName = nn.LossBCEWithLogits
		}
		if m.loss, err = nn.NewLoss(lossName); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		if l, ok := m.loss.(*nn.ABClasses); ok {
			l.Weights = cfg.ClassWeights
		}
		if m.sparse, err = parseSparsity(cfg.Sparsity); err != nil {
			return nil, err
		}
		if m.sparse != nil && m.sparse.kind == SparsityKL && !endsInSigmoid(cfg.Encoder) {
			return nil, fmt.Errorf("%w: sparsity %q needs code activations in (0,1); end the encoder in a sigmoid (--code-activation sigmoid)", ErrConfig, cfg.Sparsity)
		}
	}
	return m, nil
}

func endsInSigmoid(specs []string) bool {
	return len(specs) > 0 && specs[len(specs)-1] == nn.ActSigmoid
}

func (c *Config) beta() float64 {
	if c.Beta == 0 {
		return 1
	}
	return c.Beta
}

// checkOutput refuses a model whose output does not fit its input: the
// same number of values, or for images the same height and width (a
// colorizer's channels differ).
func (m *Model) checkOutput(n *nn.Net) error {
	in, out := n.InShape, n.OutShape
	if len(in) == 3 && len(out) == 3 && in[1] == out[1] && in[2] == out[2] {
		if m.Config.Residual && in[0] != out[0] {
			return fmt.Errorf("%w: a residual model needs as many output channels (%d) as input channels (%d)", ErrConfig, out[0], in[0])
		}
		return nil
	}
	if m.Config.Input != nil && tensor.Size(in) == tensor.Size(out) {
		return nil
	}
	return fmt.Errorf("%w: output %v for input %v; an autoencoder gives back its input's size", ErrConfig, out, in)
}

// NumParams is the number of trainable parameters.
func (m *Model) NumParams() int { return m.Params.Len() }

// IsVAE reports whether m is variational.
func (m *Model) IsVAE() bool { return m.vae != nil }

func shapeKey(s []int) [4]int {
	var k [4]int
	k[0] = len(s)
	copy(k[1:], s)
	return k
}

// instanceFor returns the network for per-sample input shape in, built on
// first use with layers bound to the model's weights and statistics.
func (m *Model) instanceFor(in []int) (*instance, error) {
	key := shapeKey(in)
	if n, ok := m.nets[key]; ok {
		return n, nil
	}
	c := &m.Config
	if c.Input != nil {
		if tensor.Size(in) != tensor.Size(c.Input) || (len(in) == 3 && !slices.Equal(in, c.Input)) {
			if len(c.Input) == 3 && len(in) == 3 {
				return nil, fmt.Errorf("ae: the input is %d×%d and this model takes only %d×%d images (its code has a fixed size); resize it, or use a fully convolutional model", in[2], in[1], c.Input[2], c.Input[1])
			}
			return nil, fmt.Errorf("ae: input has %d values per sample, the model expects %d (shape %v)", tensor.Size(in), tensor.Size(c.Input), c.Input)
		}
		in = c.Input // rows given flat or shaped run one network
		key = shapeKey(in)
		if n, ok := m.nets[key]; ok {
			return n, nil
		}
	} else {
		if len(in) != 3 || in[0] != c.Channels {
			return nil, fmt.Errorf("ae: input %v; the model takes images [%d H W]", in, c.Channels)
		}
		if mult := c.Multiple(); in[1]%mult != 0 || in[2]%mult != 0 {
			return nil, fmt.Errorf("ae: the input is %d×%d, which is not a multiple of %d on each side as this architecture needs; crop or pad it", in[2], in[1], mult)
		}
	}
	var layers []nn.Layer
	if m.template != nil {
		layers, m.template = m.template, nil
	} else {
		var err error
		if layers, err = c.layers(); err != nil {
			return nil, err
		}
		pi, bi := 0, 0
		for _, l := range layers {
			for _, p := range l.Params() {
				src := m.Params.Params[pi]
				p.Name, p.W, p.G = src.Name, src.W, src.G
				pi++
			}
			if b, ok := l.(interface{ Buffers() []*nn.Param }); ok {
				for _, p := range b.Buffers() {
					src := m.Buffers[bi]
					p.Name, p.W = src.Name, src.W
					bi++
				}
			}
		}
	}
	net, err := nn.NewNet(in, layers...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if m.prepared {
		if err := net.PrepareInference(m.precision); err != nil {
			return nil, fmt.Errorf("ae: precision %v: %w", m.precision, err)
		}
	}
	n := &instance{net: net}
	m.nets[key] = n
	return n, nil
}

// instanceOf returns the network for a batch x [N, ...per-sample shape].
func (m *Model) instanceOf(x *tensor.Tensor) (*instance, error) {
	if len(x.Shape) < 2 {
		return nil, fmt.Errorf("ae: input %v; want a batch [N, ...]", x.Shape)
	}
	return m.instanceFor(x.Shape[1:])
}

// shaped returns x, or a view of it in the model's fixed input shape when
// it holds the same values per sample in another shape (rows of pixels for
// an image model).
func (m *Model) shaped(x *tensor.Tensor) *tensor.Tensor {
	in := m.Config.Input
	if in == nil || len(x.Shape) < 2 || slices.Equal(x.Shape[1:], in) || tensor.Size(x.Shape[1:]) != tensor.Size(in) {
		return x
	}
	return tensor.From(x.Data, append([]int{x.Shape[0]}, in...)...)
}

// Forget drops the networks built for input sizes other than the model's
// fixed input and the one last trained on, releasing their activation
// buffers (large for whole pictures).
func (m *Model) Forget() {
	keep := [4]int{-1}
	if m.Config.Input != nil {
		keep = shapeKey(m.Config.Input)
	}
	for k := range m.nets {
		if k != m.trainKey && k != keep {
			delete(m.nets, k)
		}
	}
}

// OutShape is the per-sample output shape for per-sample input shape in.
func (m *Model) OutShape(in []int) ([]int, error) {
	n, err := m.instanceFor(in)
	if err != nil {
		return nil, err
	}
	return slices.Clone(n.net.OutShape), nil
}

// CodeShape is the per-sample shape of the code for per-sample input shape
// in (nil: the model's fixed input): the encoder's output, or the mean of
// a VAE's.
func (m *Model) CodeShape(in []int) ([]int, error) {
	if in == nil {
		in = m.Config.probeShape()
	}
	n, err := m.instanceFor(in)
	if err != nil {
		return nil, err
	}
	s := n.net.Shape(m.nEnc)
	if m.vae != nil {
		s = n.net.Shape(m.nEnc + 1)
	}
	return s, nil
}

// CodeSize is the number of code values per sample of a model with a fixed
// input, 0 for a model of any image size.
func (m *Model) CodeSize() int {
	if m.Config.Input == nil {
		return 0
	}
	s, _ := m.CodeShape(nil)
	return tensor.Size(s)
}

// OutChannels is the number of channels of an image model's output (the
// output size of a flat one).
func (m *Model) OutChannels() int {
	s, err := m.OutShape(m.Config.probeShape())
	if err != nil || len(s) == 0 {
		return 0
	}
	if len(s) == 3 {
		return s[0]
	}
	return 1
}

// into returns dst when it holds exactly n values (reshaped to shape), or a
// new tensor of shape.
func into(dst *tensor.Tensor, shape []int) *tensor.Tensor {
	n := tensor.Size(shape)
	if dst != nil && len(dst.Data) == n {
		dst.Shape = append(dst.Shape[:0], shape...)
		return dst
	}
	return tensor.New(shape...)
}

// encode runs the encoder in inference mode and returns the code in the
// model's buffer (a VAE's mean).
func (m *Model) encode(n *instance, x *tensor.Tensor) *tensor.Tensor {
	h := n.net.ForwardLayers(x, 0, m.nEnc, false)
	if m.vae == nil {
		return h
	}
	rows, k := h.Rows(), h.Cols()/2
	mean := buf(&n.code, rows, k)
	for i := range rows {
		copy(mean.Data[i*k:(i+1)*k], h.Data[i*2*k:i*2*k+k])
	}
	return mean
}

// decodeFrom runs the layers from index start to the end (inference).
func (m *Model) decodeFrom(n *instance, z *tensor.Tensor, start int) *tensor.Tensor {
	return n.net.ForwardLayers(z, start, len(n.net.Layers), false)
}

// apply runs the whole model in inference mode (a VAE decodes its mean)
// and returns the output in the model's buffer.
func (m *Model) apply(n *instance, x *tensor.Tensor) *tensor.Tensor {
	y := n.net.Forward(x, false)
	return m.addResidual(n, y, x)
}

func (m *Model) addResidual(n *instance, y, x *tensor.Tensor) *tensor.Tensor {
	if !m.Config.Residual {
		return y
	}
	out := buf(&n.out, y.Rows(), len(y.Data)/max(y.Rows(), 1))
	out.Shape = append(out.Shape[:0], y.Shape...)
	for i, v := range y.Data {
		out.Data[i] = v + x.Data[i]
	}
	return out
}

// Encode writes the codes of the batch x [N, ...input] into dst and returns
// it: the encoder's output ([N, K] for a dense code, [N, C, H, W] for a
// convolutional one), a VAE's mean μ. A dst of the wrong size (or nil) is
// replaced by a new tensor.
func (m *Model) Encode(dst, x *tensor.Tensor) (*tensor.Tensor, error) {
	x = m.shaped(x)
	n, err := m.instanceOf(x)
	if err != nil {
		return nil, err
	}
	z := m.encode(n, x)
	dst = into(dst, z.Shape)
	copy(dst.Data, z.Data)
	return dst, nil
}

// Decode writes the outputs for codes z [N, ...code] into dst and returns
// it (a new tensor when dst is nil or of the wrong size). It needs a model
// with a fixed input shape.
func (m *Model) Decode(dst, z *tensor.Tensor) (*tensor.Tensor, error) {
	if m.Config.Input == nil {
		return nil, fmt.Errorf("ae: this fully convolutional model has no fixed code size to decode from")
	}
	n, err := m.instanceFor(m.Config.Input)
	if err != nil {
		return nil, err
	}
	want := n.net.Shape(m.nEnc)
	start := m.nEnc
	if m.vae != nil {
		want = n.net.Shape(m.nEnc + 1)
		start++
	}
	if len(z.Shape) < 2 || tensor.Size(z.Shape[1:]) != tensor.Size(want) {
		return nil, fmt.Errorf("ae: codes %v; the model's code has %d values", z.Shape, tensor.Size(want))
	}
	if !slices.Equal(z.Shape[1:], want) {
		z = tensor.From(z.Data, append([]int{z.Shape[0]}, want...)...)
	}
	y := m.decodeFrom(n, z, start)
	dst = into(dst, y.Shape)
	copy(dst.Data, y.Data)
	return dst, nil
}

// Reconstruct writes the model's output for x into dst and returns it (a
// new tensor when dst is nil or of the wrong size): decode(encode(x)) with
// a VAE decoding its mean, the input added for a residual model.
func (m *Model) Reconstruct(dst, x *tensor.Tensor) (*tensor.Tensor, error) {
	x = m.shaped(x)
	n, err := m.instanceOf(x)
	if err != nil {
		return nil, err
	}
	y := m.apply(n, x)
	dst = into(dst, y.Shape)
	copy(dst.Data, y.Data)
	return dst, nil
}

// Forward runs x once and copies the code into code and the output into
// out when they are not nil (each must hold exactly the values the model
// gives; see CodeShape and OutShape). It is Encode and Reconstruct in one
// pass, without allocating, for scorers.
func (m *Model) Forward(x, code, out *tensor.Tensor) error {
	x = m.shaped(x)
	n, err := m.instanceOf(x)
	if err != nil {
		return err
	}
	z := m.encode(n, x)
	start := m.nEnc
	if m.vae != nil {
		start++
	}
	if code != nil {
		if len(code.Data) != len(z.Data) {
			return fmt.Errorf("ae: code buffer holds %d values, the codes %d", len(code.Data), len(z.Data))
		}
		copy(code.Data, z.Data)
	}
	if out == nil {
		return nil
	}
	y := m.addResidual(n, m.decodeFrom(n, z, start), x)
	if len(out.Data) != len(y.Data) {
		return fmt.Errorf("ae: output buffer holds %d values, the output %d", len(out.Data), len(y.Data))
	}
	copy(out.Data, y.Data)
	return nil
}

// Temperature is the temperature of a colorizer's annealed mean (its
// abmean layer), or 0 for a model without one.
func (m *Model) Temperature() float64 {
	i := abMeanIndex(m.Config.Decoder)
	if i < 0 {
		return 0
	}
	t, _ := strconv.ParseFloat(strings.TrimPrefix(m.Config.Decoder[i], "abmean:"), 64)
	return t
}

// SetTemperature sets the temperature of a colorizer's annealed mean:
// towards 0 each pixel takes its likeliest colour (vivid, and wrong more
// often), at 1 the mean of the predicted distribution (grey where the
// colour is uncertain, PSNR's optimum). Models without an abmean layer
// refuse it. Saving the model keeps the new temperature.
func (m *Model) SetTemperature(t float64) error {
	i := abMeanIndex(m.Config.Decoder)
	if i < 0 {
		return fmt.Errorf("ae: a temperature is for colorizers that classify colours (an abmean layer); this model has none")
	}
	if !(t > 0 && t <= 10) {
		return fmt.Errorf("ae: temperature %v: want 0 < T ≤ 10", t)
	}
	m.Config.Decoder = slices.Clone(m.Config.Decoder) // a clone may share it
	m.Config.Decoder[i] = "abmean:" + strconv.FormatFloat(t, 'g', -1, 64)
	set := func(layers []nn.Layer) {
		for _, l := range layers {
			if a, ok := l.(*nn.ABMean); ok {
				a.T = t
			}
		}
	}
	set(m.template)
	for _, n := range m.nets {
		set(n.net.Layers)
	}
	return nil
}

// CopyWeights sets m's weights and BatchNorm statistics to src's: the
// start of fine-tuning, where training begins from a trained model
// instead of random weights. The two networks must have the same layers
// (every tensor the same shape, in the same order); the objective, the
// task and the preprocessing may differ, as they do when a model trained
// with one loss is refined with another or on other data.
func (m *Model) CopyWeights(src *Model) error {
	mismatch := func(what string) error {
		how := ""
		if src.Training != nil && src.Training.Command != "" {
			how = " (it was trained by: " + src.Training.Command + ")"
		}
		return fmt.Errorf("ae: cannot start from a model with other layers (%s, %d parameters) for this one (%s, %d): %s; describe the same network (preset, encoder and decoder) as the model you start from%s",
			src.Config.Summary(), src.NumParams(), m.Config.Summary(), m.NumParams(), what, how)
	}
	a, b := m.Params.Params, src.Params.Params
	if len(a) != len(b) {
		return mismatch(fmt.Sprintf("%d weight tensors, want %d", len(b), len(a)))
	}
	for i, p := range a {
		if !slices.Equal(p.Shape, b[i].Shape) {
			return mismatch(fmt.Sprintf("tensor %d (%s) has shape %v, want %v", i, p.Name, b[i].Shape, p.Shape))
		}
	}
	if len(m.Buffers) != len(src.Buffers) {
		return mismatch(fmt.Sprintf("%d BatchNorm statistics, want %d", len(src.Buffers), len(m.Buffers)))
	}
	for i, p := range m.Buffers {
		if !slices.Equal(p.Shape, src.Buffers[i].Shape) {
			return mismatch(fmt.Sprintf("statistic %s has shape %v, want %v", p.Name, src.Buffers[i].Shape, p.Shape))
		}
	}
	copy(m.Params.W, src.Params.W)
	for i, p := range m.Buffers {
		copy(p.W, src.Buffers[i].W)
	}
	return nil
}

// Clone returns an independent copy of m (weights, statistics, config and
// metadata), for use on another goroutine.
func (m *Model) Clone() *Model {
	c, err := build(m.Config)
	if err == nil {
		err = c.CopyWeights(m)
	}
	if err != nil {
		panic("ae: Clone: " + err.Error()) // m was built from the same config
	}
	if m.Preprocess != nil {
		p := *m.Preprocess
		c.Preprocess = &p
	}
	if m.Training != nil {
		r := *m.Training
		c.Training = &r
	}
	if m.Meta != nil {
		c.Meta = make(map[string]json.RawMessage, len(m.Meta))
		for k, v := range m.Meta {
			c.Meta[k] = slices.Clone(v)
		}
	}
	if m.prepared {
		if _, err := c.SetPrecision(m.precision); err != nil {
			panic("ae: Clone: " + err.Error()) // m prepared the same layers
		}
	}
	return c
}

func buf(b **tensor.Tensor, rows, cols int) *tensor.Tensor {
	t := *b
	if t == nil || cap(t.Data) < rows*cols {
		t = tensor.New(rows, cols)
		*b = t
		return t
	}
	t.Data = t.Data[:rows*cols]
	t.Shape = append(t.Shape[:0], rows, cols)
	return t
}
