// Package ae is bottleneck's autoencoder: one Model type for every kind —
// dense and convolutional, plain, sparse and variational, image
// restoration networks — built from a Config that lists the encoder's and
// the decoder's layers as specs (see package nn), with an optional
// reparameterisation (a VAE's sampling step) between them.
//
// A Model encodes, decodes and reconstructs batches, takes training steps
// (package train drives them), estimates a VAE's log-likelihood, and lives
// in a model file: a safetensors container holding the weights under
// PyTorch-style names ("encoder.0.weight", "decoder.4.bias") and, in its
// metadata, the config, the preprocessing fitted on the training data, the
// training record and sections other packages add (an anomaly detector's
// score statistics and threshold). docs/FORMAT.md describes it.
package ae

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/bottleneck-ml/bottleneck/nn"
)

// Losses and likelihoods a Config names.
const (
	LossMSE  = nn.LossMSE
	LossL1   = nn.LossL1
	LossBCE  = nn.LossBCE
	LossELBO = "elbo" // a VAE's negative ELBO
	// LossABClasses trains a colorizer that ends in abmean:T on its class
	// logits (the layers from abmean on run only at inference).
	LossABClasses = nn.LossABClasses

	LikelihoodBernoulli = "bernoulli"
	LikelihoodGaussian  = "gaussian"
)

// Tasks of image models (Config.Task).
const (
	TaskReconstruct = "reconstruct"
	TaskDenoise     = "denoise"
	TaskUpscale     = "upscale"
	TaskColorize    = "colorize"
)

// Config describes a model. It is stored in every model file as JSON.
//
// The encoder maps the input to the code, the decoder maps the code back.
// A plain autoencoder's code is the encoder's output. A variational one
// (Variational) has an encoder that ends in 2×K features, the mean and
// log-variance of q(z|x); an nn.Reparam layer samples z = μ + σ·ε between
// encoder and decoder while training (z = μ at inference), and training
// minimises the negative ELBO. A model whose layers are all convolutional
// takes images of any size (Input nil, Channels set); one with dense layers
// needs a fixed Input.
type Config struct {
	Input    []int    `json:"input,omitempty"`    // per-sample shape, [D] or [C H W]; nil: images of any size
	Channels int      `json:"channels,omitempty"` // input channels when Input is nil
	Encoder  []string `json:"encoder"`            // layer specs, input side first
	Decoder  []string `json:"decoder"`            // layer specs, code side first
	// Variational puts a reparameterisation between encoder and decoder.
	Variational bool `json:"variational,omitempty"`
	// Residual adds the input to the network's output (the long skip of
	// DnCNN/VDSR: the network predicts the residual).
	Residual bool `json:"residual,omitempty"`

	// The objective. Loss is mse, l1 or bce (which needs a sigmoid output
	// and is then computed from the logits), ab-classes (a colorizer's
	// a,b class logits before its abmean layer), or elbo for a VAE, whose
	// Likelihood is bernoulli (sigmoid output, data in [0,1]) or gaussian
	// (linear output = the mean, a log-variance learned per output
	// channel, or per feature for flat outputs). Beta weighs the KL term
	// (β-VAE; 0 means 1); Binarize trains a Bernoulli VAE on Bernoulli
	// samples of the [0,1] inputs (dynamic binarisation). Sparsity is an
	// activity penalty on a plain code: "l1:λ" or "kl:ρ:β".
	Loss       string  `json:"loss"`
	Likelihood string  `json:"likelihood,omitempty"`
	Beta       float64 `json:"beta,omitempty"`
	Binarize   bool    `json:"binarize,omitempty"`
	Sparsity   string  `json:"sparsity,omitempty"`
	// ClassWeights weigh ab-classes' pixels by their colour class
	// (nn.ABClassWeights, from the training pictures): rare, saturated
	// colours count more, so the likeliest colour is not always grey.
	ClassWeights []float32 `json:"class_weights,omitempty"`

	// What an image model was trained for: its task, the noise a denoiser
	// saw, the scales of an upscaler, the colour space (grey, rgb, y, lab).
	Task   string `json:"task,omitempty"`
	Noise  string `json:"noise,omitempty"`
	Scales []int  `json:"scales,omitempty"`
	Color  string `json:"color,omitempty"`
}

