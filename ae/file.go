package ae

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/internal/safetensors"
	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// FormatName and FormatVersion identify bottleneck model files. Version 2
// (one model type) reads version 1 files (separate dense and convolutional
// layouts) by translating their configs and tensor names; a file with a
// newer version than this build knows is refused with a hint to upgrade.
const (
	FormatName    = "bottleneck"
	FormatVersion = 2
)

// Metadata keys in the safetensors header.
const (
	metaFormat     = "format"
	metaVersion    = "format_version"
	metaConfig     = "config"
	metaPreprocess = "preprocess"
	metaTraining   = "training"
)

func reservedKey(k string) bool {
	switch k {
	case metaFormat, metaVersion, metaConfig, metaPreprocess, metaTraining:
		return true
	}
	return false
}

// Record is what training did; it is stored in the model file. Fields a
// kind of training does not use are zero.
type Record struct {
	Epochs        int       `json:"epochs"`                    // epochs completed
	MaxEpochs     int       `json:"max_epochs"`                // epochs asked for
	BestEpoch     int       `json:"best_epoch,omitempty"`      // 1-based epoch whose weights were kept (0: the last)
	Steps         int       `json:"steps_per_epoch,omitempty"` // optimiser steps per epoch
	TrainLoss     []float64 `json:"train_loss"`                // mean training loss per epoch
	ValLoss       []float64 `json:"val_loss,omitempty"`        // validation loss per epoch
	Val           []string  `json:"val,omitempty"`             // extra validation report per epoch (image PSNR)
	Loss          string    `json:"loss,omitempty"`            // the objective
	Batch         int       `json:"batch"`
	Patch         int       `json:"patch,omitempty"` // image tasks: training patch side
	LR            float64   `json:"lr"`
	Optimizer     string    `json:"optimizer,omitempty"`
	Schedule      string    `json:"schedule"`
	Seed          uint64    `json:"seed"`
	EMA           float64   `json:"ema,omitempty"`
	KLWarmup      float64   `json:"kl_warmup,omitempty"`
	TrainRows     int       `json:"train_rows,omitempty"` // samples per epoch
	ValRows       int       `json:"val_rows,omitempty"`
	Data          string    `json:"data,omitempty"`    // fingerprint of the training data (resume refuses other data)
	Seconds       float64   `json:"seconds"`           // wall time of the epochs run (all sessions)
	SamplesPerSec float64   `json:"samples_per_s"`     //
	Stopped       string    `json:"stopped"`           // completed, early-stopping, interrupted, running
	Finished      time.Time `json:"finished"`          //
	Command       string    `json:"command,omitempty"` // the command line(s) that trained it
	// Init is the record of the model training started from (fine-tuning,
	// train.Options.Init), holding its own history in turn; nil when
	// training began from random weights.
	Init *Record `json:"init,omitempty"`
}

// Extra is data saved in a model file beside the model, as a checkpoint
// keeps its optimiser state: tensors by name (they must not collide with
// the model's) and metadata strings (keys must not collide with the
// model's).
type Extra struct {
	Tensors map[string][]float32
	Meta    map[string]string
}

// Save writes the model atomically to path (temp file, fsync, rename), so
// an interrupted save never destroys an existing file.
func (m *Model) Save(path string) error { return m.SaveWith(path, nil) }

// SaveWith is Save with extra tensors and metadata.
func (m *Model) SaveWith(path string, extra *Extra) error {
	b, err := m.encodeFile(extra)
	if err != nil {
		return fmt.Errorf("ae: save %s: %w", path, err)
	}
	if err := safetensors.WriteFile(path, b.tensors, b.meta); err != nil {
		return fmt.Errorf("ae: save %s: %w", path, err)
	}
	return nil
}

type fileParts struct {
	tensors []safetensors.Tensor
	meta    map[string]string
}

