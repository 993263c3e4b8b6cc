package ae

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// ArchConv is the Config.Arch of a convolutional image model (ConvConfig).
const ArchConv = "conv"

// Tasks of image models.
const (
	TaskReconstruct = "reconstruct"
	TaskDenoise     = "denoise"
	TaskUpscale     = "upscale"
	TaskColorize    = "colorize"
)

// ConvConfig describes a convolutional image model as data: the encoder and
// decoder are lists of layer specs, so a DnCNN-style denoiser, a VDSR-style
// upscaler, a colorizer and the MNIST convolutional autoencoder are four
// configs of the same code. Specs (channels are tracked from InChannels):
//
//	conv:OUT:K[:sS][:dD]   Conv2D, "same" padding d·(K-1)/2, stride S, dilation D
//	convt:OUT:K[:sS]       ConvTranspose2D, output exactly S× the input
//	relu, leakyrelu, sigmoid, tanh, gelu, identity
//	bn                     BatchNorm2D (running statistics are saved)
//	maxpool:K, avgpool:K   pooling with stride K
//	upsample:S[:bilinear]  nearest (default) or bilinear upsampling
//	shuffle:R, unshuffle:R PixelShuffle / PixelUnshuffle
//	flatten, reshape:C:H:W, dense:N, dropout:P
//
// With Residual the model adds its input to the network's output (the
// long skip connection of RED-Net/DnCNN/VDSR: the network predicts the
// residual), which needs OutChannels == InChannels.
type ConvConfig struct {
	Arch        string   `json:"arch"` // "conv"
	Task        string   `json:"task"` // reconstruct, denoise, upscale, colorize
	InChannels  int      `json:"in_channels"`
	OutChannels int      `json:"out_channels"`
	InputShape  []int    `json:"input_shape,omitempty"` // fixed [C H W] for models with dense layers; nil: any size
	Encoder     []string `json:"encoder"`
	Decoder     []string `json:"decoder"`
	Residual    bool     `json:"residual,omitempty"`
	Loss        string   `json:"loss"` // mse, l1 or bce
	// Variational makes the model a convolutional VAE (see conv_vae.go):
	// the encoder ends in 2×code features (μ, log σ²), an nn.Reparam layer
	// samples the code, and training minimises the negative ELBO with KL
	// weight Beta. Likelihood is "bernoulli" (Loss "bce", sigmoid output)
	// or "gaussian" (linear output = the mean, a log-variance learned per
	// output channel). Binarize trains a Bernoulli model on Bernoulli
	// samples of the [0,1] pixels (dynamic binarisation, the standard MNIST
	// likelihood protocol).
	Variational bool    `json:"variational,omitempty"`
	Beta        float64 `json:"beta,omitempty"`
	Binarize    bool    `json:"binarize,omitempty"`
	Likelihood  string  `json:"likelihood,omitempty"`
	// Task details: the noise the denoiser was trained on, the scales an
	// upscaler was trained for, the colour space of the data.
	Noise  string `json:"noise,omitempty"`
	Scales []int  `json:"scales,omitempty"`
	Color  string `json:"color,omitempty"` // grey, y (YCbCr luma), lab
}