// InChannels is the number of input channels: Channels for a model of any
// image size, Input[0] for a fixed image shape, 1 for flat rows.
func (c *Config) InChannels() int {
	switch {
	case c.Input == nil:
		return c.Channels
	case len(c.Input) == 3:
		return c.Input[0]
	}
	return 1
}

// Multiple is the factor every input side must be a multiple of.
func (c *Config) Multiple() int {
	return nn.SpecMultiple(append(slices.Clone(c.Encoder), c.Decoder...))
}

// Dense describes a dense autoencoder by its widths, as the command line's
// --hidden, --code and --arch flags do.
type Dense struct {
	Hidden        []int // encoder widths, input side first
	Code          int   // code width
	DecoderHidden []int // decoder widths, code side first; nil mirrors Hidden
	// Activation of the hidden layers (default relu), of the code
	// (default identity) and of the output (default sigmoid for data in
	// [0,1], identity otherwise).
	Activation, CodeActivation, Output string
	Dropout                            float64 // after each hidden activation, training only
	Variational                        bool
	Likelihood                         string // VAE: bernoulli or gaussian (default from the output)
	Loss                               string // default bce with a sigmoid output, mse otherwise
}

// DenseConfig turns widths into a Config for inputs of per-sample shape
// input; unitRange says the data lies in [0,1] (it picks the default
// output and loss). The layer list is Dense, activation, [dropout] per
// hidden width, then the code layer and its activation (a VAE's code layer
// gives 2×Code features), and the mirror image down to the output.
func DenseConfig(input []int, unitRange bool, d Dense) (Config, error) {
	if d.Activation == "" {
		d.Activation = nn.ActReLU
	}
	if d.CodeActivation == "" {
		d.CodeActivation = nn.ActIdentity
	}
	lik := d.Likelihood
	if d.Variational && lik == "" {
		if d.Output == nn.ActSigmoid || (d.Output == "" && unitRange) {
			lik = LikelihoodBernoulli
		} else {
			lik = LikelihoodGaussian
		}
	}
	if d.Output == "" {
		switch {
		case d.Variational && lik == LikelihoodBernoulli, !d.Variational && unitRange:
			d.Output = nn.ActSigmoid
		default:
			d.Output = nn.ActIdentity
		}
	}
	if d.Code <= 0 {
		return Config{}, fmt.Errorf("ae: code size %d must be positive", d.Code)
	}
	for _, h := range append(slices.Clone(d.Hidden), d.DecoderHidden...) {
		if h <= 0 {
			return Config{}, fmt.Errorf("ae: hidden width %d must be positive", h)
		}
	}
	if d.Dropout < 0 || d.Dropout >= 1 || math.IsNaN(d.Dropout) {
		return Config{}, fmt.Errorf("ae: dropout %v must be in [0, 1)", d.Dropout)
	}
	for _, a := range []string{d.Activation, d.CodeActivation, d.Output} {
		if _, err := nn.NewActivation(a); err != nil {
			return Config{}, fmt.Errorf("ae: %w", err)
		}
	}
	block := func(specs []string, w int, act string, dropout bool) []string {
		specs = append(specs, "dense:"+strconv.Itoa(w), act)
		if dropout && d.Dropout > 0 {
			specs = append(specs, "dropout:"+strconv.FormatFloat(d.Dropout, 'g', -1, 64))
		}
		return specs
	}
	size := 1
	for _, v := range input {
		size *= v
	}
	var enc, dec []string
	for _, h := range d.Hidden {
		enc = block(enc, h, d.Activation, true)
	}
	if d.Variational {
		if d.CodeActivation != nn.ActIdentity {
			return Config{}, fmt.Errorf("ae: a VAE's code is Gaussian; code activation %q is not supported", d.CodeActivation)
		}
		enc = append(enc, "dense:"+strconv.Itoa(2*d.Code))
	} else {
		enc = block(enc, d.Code, d.CodeActivation, false)
	}
	decHidden := d.DecoderHidden
	if decHidden == nil {
		decHidden = slices.Clone(d.Hidden)
		slices.Reverse(decHidden)
	}
	for _, h := range decHidden {
		dec = block(dec, h, d.Activation, true)
	}
	dec = block(dec, size, d.Output, false)
	cfg := Config{Input: slices.Clone(input), Encoder: enc, Decoder: dec, Variational: d.Variational, Loss: d.Loss}
	if d.Variational {
		cfg.Likelihood, cfg.Beta = lik, 1
		if cfg.Loss == "" {
			cfg.Loss = LossELBO
		}
	} else if cfg.Loss == "" {
		cfg.Loss = LossMSE
		if d.Output == nn.ActSigmoid {
			cfg.Loss = LossBCE
		}
	}
	return cfg, nil
}