func (m *Model) encodeFile(extra *Extra) (*fileParts, error) {
	cfg, err := json.Marshal(m.Config)
	if err != nil {
		return nil, err
	}
	meta := map[string]string{metaFormat: FormatName, metaVersion: strconv.Itoa(FormatVersion), metaConfig: string(cfg)}
	if m.Preprocess != nil {
		b, err := json.Marshal(m.Preprocess)
		if err != nil {
			return nil, err
		}
		meta[metaPreprocess] = string(b)
	}
	if m.Training != nil {
		b, err := json.Marshal(m.Training)
		if err != nil {
			return nil, err
		}
		meta[metaTraining] = string(b)
	}
	for k, v := range m.Meta {
		if reservedKey(k) {
			return nil, fmt.Errorf("metadata section %q is reserved", k)
		}
		if !json.Valid(v) {
			return nil, fmt.Errorf("metadata section %q is not valid JSON", k)
		}
		meta[k] = string(v)
	}
	var ts []safetensors.Tensor
	names := map[string]bool{}
	for _, p := range append(slices.Clone(m.Params.Params), m.Buffers...) {
		ts = append(ts, safetensors.Tensor{Name: p.Name, Shape: p.Shape, Data: p.W})
		names[p.Name] = true
	}
	if extra != nil {
		for k, v := range extra.Meta {
			if _, ok := meta[k]; ok || reservedKey(k) {
				return nil, fmt.Errorf("metadata key %q is the model's", k)
			}
			meta[k] = v
		}
		keys := make([]string, 0, len(extra.Tensors))
		for k := range extra.Tensors {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if names[k] {
				return nil, fmt.Errorf("tensor %q is the model's", k)
			}
			ts = append(ts, safetensors.Tensor{Name: k, Shape: []int{len(extra.Tensors[k])}, Data: extra.Tensors[k]})
		}
	}
	return &fileParts{tensors: ts, meta: meta}, nil
}

// ErrNotModel is wrapped by Open when the file is a valid safetensors file
// but not a bottleneck model.
var ErrNotModel = errors.New("not a bottleneck model file")

// Open reads a model file written by Save (or by the first release, format
// version 1).
func Open(path string) (*Model, error) {
	m, _, err := OpenWith(path)
	return m, err
}

// OpenWith is Open that also returns what the file holds besides the model
// (a checkpoint's optimiser state).
func OpenWith(path string) (*Model, *Extra, error) {
	ts, meta, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("ae: load %s: %w", path, err)
	}
	m, extra, err := fromParts(ts, meta)
	if err != nil {
		return nil, nil, fmt.Errorf("ae: load %s: %w", path, err)
	}
	return m, extra, nil
}

// Decode builds a model from the bytes of a model file (models embedded in
// the binary).
func Decode(data []byte) (*Model, error) {
	ts, meta, err := safetensors.Read(data)
	if err != nil {
		return nil, fmt.Errorf("ae: %w", err)
	}
	m, _, err := fromParts(ts, meta)
	if err != nil {
		return nil, fmt.Errorf("ae: %w", err)
	}
	return m, nil
}