// Validate checks the config and that its layers fit together.
func (c *ConvConfig) Validate() error {
	if c.Arch != ArchConv {
		return fmt.Errorf("ae: conv config has arch %q, want %q", c.Arch, ArchConv)
	}
	if c.InChannels < 1 || c.InChannels > 64 || c.OutChannels < 1 || c.OutChannels > 64 {
		return fmt.Errorf("ae: conv config: channels in %d, out %d; want 1 to 64", c.InChannels, c.OutChannels)
	}
	if c.Residual && c.InChannels != c.OutChannels {
		return fmt.Errorf("ae: conv config: a residual model needs out channels (%d) = in channels (%d)", c.OutChannels, c.InChannels)
	}
	if len(c.Encoder)+len(c.Decoder) == 0 || len(c.Encoder)+len(c.Decoder) > 512 {
		return fmt.Errorf("ae: conv config: %d layers; want 1 to 512", len(c.Encoder)+len(c.Decoder))
	}
	if err := c.validateVariational(); err != nil {
		return err
	}
	switch c.Loss {
	case "mse", "l1":
	case "bce":
		if last := append(slices.Clone(c.Encoder), c.Decoder...); last[len(last)-1] != "sigmoid" {
			return fmt.Errorf("ae: conv config: loss bce needs a sigmoid output layer")
		}
	default:
		return fmt.Errorf("ae: conv config: loss %q; want mse, l1 or bce (with a sigmoid output)", c.Loss)
	}
	shape := c.InputShape
	if shape == nil {
		m := c.Multiple()
		shape = []int{c.InChannels, 4 * m, 4 * m}
	}
	if shape[0] != c.InChannels {
		return fmt.Errorf("ae: conv config: input shape %v does not have %d channels", shape, c.InChannels)
	}
	layers, err := c.layers()
	if err != nil {
		return err
	}
	net, err := nn.NewNet(shape, layers...)
	if err != nil {
		return fmt.Errorf("ae: conv config: %w", err)
	}
	out := net.OutShape
	if len(out) != 3 || out[0] != c.OutChannels || out[1] != shape[1] || out[2] != shape[2] {
		return fmt.Errorf("ae: conv config: output %v for input %v; want [%d %d %d]", out, shape, c.OutChannels, shape[1], shape[2])
	}
	return nil
}

// Multiple is the factor every input side must be a multiple of: the
// product of the strides, pools and unshuffles on the way down.
func (c *ConvConfig) Multiple() int {
	m, best := 1, 1
	for _, s := range append(slices.Clone(c.Encoder), c.Decoder...) {
		f := strings.Split(s, ":")
		switch f[0] {
		case "conv":
			for _, o := range f[3:] {
				if v, ok := strings.CutPrefix(o, "s"); ok {
					n, _ := strconv.Atoi(v)
					m *= max(n, 1)
				}
			}
		case "maxpool", "avgpool", "unshuffle":
			if len(f) > 1 {
				n, _ := strconv.Atoi(f[1])
				m *= max(n, 1)
			}
		case "convt", "upsample", "shuffle":
			// up again: the multiple is the deepest point
		}
		best = max(best, m)
	}
	return best
}

// layers builds fresh layers for the encoder followed by the decoder; the
// first len(Encoder) are the encoder. A variational model has its
// nn.Reparam layer between the two, at index len(Encoder).
func (c *ConvConfig) layers() ([]nn.Layer, error) {
	ch := c.InChannels
	flat := 0 // features once flattened
	var cur []int
	if c.InputShape != nil {
		flat = tensor.Size(c.InputShape)
		cur = slices.Clone(c.InputShape)
	}
	var out []nn.Layer
	var err error
	for i, s := range append(slices.Clone(c.Encoder), c.Decoder...) {
		if c.Variational && i == len(c.Encoder) {
			r := nn.NewReparam()
			if cur, err = r.Setup(cur); err != nil {
				return nil, fmt.Errorf("ae: the encoder's output: %w", err)
			}
			flat = tensor.Size(cur)
			out = append(out, r)
		}
		l, err := parseSpec(s, &ch, &flat)
		if err != nil {
			return nil, fmt.Errorf("ae: layer %d %q: %w", i, s, err)
		}
		if cur != nil { // fixed size: follow the shape so dense layers know their width
			if cur, err = l.Setup(cur); err != nil {
				return nil, fmt.Errorf("ae: layer %d %q: %w", i, s, err)
			}
			flat = tensor.Size(cur)
		}
		out = append(out, l)
	}
	return out, nil
}

func atoi(f []string, i int, what string) (int, error) {
	if i >= len(f) {
		return 0, fmt.Errorf("missing %s", what)
	}
	n, err := strconv.Atoi(f[i])
	if err != nil || n < 1 || n > 1<<16 {
		return 0, fmt.Errorf("%s %q is not a positive integer", what, f[i])
	}
	return n, nil
}