// lastSpec is the name of the decoder's last layer ("" when it has none).
func (c *Config) lastSpec() string {
	all := append(slices.Clone(c.Encoder), c.Decoder...)
	if len(all) == 0 {
		return ""
	}
	return strings.SplitN(all[len(all)-1], ":", 2)[0]
}

// logits reports whether training computes the loss from the logits before
// a final sigmoid (BCE, and the Bernoulli likelihood).
func (c *Config) logits() bool {
	if c.Variational {
		return c.Likelihood == LikelihoodBernoulli
	}
	return c.Loss == LossBCE
}

// head is the number of final layers that inference runs and training
// does not, because the loss is computed from their input: the sigmoid
// before BCE, and abmean (with what follows it) before ab-classes.
func (c *Config) head() int {
	if c.logits() {
		return 1
	}
	if c.Loss == LossABClasses {
		if i := abMeanIndex(c.Decoder); i >= 0 {
			return len(c.Decoder) - i
		}
	}
	return 0
}

// ClassifiesColours reports whether the decoder ends a colorizer that
// classifies colours: it has an abmean layer, so the loss it trains with
// is ab-classes.
func (c *Config) ClassifiesColours() bool { return abMeanIndex(c.Decoder) >= 0 }

// abMeanIndex is the position of the last abmean layer in specs, or -1.
func abMeanIndex(specs []string) int {
	for i := len(specs) - 1; i >= 0; i-- {
		if strings.HasPrefix(specs[i], "abmean:") {
			return i
		}
	}
	return -1
}

// ErrConfig is wrapped by the errors of Validate.
var ErrConfig = errors.New("ae: bad config")

// Validate checks the objective; New and Open also check that the layers
// fit together.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	if c.Input == nil && (c.Channels < 1 || c.Channels > 64) {
		return bad("a model of any image size needs 1 to 64 input channels, have %d", c.Channels)
	}
	for _, d := range c.Input {
		if d < 1 || d > 1<<24 {
			return bad("input shape %v has a dimension out of range", c.Input)
		}
	}
	if n := len(c.Input); n != 0 && n != 1 && n != 3 {
		return bad("input shape %v; want [D] or [C H W]", c.Input)
	}
	if n := len(c.Encoder) + len(c.Decoder); n == 0 || n > 512 {
		return bad("%d layers; want 1 to 512", n)
	}
	if msg := c.checkScale(); msg != "" {
		return bad("%s", msg)
	}
	last := c.lastSpec()
	if c.Variational {
		switch {
		case c.Input == nil:
			return bad("a variational model needs a fixed input shape (its code is a dense layer)")
		case c.Residual:
			return bad("a variational model cannot be residual")
		case len(c.Encoder) == 0 || len(c.Decoder) == 0:
			return bad("a variational model needs an encoder and a decoder")
		case c.Sparsity != "":
			return bad("sparsity is for plain autoencoders; a VAE's KL term already regularises its code")
		case c.Loss != LossELBO:
			return bad("a VAE trains on the ELBO; loss %q is not supported", c.Loss)
		case math.IsNaN(c.Beta) || math.IsInf(c.Beta, 0) || c.Beta < 0:
			return bad("beta %v must be a non-negative number", c.Beta)
		}
		switch c.Likelihood {
		case LikelihoodBernoulli:
			if last != nn.ActSigmoid {
				return bad("the Bernoulli likelihood needs a sigmoid output layer")
			}
		case LikelihoodGaussian:
			if last == nn.ActSigmoid {
				return bad("a Gaussian VAE's decoder gives the mean: end it without a sigmoid")
			}
			if c.Binarize {
				return bad("binarised inputs need the Bernoulli likelihood")
			}
		default:
			return bad("likelihood %q; want bernoulli or gaussian", c.Likelihood)
		}
		return nil
	}
	if c.Binarize || c.Likelihood != "" {
		return bad("likelihood and binarize are for variational models")
	}
	switch c.Loss {
	case LossMSE, LossL1:
	case LossBCE:
		if last != nn.ActSigmoid {
			return bad("loss bce needs a sigmoid output layer; use loss mse or scale the data to [0,1]")
		}
		if c.Residual {
			return bad("loss bce needs the sigmoid to be the output; a residual model adds its input after it")
		}
	case LossABClasses:
		if abMeanIndex(c.Decoder) < 0 {
			return bad("loss ab-classes needs the decoder to end in abmean:T (after one logit channel per a,b class)")
		}
		if c.Residual {
			return bad("loss ab-classes gives colours, not a residual: the model cannot be residual")
		}
		if n := len(c.ClassWeights); n != 0 && n != nn.ABClassCount() {
			return bad("%d class weights for %d a,b classes", n, nn.ABClassCount())
		}
		for _, w := range c.ClassWeights {
			if !(w >= 0 && w <= math.MaxFloat32) {
				return bad("class weight %v; want finite, non-negative weights", w)
			}
		}
	default:
		return bad("loss %q; want mse, l1, bce (with a sigmoid output) or ab-classes (with abmean:T)", c.Loss)
	}
	if len(c.ClassWeights) != 0 && c.Loss != LossABClasses {
		return bad("class weights are for the ab-classes loss, not %s", c.Loss)
	}
	if _, err := parseSparsity(c.Sparsity); err != nil {
		return err
	}
	return nil
}