func fromParts(ts []safetensors.Tensor, meta map[string]string) (*Model, *Extra, error) {
	version, err := checkFormat(meta)
	if err != nil {
		return nil, nil, err
	}
	var cfg Config
	convV1 := false
	if version == 1 {
		if cfg, convV1, err = fromV1(meta[metaConfig]); err != nil {
			return nil, nil, err
		}
	} else {
		dec := json.NewDecoder(strings.NewReader(meta[metaConfig]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			return nil, nil, fmt.Errorf("config metadata is not a valid config (%v); the file is damaged", err)
		}
	}
	if err := checkSizes(cfg, ts); err != nil {
		return nil, nil, err
	}
	m, err := build(cfg)
	if err != nil {
		return nil, nil, err
	}
	params := append(slices.Clone(m.Params.Params), m.Buffers...)
	rename := map[string]string{} // tensor name → the name in the file
	if convV1 {
		// v1 conv files name tensors by their index in the whole stack
		n := m.nEnc
		if cfg.Variational {
			n++
		}
		for _, p := range params {
			if rest, ok := strings.CutPrefix(p.Name, "encoder."); ok {
				rename[p.Name] = rest
			} else if rest, ok := strings.CutPrefix(p.Name, "decoder."); ok {
				i, tail, _ := strings.Cut(rest, ".")
				j, _ := strconv.Atoi(i)
				rename[p.Name] = strconv.Itoa(n+j) + "." + tail
			}
		}
	}
	used, err := bindTensors(ts, params, rename)
	if err != nil {
		return nil, nil, err
	}
	if r := meta[metaPreprocess]; r != "" {
		var p dataset.Preprocessor
		if err := json.Unmarshal([]byte(r), &p); err != nil {
			return nil, nil, fmt.Errorf("preprocess metadata is not valid (%v); the file is damaged", err)
		}
		m.Preprocess = &p
	}
	if r := meta[metaTraining]; r != "" {
		var rec Record
		if err := json.Unmarshal([]byte(r), &rec); err != nil {
			return nil, nil, fmt.Errorf("training metadata is not valid (%v); the file is damaged", err)
		}
		m.Training = &rec
	}
	extra := &Extra{Tensors: map[string][]float32{}, Meta: map[string]string{}}
	for k, v := range meta {
		if reservedKey(k) {
			continue
		}
		extra.Meta[k] = v
		if json.Valid([]byte(v)) {
			if m.Meta == nil {
				m.Meta = map[string]json.RawMessage{}
			}
			m.Meta[k] = json.RawMessage(v)
		}
	}
	for _, t := range ts {
		if !used[t.Name] {
			extra.Tensors[t.Name] = t.Data
		}
	}
	return m, extra, nil
}

// checkFormat refuses metadata that is not a bottleneck model of a format
// version this build reads, and returns the version.
func checkFormat(meta map[string]string) (int, error) {
	if meta[metaFormat] != FormatName {
		return 0, fmt.Errorf("%w: metadata has format %q, want %q; pass a file written by 'bottleneck train'", ErrNotModel, meta[metaFormat], FormatName)
	}
	v, err := strconv.Atoi(meta[metaVersion])
	if err != nil {
		return 0, fmt.Errorf("format version %q is not a number; the file is damaged", meta[metaVersion])
	}
	if v > FormatVersion || v < 1 {
		return 0, fmt.Errorf("format version %d, this build reads up to %d; upgrade bottleneck to read it", v, FormatVersion)
	}
	return v, nil
}

// checkSizes refuses a config that asks for absurd shapes or for more
// weights than the file holds, before anything is allocated for it: a
// damaged or hostile file must not make us allocate gigabytes.
func checkSizes(cfg Config, ts []safetensors.Tensor) error {
	for _, d := range cfg.Input {
		if d < 1 || d > 1<<14 {
			return fmt.Errorf("config input shape %v is out of range; the file is damaged", cfg.Input)
		}
	}
	if cfg.Input != nil && tensor.Size(cfg.Input) > 1<<26 {
		return fmt.Errorf("config input shape %v is too large; the file is damaged", cfg.Input)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	layers, err := cfg.layers()
	if err != nil {
		return err
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
		return fmt.Errorf("config needs %.0f weights but the file holds %.0f; the file does not match its config", need, held)
	}
	return nil
}

// bindTensors copies the file's tensors into params by name (through
// rename, when a param's name in the file differs), checking that each is
// present with the expected shape. It returns the file names it used.
func bindTensors(ts []safetensors.Tensor, params []*nn.Param, rename map[string]string) (map[string]bool, error) {
	byName := make(map[string]safetensors.Tensor, len(ts))
	for _, t := range ts {
		byName[t.Name] = t
	}
	used := make(map[string]bool, len(params))
	for _, p := range params {
		name := p.Name
		if r, ok := rename[name]; ok {
			name = r
		}
		t, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("tensor %q is missing; the file does not match its config", name)
		}
		if !slices.Equal(t.Shape, p.Shape) || len(t.Data) != len(p.W) {
			return nil, fmt.Errorf("tensor %q has shape %v, the config needs %v; the file does not match its config", name, t.Shape, p.Shape)
		}
		for _, v := range t.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("tensor %q holds %v; the model is broken (retrain it, or resume from an earlier checkpoint)", name, v)
			}
		}
		copy(p.W, t.Data)
		used[name] = true
	}
	return used, nil
}