func parseSpec(s string, ch, flat *int) (nn.Layer, error) {
	f := strings.Split(strings.TrimSpace(s), ":")
	switch f[0] {
	case "conv", "convt":
		out, err := atoi(f, 1, "output channels")
		if err != nil {
			return nil, err
		}
		k, err := atoi(f, 2, "kernel size")
		if err != nil {
			return nil, err
		}
		stride, dil := 1, 1
		for _, o := range f[3:] {
			v, err := strconv.Atoi(o[min(1, len(o)):])
			if err != nil || v < 1 || len(o) < 2 {
				return nil, fmt.Errorf("option %q: want sN (stride) or dN (dilation)", o)
			}
			switch o[0] {
			case 's':
				stride = v
			case 'd':
				dil = v
			default:
				return nil, fmt.Errorf("option %q: want sN (stride) or dN (dilation)", o)
			}
		}
		in := *ch
		*ch = out
		if f[0] == "conv" {
			return nn.NewConv2D(in, out, k, stride, dil*(k-1)/2, dil), nil
		}
		if dil != 1 {
			return nil, fmt.Errorf("convt has no dilation")
		}
		p := (k - 1) / 2
		op := stride + 2*p - k
		if op < 0 || op >= max(stride, 1) {
			return nil, fmt.Errorf("kernel %d with stride %d cannot give exactly %d× the input", k, stride, stride)
		}
		return nn.NewConvTranspose2D(in, out, k, stride, p, op), nil
	case "relu", "leakyrelu", "sigmoid", "tanh", "gelu", "identity":
		return nn.NewActivation(f[0])
	case "bn":
		return nn.NewBatchNorm2D(*ch), nil
	case "maxpool", "avgpool":
		k, err := atoi(f, 1, "pool size")
		if err != nil {
			return nil, err
		}
		if f[0] == "maxpool" {
			return nn.NewMaxPool2D(k, k, 0), nil
		}
		return nn.NewAvgPool2D(k, k, 0), nil
	case "upsample":
		k, err := atoi(f, 1, "scale")
		if err != nil {
			return nil, err
		}
		mode := nn.UpsampleNearest
		if len(f) > 2 {
			mode = f[2]
		}
		return nn.NewUpsample(k, mode), nil
	case "shuffle", "unshuffle":
		r, err := atoi(f, 1, "factor")
		if err != nil {
			return nil, err
		}
		if f[0] == "shuffle" {
			if *ch%(r*r) != 0 {
				return nil, fmt.Errorf("%d channels are not a multiple of %d", *ch, r*r)
			}
			*ch /= r * r
			return nn.NewPixelShuffle(r), nil
		}
		*ch *= r * r
		return nn.NewPixelUnshuffle(r), nil
	case "flatten":
		return nn.NewFlatten(), nil
	case "reshape":
		var dims []int
		for i := 1; i < len(f); i++ {
			d, err := atoi(f, i, "dimension")
			if err != nil {
				return nil, err
			}
			dims = append(dims, d)
		}
		if len(dims) != 3 {
			return nil, fmt.Errorf("want reshape:C:H:W")
		}
		*ch = dims[0]
		*flat = tensor.Size(dims)
		return nn.NewReshape(dims...), nil
	case "dense":
		n, err := atoi(f, 1, "width")
		if err != nil {
			return nil, err
		}
		if *flat <= 0 {
			return nil, fmt.Errorf("dense needs a fixed input_shape")
		}
		in := *flat
		*flat = n
		return nn.NewDense(in, n), nil
	case "dropout":
		if len(f) < 2 {
			return nil, fmt.Errorf("want dropout:P")
		}
		p, err := strconv.ParseFloat(f[1], 64)
		if err != nil || p < 0 || p >= 1 {
			return nil, fmt.Errorf("dropout %q: want 0 ≤ P < 1", f[1])
		}
		return nn.NewDropout(p), nil
	}
	return nil, fmt.Errorf("unknown layer %q (see ae.ConvConfig)", f[0])
}

// ConvModel is a convolutional image model. Its weights live in one
// ParamSet; a network instance is built per input size and shares them.
type ConvModel struct {
	Config   ConvConfig
	Params   *nn.ParamSet
	Buffers  []*nn.Param // BatchNorm running statistics, saved with the weights
	Training []byte      // JSON training record, stored in the file
	// Ensemble makes Run average the outputs over the 8 flips and
	// rotations of the input (8× the time, a little more accuracy).
	Ensemble bool

	nets     map[[3]int]*convNet
	trainKey [3]int     // the input size TrainStep last used (kept by Forget)
	template []nn.Layer // the layers the ParamSet was built from, until first use
	loss     nn.Loss
	vae      *convVAE // set for Config.Variational
}