// maxBuild bounds the values that building a config's layers allocates
// before any weight is bound (a convolution's per-pixel table, BatchNorm's
// statistics), and maxChannels the channels of any layer.
const (
	maxBuild    = 1 << 26
	maxChannels = 1 << 16
)

// checkScale follows the layer specs over the shape the layers are built
// for (the fixed input, or the probe of a model of any image size) and
// describes the first layer that would be absurd to build: too many
// channels, or more than maxBuild values of per-pixel tables in all. It
// returns "" when there is none. Building allocates those tables before
// the weights are counted, so a small damaged or hostile config must be
// refused here.
func (c *Config) checkScale() string {
	ch, h, w := float64(c.InChannels()), 1.0, 1.0
	switch {
	case c.Input == nil:
		h = 4 * float64(c.Multiple()) // probeShape
		w = h
	case len(c.Input) == 3:
		h, w = float64(c.Input[1]), float64(c.Input[2])
	}
	var total float64
	for i, s := range append(slices.Clone(c.Encoder), c.Decoder...) {
		f := strings.Split(strings.TrimSpace(s), ":")
		arg := func(i int) float64 {
			if i < len(f) {
				if v, err := strconv.Atoi(f[i]); err == nil && v > 0 {
					return float64(v)
				}
			}
			return 1
		}
		switch f[0] {
		case "conv", "convt":
			ch = arg(1)
			for _, o := range f[min(3, len(f)):] {
				if v, ok := strings.CutPrefix(o, "s"); ok {
					st, _ := strconv.Atoi(v)
					st = max(st, 1)
					if f[0] == "conv" {
						h, w = math.Ceil(h/float64(st)), math.Ceil(w/float64(st))
					} else {
						h, w = h*float64(st), w*float64(st)
					}
				}
			}
			total += h * w
		case "bn":
			total += 4 * ch
		case "maxpool", "avgpool":
			h, w = math.Floor(h/arg(1)), math.Floor(w/arg(1))
		case "upsample":
			h, w = h*arg(1), w*arg(1)
			total += 3 * (h + w)
		case "shuffle":
			r := arg(1)
			ch, h, w = ch/(r*r), h*r, w*r
		case "unshuffle":
			r := arg(1)
			ch, h, w = ch*r*r, math.Floor(h/r), math.Floor(w/r)
		case "reshape":
			ch, h, w = arg(1), arg(2), arg(3)
		}
		if ch > maxChannels {
			return fmt.Sprintf("layer %d %q has %.0f channels; at most %d are supported", i, s, ch, maxChannels)
		}
		if total > maxBuild {
			return fmt.Sprintf("layer %d %q works on %.0f×%.0f pixels for a %v input; the layers are too large to build", i, s, h, w, c.probeShape())
		}
	}
	return ""
}

