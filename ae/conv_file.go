package ae

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/bottleneck-ml/bottleneck/internal/safetensors"
	"github.com/bottleneck-ml/bottleneck/nn"
)

// ErrConvModel is wrapped by Load when the file holds a convolutional
// image model; read it with LoadConv.
var ErrConvModel = errors.New("the file holds a convolutional image model")

// heInit redraws every convolution weight from N(0, 2/fan_in) (He et al.
// 2015), which deep ReLU stacks such as DnCNN train better from than
// PyTorch's default, except a convolution feeding a sigmoid or tanh; biases
// stay as drawn.
func (m *ConvModel) heInit(seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x6865))
	n := m.anyNet()
	var last *nn.Param
	for i, l := range n.net.Layers {
		var w *nn.Param
		fan := 0
		switch c := l.(type) {
		case *nn.Conv2D:
			w = c.Weight
			fan = w.Size() / w.Shape[0]
		default:
			continue
		}
		if i+1 < len(n.net.Layers) {
			switch n.net.Layers[i+1].(type) {
			case *nn.Sigmoid, *nn.Tanh:
				// a saturating output keeps PyTorch's smaller default
				// draw: He's would start it saturated
				continue
			}
		}
		s := math.Sqrt(2 / float64(fan))
		for i := range w.W {
			w.W[i] = float32(s * rng.NormFloat64())
		}
		last = w
	}
	// A residual model starts close to the identity: its last convolution
	// predicts a small residual.
	if m.Config.Residual && last != nil {
		for i := range last.W {
			last.W[i] *= 0.1
		}
	}
}

// Save writes the model atomically: weights and BatchNorm running
// statistics under their layer names, the config and training record in
// the metadata.
func (m *ConvModel) Save(path string) error { return m.SaveWith(path, nil) }

// SaveWith is Save with extra tensors and metadata (checkpoints).
func (m *ConvModel) SaveWith(path string, extra *Extra) error {
	cfg, err := json.Marshal(m.Config)
	if err != nil {
		return fmt.Errorf("ae: save %s: %w", path, err)
	}
	meta := map[string]string{metaFormat: FormatName, metaVersion: strconv.Itoa(FormatVersion), metaConfig: string(cfg)}
	if len(m.Training) > 0 {
		meta[metaTraining] = string(m.Training)
	}
	return writeModelFile(path, meta, append(slices.Clone(m.Params.Params), m.Buffers...), extra)
}

// IsConvFile reports whether a model file's metadata says it is a conv
// image model.
func IsConvFile(meta map[string]string) bool {
	var a struct {
		Arch string `json:"arch"`
	}
	return json.Unmarshal([]byte(meta[metaConfig]), &a) == nil && a.Arch == ArchConv
}

// LoadConv reads a conv image model file.
func LoadConv(path string) (*ConvModel, error) {
	m, _, err := LoadConvWith(path)
	return m, err
}

// LoadConvWith is LoadConv that also returns the extra tensors and
// metadata (a checkpoint's optimiser state).
func LoadConvWith(path string) (*ConvModel, *Extra, error) { return loadFile(path, convFromParts) }

// DecodeConv builds a conv model from the bytes of a model file (models
// embedded in the binary).
func DecodeConv(data []byte) (*ConvModel, error) { return decodeBytes(data, convFromParts) }

func convFromParts(ts []safetensors.Tensor, meta map[string]string) (*ConvModel, *Extra, error) {
	if err := checkFormat(meta); err != nil {
		return nil, nil, err
	}
	var cfg ConvConfig
	if err := json.Unmarshal([]byte(meta[metaConfig]), &cfg); err != nil {
		return nil, nil, fmt.Errorf("config metadata is not valid JSON (%v); the file is damaged", err)
	}
	if cfg.Arch != ArchConv {
		return nil, nil, fmt.Errorf("the file holds a %q model, not a convolutional image model; use it with train/eval/reconstruct", cfg.Arch)
	}
	for _, d := range cfg.InputShape {
		if d < 1 || d > 1<<14 {
			return nil, nil, fmt.Errorf("config input shape %v is out of range; the file is damaged", cfg.InputShape)
		}
	}
	// A damaged or hostile config must not make us allocate more weights
	// than the file holds.
	layers, err := cfg.layers()
	if err != nil {
		return nil, nil, err
	}
	var need, held float64
	for _, l := range layers {
		for _, p := range l.Params() {
			n := 1.0
			for _, d := range p.Shape {
				n *= float64(d)
			}
			need += n
		}
	}
	for _, t := range ts {
		held += float64(len(t.Data))
	}
	if need > held {
		return nil, nil, fmt.Errorf("config needs %.0f weights but the file holds %.0f; the file does not match its config", need, held)
	}
	m, err := buildConv(cfg)
	if err != nil {
		return nil, nil, err
	}
	used, err := bindTensors(ts, append(slices.Clone(m.Params.Params), m.Buffers...))
	if err != nil {
		return nil, nil, err
	}
	if r := meta[metaTraining]; r != "" {
		if !json.Valid([]byte(r)) {
			return nil, nil, fmt.Errorf("training metadata is not valid JSON; the file is damaged")
		}
		m.Training = []byte(r)
	}
	return m, collectExtra(ts, used, meta, metaTraining), nil
}