type convNet struct {
	net       *nn.Net
	nEnc      int
	out, dOut *tensor.Tensor
}

// NewConv builds a model from cfg with weights drawn from seed.
func NewConv(cfg ConvConfig, seed uint64) (*ConvModel, error) {
	m, err := buildConv(cfg)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x636f6e76))
	m.anyNet().net.Init(rng)
	m.heInit(seed)
	return m, nil
}

func buildConv(cfg ConvConfig) (*ConvModel, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	lossName := cfg.Loss
	if lossName == "bce" {
		// computed from the logits before the sigmoid: exact, and its
		// gradient σ(z) − y does not vanish where the sigmoid saturates
		lossName = nn.LossBCEWithLogits
	}
	loss, err := nn.NewLoss(lossName)
	if err != nil {
		return nil, err
	}
	m := &ConvModel{Config: cfg, nets: map[[3]int]*convNet{}, loss: loss}
	layers, err := cfg.layers()
	if err != nil {
		return nil, err
	}
	var ps []*nn.Param
	for i, l := range layers {
		for _, p := range l.Params() {
			p.Name = fmt.Sprintf("%d.%s", i, p.Name)
			ps = append(ps, p)
		}
		if b, ok := l.(interface{ Buffers() []*nn.Param }); ok {
			for _, p := range b.Buffers() {
				p.Name = fmt.Sprintf("%d.%s", i, p.Name)
				m.Buffers = append(m.Buffers, p)
			}
		}
	}
	if cfg.Variational {
		m.vae = &convVAE{klWeight: cfg.Beta, pcg: rand.NewPCG(1, 0)}
		m.vae.rng = rand.New(m.vae.pcg)
		if cfg.Likelihood == LikelihoodGaussian {
			// after the layers' parameters, which netFor binds by position
			m.vae.logvar = &nn.Param{Name: "likelihood.logvar", Shape: []int{cfg.OutChannels}}
			ps = append(ps, m.vae.logvar)
		}
	}
	m.Params = nn.NewParamSet(ps)
	m.template = layers
	return m, nil
}

// NumParams is the number of trainable weights.
func (m *ConvModel) NumParams() int { return m.Params.Len() }

// anyNet returns a net for some valid input size (for initialisation).
func (m *ConvModel) anyNet() *convNet {
	if s := m.Config.InputShape; s != nil {
		n, _ := m.netFor(s[1], s[2])
		return n
	}
	k := 4 * m.Config.Multiple()
	n, _ := m.netFor(k, k)
	return n
}