// Kind names the family of the architecture: "dense" or "vae" for dense
// layers only, "conv" or "conv-vae" otherwise (the names of the first
// release's model files).
func (c *Config) Kind() string {
	for _, s := range append(slices.Clone(c.Encoder), c.Decoder...) {
		name := strings.SplitN(s, ":", 2)[0]
		if name == "dense" || name == "dropout" {
			continue
		}
		if _, err := nn.NewActivation(name); err != nil {
			if c.Variational {
				return "conv-vae"
			}
			return "conv"
		}
	}
	if c.Variational {
		return "vae"
	}
	return "dense"
}

// Summary is a one-line description of the architecture, e.g.
// "dense 784 → 256 → 32 → 256 → 784" or "convolutional, 12 layers".
func (c *Config) Summary() string {
	kind := "convolutional"
	if k := c.Kind(); (k == "dense" || k == "vae") && c.Input != nil {
		widths := []string{strconv.Itoa(prod(c.Input))}
		for i, s := range append(slices.Clone(c.Encoder), c.Decoder...) {
			if w, ok := strings.CutPrefix(s, "dense:"); ok {
				if c.Variational && i == len(c.Encoder)-1 {
					n, _ := strconv.Atoi(w)
					w = strconv.Itoa(n / 2)
				}
				widths = append(widths, w)
			}
		}
		kind = "dense " + strings.Join(widths, " → ")
	} else {
		kind += fmt.Sprintf(", %d layers", len(c.Encoder)+len(c.Decoder))
	}
	if c.Variational {
		kind = "variational " + kind
	}
	return kind
}

func prod(s []int) int {
	n := 1
	for _, v := range s {
		n *= v
	}
	return n
}

