package ae

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"

	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Model is a built autoencoder: an encoder and a decoder net whose
// parameters live in one flat ParamSet (encoder first).
type Model struct {
	Config Config
	Enc    *nn.Net
	Dec    *nn.Net
	Params *nn.ParamSet

	// Preprocess is the preprocessing fitted on the training data, as JSON
	// (the dataset package's Preprocessor); it travels with the weights.
	Preprocess json.RawMessage
	// Training is the training record (the train package's Record) as JSON.
	Training json.RawMessage
	// Threshold is a detector's threshold description as JSON (may be nil).
	Threshold json.RawMessage

	fusedBCE bool      // train on logits with BCEWithLogits (output is sigmoid, loss bce)
	vae      *vae      // variational state (Arch "vae"), see vae.go
	sparse   *sparsity // activity penalty on the code, see sparse.go
	loss     nn.Loss
	dOut     *tensor.Tensor
}

// New builds a model from cfg and initialises it from seed with PyTorch's
// default initialisation.
func New(cfg Config, seed uint64) (*Model, error) {
	m, err := build(cfg)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x6a09e667f3bcc908))
	m.Enc.Init(rng)
	m.Dec.Init(rng)
	return m, nil
}

// build makes the layers and binds the parameters, without initialising.
func build(cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Arch == ArchVAE {
		return buildVAE(cfg)
	}
	var enc, dec []nn.Layer
	width := cfg.Input()
	addBlock := func(layers *[]nn.Layer, in, out int, act string, dropout bool) {
		*layers = append(*layers, nn.NewDense(in, out))
		a, _ := nn.NewActivation(act) // validated above
		*layers = append(*layers, a)
		if dropout && cfg.Dropout > 0 {
			*layers = append(*layers, nn.NewDropout(cfg.Dropout))
		}
	}
	for _, h := range cfg.Hidden {
		addBlock(&enc, width, h, cfg.Activation, true)
		width = h
	}
	addBlock(&enc, width, cfg.Code, cfg.CodeActivation, false)
	width = cfg.Code
	for _, h := range cfg.Decoder() {
		addBlock(&dec, width, h, cfg.Activation, true)
		width = h
	}
	addBlock(&dec, width, cfg.Input(), cfg.Output, false)

	encNet, err := nn.NewNet(cfg.InputShape, enc...)
	if err != nil {
		return nil, fmt.Errorf("ae: encoder: %w", err)
	}
	decNet, err := nn.NewNet(encNet.OutShape, dec...)
	if err != nil {
		return nil, fmt.Errorf("ae: decoder: %w", err)
	}
	decNet.NeedInputGrad()
	params := namedParams(encNet, decNet)
	m := &Model{Config: cfg, Enc: encNet, Dec: decNet, Params: nn.NewParamSet(params)}
	m.fusedBCE = cfg.Loss == nn.LossBCE && cfg.Output == nn.ActSigmoid
	m.sparse, _ = parseSparsity(cfg.Sparsity) // validated above
	if m.fusedBCE {
		m.loss = nn.BCEWithLogits{}
	} else {
		m.loss, err = nn.NewLoss(cfg.Loss)
		if err != nil {
			return nil, fmt.Errorf("ae: %w", err)
		}
	}
	return m, nil
}

// NumParams is the number of trainable parameters.
func (m *Model) NumParams() int { return m.Params.Len() }

// Encode returns the codes of x (batch × input) in the encoder's output
// buffer, valid until the next call.
func (m *Model) Encode(x *tensor.Tensor) *tensor.Tensor {
	if m.vae != nil {
		return m.vaeMean(x)
	}
	return m.Enc.Forward(x, false)
}

// Decode returns the reconstruction of codes z, in the decoder's buffer.
func (m *Model) Decode(z *tensor.Tensor) *tensor.Tensor {
	return m.Dec.Forward(z, false)
}

// Reconstruct returns decode(encode(x)) in the decoder's buffer.
func (m *Model) Reconstruct(x *tensor.Tensor) *tensor.Tensor {
	return m.Decode(m.Encode(x))
}

// decForwardLogits runs the decoder for training. With fused BCE it stops
// before the final sigmoid and returns the logits; otherwise the output.
func (m *Model) decForward(z *tensor.Tensor, train bool) *tensor.Tensor {
	layers := m.Dec.Layers
	if m.fusedBCE {
		layers = layers[:len(layers)-1]
	}
	for _, l := range layers {
		z = l.Forward(z, train)
	}
	return z
}

// TrainStep runs forward and backward for a batch: x is the input, target
// the wanted output (x itself for a plain autoencoder). Gradients are
// accumulated into m.Params.G (the caller zeroes them); it returns the loss.
// With a sigmoid output and BCE loss, the loss is computed from the logits
// (BCEWithLogits), which is exact and never overflows.
func (m *Model) TrainStep(x, target *tensor.Tensor) float64 {
	if m.vae != nil {
		return m.vaeStep(x, target, true)
	}
	z := m.Enc.Forward(x, true)
	out := m.decForward(z, true)
	loss := m.loss.Forward(out, target)
	d := m.dOutBuf(out)
	m.loss.Backward(d, out, target)
	layers := m.Dec.Layers
	if m.fusedBCE {
		layers = layers[:len(layers)-1]
	}
	g := d
	for i := len(layers) - 1; i >= 0; i-- {
		g = layers[i].Backward(g)
	}
	if m.sparse != nil {
		loss += m.sparse.penalty(z, g)
	}
	m.Enc.Backward(g)
	return loss
}

// Loss returns the training loss of a batch without touching gradients
// (dropout off), as used for validation.
func (m *Model) Loss(x, target *tensor.Tensor) float64 {
	if m.vae != nil {
		return m.vaeStep(x, target, false)
	}
	z := m.Enc.Forward(x, false)
	out := m.decForward(z, false)
	loss := m.loss.Forward(out, target)
	if m.sparse != nil {
		loss += m.sparse.penalty(z, nil)
	}
	return loss
}

func (m *Model) dOutBuf(like *tensor.Tensor) *tensor.Tensor {
	if m.dOut == nil || cap(m.dOut.Data) < len(like.Data) {
		m.dOut = tensor.New(like.Shape...)
	}
	m.dOut.Data = m.dOut.Data[:len(like.Data)]
	m.dOut.Shape = append(m.dOut.Shape[:0], like.Shape...)
	return m.dOut
}

// namedParams returns the encoder's then the decoder's parameters, named
// "encoder.<i>.<name>" and "decoder.<i>.<name>" as in the model file.
func namedParams(enc, dec *nn.Net) []*nn.Param {
	var params []*nn.Param
	for _, p := range enc.Params() {
		p.Name = "encoder." + p.Name
		params = append(params, p)
	}
	for _, p := range dec.Params() {
		p.Name = "decoder." + p.Name
		params = append(params, p)
	}
	return params
}