// netFor returns the network for h×w inputs, building it on first use with
// layers bound to the model's shared weights and statistics.
func (m *ConvModel) netFor(h, w int) (*convNet, error) {
	key := [3]int{m.Config.InChannels, h, w}
	if n, ok := m.nets[key]; ok {
		return n, nil
	}
	if s := m.Config.InputShape; s != nil && (s[1] != h || s[2] != w) {
		return nil, fmt.Errorf("ae: the input is %d×%d and this model takes only %d×%d images (its code has a fixed size); resize it, or use a fully convolutional model", w, h, s[2], s[1])
	}
	if mult := m.Config.Multiple(); h%mult != 0 || w%mult != 0 {
		return nil, fmt.Errorf("ae: the input is %d×%d, which is not a multiple of %d on each side as this architecture needs; crop or pad it", w, h, mult)
	}
	var layers []nn.Layer
	if len(m.nets) == 0 && m.template != nil {
		layers, m.template = m.template, nil
	} else {
		var err error
		if layers, err = m.Config.layers(); err != nil {
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
	net, err := nn.NewNet(key[:], layers...)
	if err != nil {
		return nil, fmt.Errorf("ae: %w", err)
	}
	n := &convNet{net: net, nEnc: len(m.Config.Encoder)}
	m.nets[key] = n
	return n, nil
}

// Forget drops the networks built for input sizes other than training's,
// releasing their activation buffers.
func (m *ConvModel) Forget() {
	for k := range m.nets {
		if k != m.trainKey {
			delete(m.nets, k)
		}
	}
}

func (m *ConvModel) forward(n *convNet, x *tensor.Tensor, train bool) *tensor.Tensor {
	y := n.net.Forward(x, train)
	if !m.Config.Residual {
		return y
	}
	if n.out == nil || cap(n.out.Data) < len(y.Data) {
		n.out = tensor.New(y.Shape...)
	}
	n.out.Data = n.out.Data[:len(y.Data)]
	n.out.Shape = append(n.out.Shape[:0], y.Shape...)
	for i, v := range y.Data {
		n.out.Data[i] = v + x.Data[i]
	}
	return n.out
}

func (m *ConvModel) netOf(x *tensor.Tensor) (*convNet, error) {
	if len(x.Shape) != 4 || x.Shape[1] != m.Config.InChannels {
		return nil, fmt.Errorf("ae: input %v, want [N %d H W]", x.Shape, m.Config.InChannels)
	}
	return m.netFor(x.Shape[2], x.Shape[3])
}

// Apply runs the model on a batch x [N, InChannels, H, W] (inference mode)
// and returns its output buffer, valid until the next call.
func (m *ConvModel) Apply(x *tensor.Tensor) (*tensor.Tensor, error) {
	n, err := m.netOf(x)
	if err != nil {
		return nil, err
	}
	return m.forward(n, x, false), nil
}

// Encode returns the code: the output of the encoder layers (for a VAE,
// the mean μ of q(z|x)), in a buffer valid until the next call.
func (m *ConvModel) Encode(x *tensor.Tensor) (*tensor.Tensor, error) {
	n, err := m.netOf(x)
	if err != nil {
		return nil, err
	}
	for _, l := range n.net.Layers[:n.nEnc] {
		x = l.Forward(x, false)
	}
	if m.vae != nil {
		return m.encodeMean(x), nil
	}
	return x, nil
}

// TrainStep runs forward and backward on a batch and returns the loss;
// gradients are accumulated into m.Params.G (the caller zeroes them).
func (m *ConvModel) TrainStep(x, target *tensor.Tensor) (float64, error) {
	n, err := m.netOf(x)
	if err != nil {
		return 0, err
	}
	m.trainKey = [3]int{x.Shape[1], x.Shape[2], x.Shape[3]}
	if m.vae != nil {
		return m.vaeStep(n, x, target, true)
	}
	layers := n.net.Layers
	var out *tensor.Tensor
	if m.Config.Loss == "bce" { // logits: every layer but the sigmoid
		layers = layers[:len(layers)-1]
		out = x
		for _, l := range layers {
			out = l.Forward(out, true)
		}
	} else {
		out = m.forward(n, x, true)
	}
	if len(out.Data) != len(target.Data) {
		return 0, fmt.Errorf("ae: target %v does not match output %v", target.Shape, out.Shape)
	}
	loss := m.loss.Forward(out, target)
	if n.dOut == nil || cap(n.dOut.Data) < len(out.Data) {
		n.dOut = tensor.New(out.Shape...)
	}
	n.dOut.Data = n.dOut.Data[:len(out.Data)]
	n.dOut.Shape = append(n.dOut.Shape[:0], out.Shape...)
	m.loss.Backward(n.dOut, out, target)
	g := n.dOut
	for i := len(layers) - 1; i >= 0; i-- {
		g = layers[i].Backward(g)
	}
	return loss, nil
}

// Loss is the loss of a batch in inference mode.
func (m *ConvModel) Loss(x, target *tensor.Tensor) (float64, error) {
	if m.vae != nil {
		n, err := m.netOf(x)
		if err != nil {
			return 0, err
		}
		return m.vaeStep(n, x, target, false)
	}
	if m.Config.Loss == "bce" {
		n, err := m.netOf(x)
		if err != nil {
			return 0, err
		}
		for _, l := range n.net.Layers[:len(n.net.Layers)-1] {
			x = l.Forward(x, false)
		}
		return m.loss.Forward(x, target), nil
	}
	out, err := m.Apply(x)
	if err != nil {
		return 0, err
	}
	if len(out.Data) != len(target.Data) {
		return 0, fmt.Errorf("ae: target %v does not match output %v", target.Shape, out.Shape)
	}
	return m.loss.Forward(out, target), nil
}
