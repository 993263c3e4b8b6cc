package onnx

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// build splits the layers at the code, makes the model and copies the
// weights in.
func (im *importer) build(code string) (*ae.Model, error) {
	specs := make([]string, len(im.items))
	for i, it := range im.items {
		specs[i] = it.spec
	}
	cfg := ae.Config{Loss: ae.LossMSE, Residual: im.resid}
	if known(im.in) {
		cfg.Input = slices.Clone(im.in)
	} else {
		cfg.Channels = im.in[0]
	}
	var split int
	switch {
	case im.vaeAt >= 0:
		split = im.vaeAt
		if code != "" && im.after[code] != split {
			return nil, fmt.Errorf("%w: the model is a VAE; its code is the mean its Slice takes, not %q", ErrUnsupported, code)
		}
	case code != "":
		k, ok := im.after[code]
		if !ok {
			return nil, fmt.Errorf("%w: --code %q is not a tensor on the path from the input to the output; the path has %s", ErrUnsupported, code, im.pathNames())
		}
		split = k
	default:
		if k, ok := im.after[CodeName]; ok {
			split = k
			break
		}
		var err error
		if split, err = narrowest(cfg, specs); err != nil {
			return nil, err
		}
	}
	if split < 1 {
		return nil, fmt.Errorf("%w: the code %q comes before any layer; name a layer's output", ErrUnsupported, code)
	}
	cfg.Encoder, cfg.Decoder = specs[:split], specs[split:]
	if im.vaeAt >= 0 {
		cfg.Variational, cfg.Loss, cfg.Beta = true, ae.LossELBO, 1
		cfg.Likelihood = ae.LikelihoodGaussian
		if specs[len(specs)-1] == nn.ActSigmoid {
			cfg.Likelihood = ae.LikelihoodBernoulli
		}
	}
	m, err := ae.New(cfg, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: the layers %s | %s: %w", ErrUnsupported, strings.Join(cfg.Encoder, ","), strings.Join(cfg.Decoder, ","), err)
	}
	byName := map[string][]float32{}
	for i, it := range im.items {
		prefix := "encoder." + strconv.Itoa(i) + "."
		if i >= split {
			prefix = "decoder." + strconv.Itoa(i-split) + "."
		}
		for k, v := range it.weights {
			byName[prefix+k] = v
		}
	}
	for _, p := range append(slices.Clone(m.Params.Params), m.Buffers...) {
		if p.Name == logvarParam {
			continue // a Gaussian VAE's learned variance is not in the graph: 0 (σ = 1), or restore's
		}
		v, ok := byName[p.Name]
		if !ok || len(v) != len(p.W) {
			return nil, fmt.Errorf("onnx: tensor %s of %d values has %d in the graph; this is a bug", p.Name, len(p.W), len(v))
		}
		copy(p.W, v)
	}
	return m, nil
}

// pathNames lists the tensors a --code may name.
func (im *importer) pathNames() string {
	var names []string
	for _, n := range im.chain {
		names = append(names, strconv.Quote(n.GetOutput()[0]))
	}
	if len(names) > 12 {
		names = append(names[:12], "…")
	}
	return strings.Join(names, ", ")
}

// narrowest is the number of layers up to the narrowest activation
// strictly inside the network: the last of the first run of equally
// narrow ones.
func narrowest(cfg ae.Config, specs []string) (int, error) {
	if len(specs) < 2 {
		return 0, fmt.Errorf("%w: one layer has no code inside it", ErrUnsupported)
	}
	probe := cfg.Input
	if probe == nil {
		k := 4 * nn.SpecMultiple(specs)
		probe = []int{cfg.Channels, k, k}
	}
	layers, err := nn.ParseSpecs(specs, nn.SpecInput{Channels: cfg.InChannels(), Shape: probe})
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	net, err := nn.NewNet(probe, layers...)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	best, at := -1, 0
	for i := 1; i < len(specs); i++ {
		s := tensor.Size(net.Shape(i))
		switch {
		case best < 0 || s < best:
			best, at = s, i
		case s == best && at == i-1:
			at = i
		}
	}
	return at, nil
}

// plainSpecs drops the layers that compute nothing at inference (and the
// flatten before a dense layer, which flattens by itself), so that a
// graph's layers can be compared with a stored config.
func plainSpecs(specs []string) []string {
	var out []string
	for _, s := range specs {
		if s == nn.ActIdentity || s == "flatten" || strings.HasPrefix(s, "dropout:") {
			continue
		}
		out = append(out, s)
	}
	return out
}

// restore gives a model exported by bottleneck back its config,
// preprocessing and metadata sections, when the graph's layers are the
// stored config's.
func (im *importer) restore(m *ae.Model) (*ae.Model, error) {
	if raw := im.props[MetaConfig]; raw != "" {
		var cfg ae.Config
		if err := json.Unmarshal([]byte(raw), &cfg); err == nil && cfg.Variational == m.Config.Variational && cfg.Residual == m.Config.Residual &&
			slices.Equal(plainSpecs(append(slices.Clone(cfg.Encoder), cfg.Decoder...)), plainSpecs(append(slices.Clone(m.Config.Encoder), m.Config.Decoder...))) {
			if m0, err := ae.New(cfg, 0); err == nil && sameLayout(m0, m) {
				copy(m0.Params.W, m.Params.W)
				for i, b := range m.Buffers {
					copy(m0.Buffers[i].W, b.W)
				}
				m = m0
			}
		}
	}
	if raw := im.props[MetaLogvar]; raw != "" {
		var lv []float32
		if err := json.Unmarshal([]byte(raw), &lv); err != nil {
			return nil, fmt.Errorf("onnx: metadata %s is not valid (%v)", MetaLogvar, err)
		}
		for _, p := range m.Params.Params {
			if p.Name == logvarParam && len(p.W) == len(lv) {
				copy(p.W, lv)
			}
		}
	}
	if raw := im.props[MetaPreprocess]; raw != "" {
		var p dataset.Preprocessor
		if err := json.Unmarshal([]byte(raw), &p); err != nil {
			return nil, fmt.Errorf("onnx: metadata %s is not valid (%v)", MetaPreprocess, err)
		}
		if m.Config.Input != nil && p.Dim() > 0 && tensor.Size(m.Config.Input)%p.Dim() == 0 {
			m.Preprocess = &p
		}
	}
	if raw := im.props[MetaSections]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &m.Meta); err != nil {
			return nil, fmt.Errorf("onnx: metadata %s is not valid (%v)", MetaSections, err)
		}
	}
	return m, nil
}

// sameLayout reports whether two models have parameters and buffers of the
// same shapes in the same order.
func sameLayout(a, b *ae.Model) bool {
	pa := append(slices.Clone(a.Params.Params), a.Buffers...)
	pb := append(slices.Clone(b.Params.Params), b.Buffers...)
	return len(pa) == len(pb) && len(a.Buffers) == len(b.Buffers) && !slices.ContainsFunc(pa, func(p *nn.Param) bool {
		i := slices.Index(pa, p)
		return !slices.Equal(p.Shape, pb[i].Shape)
	})
}