// Preset returns a named architecture as a Config (each is a plain list
// of layer specs that --encoder/--decoder could spell out):
//
//	restore[:DEPTH[:WIDTH]]  DnCNN/VDSR-style residual restorer working at half
//	                         resolution behind a 2× pixel unshuffle (as FFDNet):
//	                         DEPTH 3×3 convolutions of WIDTH channels with ReLU,
//	                         predicting the residual (default 12:64)
//	colorize[:WIDTH]         Lab colorizer: L → a,b through a 4× unshuffle and
//	                         dilated convolutions (receptive field ≈ 250 px)
//	colorize-classes[:WIDTH[:T]]
//	                         the same trunk giving a distribution over the
//	                         a,b classes at a quarter of the resolution,
//	                         trained with the ab-classes loss and decoded by
//	                         the annealed mean at temperature T (default
//	                         0.38): vivid colours where the mean is sepia
//	mnist-conv[:CODE]        28×28 conv autoencoder: two stride-2 convolutions,
//	                         a dense code, two transposed convolutions
//	mnist-vae-conv[:CODE]    the same layers as a VAE: the encoder gives μ and
//	                         log σ² (2×CODE), Bernoulli likelihood, β = 1
func Preset(name string, channels int) (Config, error) {
	f := strings.Split(name, ":")
	arg := func(i, def int) (int, error) {
		if len(f) <= i {
			return def, nil
		}
		v, err := strconv.Atoi(f[i])
		if err != nil || v < 1 || v > 1024 {
			return 0, fmt.Errorf("ae: preset %q: %q is not a positive size", name, f[i])
		}
		return v, nil
	}
	if channels < 1 {
		channels = 1
	}
	switch f[0] {
	case "restore":
		depth, err := arg(1, 12)
		if err != nil {
			return Config{}, err
		}
		width, err := arg(2, 64)
		if err != nil {
			return Config{}, err
		}
		if depth < 2 {
			return Config{}, fmt.Errorf("ae: preset %q: depth must be at least 2", name)
		}
		enc := []string{"unshuffle:2", fmt.Sprintf("conv:%d:3", width), "relu"}
		for range depth - 2 {
			enc = append(enc, fmt.Sprintf("conv:%d:3", width), "relu")
		}
		dec := []string{fmt.Sprintf("conv:%d:3", 4*channels), "shuffle:2"}
		return Config{Channels: channels, Encoder: enc, Decoder: dec, Residual: true, Loss: LossMSE}, nil
	case "colorize":
		width, err := arg(1, 64)
		if err != nil {
			return Config{}, err
		}
		enc, dec := colorizeTrunk(width)
		dec = append(dec, "conv:32:3", "shuffle:4")
		return Config{Channels: 1, Encoder: enc, Decoder: dec, Loss: LossMSE, Color: "lab"}, nil
	case "colorize-classes":
		// the same trunk classifying a,b at a quarter of the resolution
		// (Zhang et al.'s layout): one logit per a,b class, decoded by the
		// annealed mean at temperature T and upsampled bilinearly
		width, err := arg(1, 64)
		if err != nil {
			return Config{}, err
		}
		t := 0.38
		if len(f) > 2 {
			if t, err = strconv.ParseFloat(f[2], 64); err != nil || !(t > 0 && t <= 10) {
				return Config{}, fmt.Errorf("ae: preset %q: the temperature must be in (0, 10]", name)
			}
		}
		enc, dec := colorizeTrunk(width)
		dec = append(dec, fmt.Sprintf("conv:%d:1", nn.ABClassCount()), "abmean:"+strconv.FormatFloat(t, 'g', -1, 64), "upsample:4:bilinear")
		return Config{Channels: 1, Encoder: enc, Decoder: dec, Loss: LossABClasses, Color: "lab"}, nil
	case "mnist-conv":
		code, err := arg(1, 32)
		if err != nil {
			return Config{}, err
		}
		enc := []string{"conv:32:3:s2", "relu", "conv:64:3:s2", "relu", "flatten", fmt.Sprintf("dense:%d", code)}
		dec := []string{"dense:3136", "relu", "reshape:64:7:7", "convt:32:3:s2", "relu", "convt:1:3:s2", "sigmoid"}
		return Config{Input: []int{1, 28, 28}, Encoder: enc, Decoder: dec, Loss: LossMSE, Color: "grey"}, nil
	case "mnist-vae-conv":
		code, err := arg(1, 32)
		if err != nil {
			return Config{}, err
		}
		enc := []string{"conv:32:3:s2", "relu", "conv:64:3:s2", "relu", "flatten", "dense:512", "relu", fmt.Sprintf("dense:%d", 2*code)}
		dec := []string{"dense:512", "relu", "dense:3136", "relu", "reshape:64:7:7", "convt:32:3:s2", "relu", "convt:1:3:s2", "sigmoid"}
		return Config{Input: []int{1, 28, 28}, Encoder: enc, Decoder: dec, Loss: LossELBO, Color: "grey",
			Variational: true, Likelihood: LikelihoodBernoulli, Beta: 1}, nil
	}
	return Config{}, fmt.Errorf("ae: unknown preset %q; want restore[:DEPTH[:WIDTH]], colorize[:WIDTH], colorize-classes[:WIDTH[:T]], mnist-conv[:CODE] or mnist-vae-conv[:CODE]", name)
}

// colorizeTrunk is the colorizers' network up to their output layers: L
// through a 4× pixel unshuffle and 3×3 convolutions of width channels
// dilated 1, 1, 2, 4, 8, 16, 8, 4, 2, 1 (a receptive field of about 250
// pixels), at a quarter of the resolution.
func colorizeTrunk(width int) (enc, dec []string) {
	c := func(d int) string {
		if d == 1 {
			return fmt.Sprintf("conv:%d:3", width)
		}
		return fmt.Sprintf("conv:%d:3:d%d", width, d)
	}
	enc = []string{"unshuffle:4", c(1), "relu", c(1), "relu", c(2), "relu", c(4), "relu", c(8), "relu", c(16), "relu"}
	dec = []string{c(8), "relu", c(4), "relu", c(2), "relu", c(1), "relu"}
	return enc, dec
}