// v1Config is the config of a format version 1 file: a dense model ("dense"
// or "vae": widths) or a convolutional one ("conv": layer specs).
type v1Config struct {
	Arch       string  `json:"arch"`
	InputShape []int   `json:"input_shape"`
	Loss       string  `json:"loss"`
	Likelihood string  `json:"likelihood"`
	Beta       float64 `json:"beta"`
	Binarize   bool    `json:"binarize"`
	// dense and vae
	Hidden         []int   `json:"hidden"`
	Code           int     `json:"code"`
	DecoderHidden  []int   `json:"decoder_hidden"`
	Activation     string  `json:"activation"`
	CodeActivation string  `json:"code_activation"`
	Output         string  `json:"output_activation"`
	Dropout        float64 `json:"dropout"`
	Sparsity       string  `json:"sparsity"`
	// conv
	Task        string   `json:"task"`
	InChannels  int      `json:"in_channels"`
	OutChannels int      `json:"out_channels"`
	Encoder     []string `json:"encoder"`
	Decoder     []string `json:"decoder"`
	Residual    bool     `json:"residual"`
	Variational bool     `json:"variational"`
	Noise       string   `json:"noise"`
	Scales      []int    `json:"scales"`
	Color       string   `json:"color"`
}

// fromV1 translates a version 1 config. Dense v1 files already name their
// tensors "encoder.i…"/"decoder.j…" by the same layer lists DenseConfig
// makes; conv v1 files (conv true) name them by the layer's index in the
// whole stack, and the caller renames them.
func fromV1(raw string) (cfg Config, conv bool, err error) {
	var v v1Config
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return Config{}, false, fmt.Errorf("config metadata is not valid JSON (%v); the file is damaged", err)
	}
	switch v.Arch {
	case "dense", "vae":
		if v.Code > 1<<24 || slices.ContainsFunc(append(slices.Clone(v.Hidden), v.DecoderHidden...), func(h int) bool { return h > 1<<24 }) {
			return Config{}, false, fmt.Errorf("config asks for absurd widths; the file is damaged")
		}
		d := Dense{Hidden: v.Hidden, Code: v.Code, DecoderHidden: v.DecoderHidden, Activation: v.Activation,
			CodeActivation: v.CodeActivation, Output: v.Output, Dropout: v.Dropout, Variational: v.Arch == "vae",
			Likelihood: v.Likelihood}
		if v.Arch == "dense" {
			d.Loss = v.Loss
		}
		if len(v.InputShape) == 0 {
			return Config{}, false, fmt.Errorf("config has no input shape; the file is damaged")
		}
		cfg, err := DenseConfig(v.InputShape, false, d)
		if err != nil {
			return Config{}, false, err
		}
		cfg.Sparsity = v.Sparsity
		if cfg.Variational {
			cfg.Beta, cfg.Binarize = v.Beta, v.Binarize
			if cfg.Beta == 0 {
				cfg.Beta = 1
			}
		}
		return cfg, false, nil
	case "conv":
		cfg = Config{Input: v.InputShape, Encoder: v.Encoder, Decoder: v.Decoder, Residual: v.Residual,
			Variational: v.Variational, Loss: v.Loss, Binarize: v.Binarize,
			Task: v.Task, Noise: v.Noise, Scales: v.Scales, Color: v.Color}
		if cfg.Input == nil {
			cfg.Channels = v.InChannels
		} else if len(cfg.Input) != 3 || cfg.Input[0] != v.InChannels {
			return Config{}, false, fmt.Errorf("config input shape %v does not have %d channels; the file is damaged", cfg.Input, v.InChannels)
		}
		if cfg.Variational {
			cfg.Loss, cfg.Likelihood, cfg.Beta = LossELBO, v.Likelihood, v.Beta
			if cfg.Likelihood == "" {
				cfg.Likelihood = LikelihoodBernoulli
			}
		}
		return cfg, true, nil
	}
	return Config{}, false, fmt.Errorf("config has architecture %q, which this build does not know; upgrade bottleneck", v.Arch)
}
