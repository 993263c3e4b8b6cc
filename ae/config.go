// Package ae builds autoencoders from a Config, runs them (encode, decode,
// reconstruct, one training step) and saves them to and loads them from
// model files.
//
// A model file is a safetensors container: the weights under PyTorch-style
// names ("encoder.0.weight", "decoder.4.bias", …) so any safetensors reader
// can load them, and in "__metadata__" everything else needed to use them:
// the format version, the architecture Config, the preprocessing fitted on
// the training data, the training record and (for detectors) thresholds.
package ae

import (
	"fmt"
	"slices"

	"github.com/bottleneck-ml/bottleneck/nn"
)

// Config describes an autoencoder's architecture. It is stored in every
// model file as JSON.
type Config struct {
	Arch       string `json:"arch"`        // "dense"
	InputShape []int  `json:"input_shape"` // per sample, e.g. [784] or [1,28,28]
	Hidden     []int  `json:"hidden"`      // encoder widths, input side first
	Code       int    `json:"code"`        // bottleneck width
	// DecoderHidden are the decoder widths, code side first; nil mirrors
	// Hidden.
	DecoderHidden  []int   `json:"decoder_hidden,omitempty"`
	Activation     string  `json:"activation"`        // hidden layers
	CodeActivation string  `json:"code_activation"`   // the code layer, identity by default
	Output         string  `json:"output_activation"` // sigmoid for [0,1] data, identity otherwise
	Dropout        float64 `json:"dropout,omitempty"` // after each hidden activation, training only
	Loss           string  `json:"loss"`              // mse, l1, bce
	// Sparsity is an activity penalty on the code while training
	// ("l1:λ" or "kl:ρ:β"; see sparse.go), "" none.
	Sparsity string `json:"sparsity,omitempty"`
	// Variational autoencoders (Arch "vae", see vae.go).
	Likelihood string  `json:"likelihood,omitempty"` // bernoulli or gaussian
	Beta       float64 `json:"beta,omitempty"`       // weight of the KL term (β-VAE); 0 means 1
	Binarize   bool    `json:"binarize,omitempty"`   // train on Bernoulli samples of the inputs (dynamic binarisation)
}

// Input is the number of input features (the product of InputShape). A
// negative dimension gives -1 and a product past 2⁴⁰ saturates there, so a
// damaged config cannot overflow it.
func (c *Config) Input() int {
	const limit = 1 << 40
	n := 1
	for _, d := range c.InputShape {
		if d < 0 {
			return -1
		}
		if d > limit || n*d > limit {
			return limit
		}
		n *= d
	}
	return n
}

// Decoder returns the decoder widths (code side first).
func (c *Config) Decoder() []int {
	if c.DecoderHidden != nil {
		return c.DecoderHidden
	}
	d := slices.Clone(c.Hidden)
	slices.Reverse(d)
	return d
}

// Defaults fills empty fields: ReLU hidden activations, identity code, and
// the output/loss pair that fits the data range (sigmoid + BCE for data in
// [0,1], identity + MSE otherwise).
func (c *Config) Defaults(unitRange bool) {
	if c.Arch == "" {
		c.Arch = "dense"
	}
	if c.Arch == ArchVAE {
		c.vaeDefaults(unitRange)
	}
	if c.Activation == "" {
		c.Activation = nn.ActReLU
	}
	if c.CodeActivation == "" {
		c.CodeActivation = nn.ActIdentity
	}
	if c.Output == "" {
		if unitRange {
			c.Output = nn.ActSigmoid
		} else {
			c.Output = nn.ActIdentity
		}
	}
	if c.Loss == "" {
		if c.Output == nn.ActSigmoid {
			c.Loss = nn.LossBCE
		} else {
			c.Loss = nn.LossMSE
		}
	}
}

// Validate reports a config that cannot be built, saying which field.
func (c *Config) Validate() error {
	if c.Arch == ArchVAE {
		return c.validateVAE()
	}
	if err := c.validateSparsity(); err != nil {
		return err
	}
	if c.Arch != "dense" {
		return fmt.Errorf("ae: architecture %q is not supported (want dense)", c.Arch)
	}
	if len(c.InputShape) == 0 || c.Input() <= 0 {
		return fmt.Errorf("ae: input shape %v is empty", c.InputShape)
	}
	if c.Code <= 0 {
		return fmt.Errorf("ae: code size %d must be positive", c.Code)
	}
	for _, h := range append(slices.Clone(c.Hidden), c.Decoder()...) {
		if h <= 0 {
			return fmt.Errorf("ae: hidden width %d must be positive", h)
		}
	}
	for _, a := range []string{c.Activation, c.CodeActivation, c.Output} {
		if _, err := nn.NewActivation(a); err != nil {
			return fmt.Errorf("ae: %w", err)
		}
	}
	if c.Dropout < 0 || c.Dropout >= 1 {
		return fmt.Errorf("ae: dropout %v must be in [0, 1)", c.Dropout)
	}
	switch c.Loss {
	case nn.LossMSE, nn.LossL1, nn.LossBCE:
	default:
		return fmt.Errorf("ae: loss %q is not supported (want mse, l1 or bce)", c.Loss)
	}
	if c.Loss == nn.LossBCE && c.Output != nn.ActSigmoid {
		return fmt.Errorf("ae: loss bce needs a sigmoid output, have %q; use --loss mse or scale the data to [0,1]", c.Output)
	}
	return nil
}

// ParamCount is the number of parameters a model built from c has,
// computed without building it (loaders use it to refuse a config that
// asks for more weights than the file holds). It saturates instead of
// overflowing.
func (c *Config) ParamCount() int {
	if c.Arch == ArchVAE {
		return c.vaeParamCount()
	}
	const limit = 1 << 40
	total := 0
	in := c.Input()
	widths := append(append(slices.Clone(c.Hidden), c.Code), c.Decoder()...)
	widths = append(widths, in)
	for _, w := range widths {
		if in > limit || w > limit {
			return limit
		}
		total += in*w + w
		if total > limit {
			return limit
		}
		in = w
	}
	return total
}
