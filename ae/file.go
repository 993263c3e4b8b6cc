package ae

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/bottleneck-ml/bottleneck/internal/safetensors"
	"github.com/bottleneck-ml/bottleneck/nn"
)

// FormatName and FormatVersion identify bottleneck model files. A file with
// a newer version than this build knows is refused with a hint to upgrade.
const (
	FormatName    = "bottleneck"
	FormatVersion = 1
)

// Metadata keys in the safetensors header.
const (
	metaFormat     = "format"
	metaVersion    = "format_version"
	metaConfig     = "config"
	metaPreprocess = "preprocess"
	metaTraining   = "training"
	metaThreshold  = "threshold"
)

// Extra carries additional tensors and metadata saved beside the model, as a
// checkpoint does with its optimiser state. Names must not collide with the
// model's parameter names.
type Extra struct {
	Tensors []safetensors.Tensor
	Meta    map[string]string
}

// Save writes the model atomically to path (temp file, fsync, rename), so
// an interrupted save never destroys an existing file.
func (m *Model) Save(path string) error { return m.SaveWith(path, nil) }

// SaveWith is Save with extra tensors and metadata (checkpoints).
func (m *Model) SaveWith(path string, extra *Extra) error {
	cfg, err := json.Marshal(m.Config)
	if err != nil {
		return fmt.Errorf("ae: save %s: %w", path, err)
	}
	meta := map[string]string{
		metaFormat:  FormatName,
		metaVersion: strconv.Itoa(FormatVersion),
		metaConfig:  string(cfg),
	}
	if len(m.Preprocess) > 0 {
		meta[metaPreprocess] = string(m.Preprocess)
	}
	if len(m.Training) > 0 {
		meta[metaTraining] = string(m.Training)
	}
	if len(m.Threshold) > 0 {
		meta[metaThreshold] = string(m.Threshold)
	}
	return writeModelFile(path, meta, m.Params.Params, extra)
}

// writeModelFile writes params (then extra's tensors) with meta (plus
// extra's keys, which may not override the model's own) atomically to
// path; dense and conv models share it so both formats stay one format.
func writeModelFile(path string, meta map[string]string, params []*nn.Param, extra *Extra) error {
	ts := make([]safetensors.Tensor, 0, len(params))
	for _, p := range params {
		ts = append(ts, safetensors.Tensor{Name: p.Name, Shape: p.Shape, Data: p.W})
	}
	if extra != nil {
		for k, v := range extra.Meta {
			if _, ok := meta[k]; ok {
				return fmt.Errorf("ae: save %s: metadata key %q is reserved", path, k)
			}
			meta[k] = v
		}
		ts = append(ts, extra.Tensors...)
	}
	if err := safetensors.WriteFile(path, ts, meta); err != nil {
		return fmt.Errorf("ae: save %s: %w", path, err)
	}
	return nil
}

// ErrNotModel is wrapped by Load when the file is a valid safetensors file
// but not a bottleneck model.
var ErrNotModel = errors.New("not a bottleneck model file")

// Load reads a model file written by Save.
func Load(path string) (*Model, error) {
	m, _, err := LoadWith(path)
	return m, err
}

// LoadWith reads a model file and returns, besides the model, the tensors
// and metadata that are not part of it (a checkpoint's optimiser state).
func LoadWith(path string) (*Model, *Extra, error) { return loadFile(path, fromParts) }

// loadFile reads a model file of either kind with its parts function
// (fromParts or convFromParts), naming the file in errors.
func loadFile[M any](path string, parts func([]safetensors.Tensor, map[string]string) (M, *Extra, error)) (M, *Extra, error) {
	var zero M
	ts, meta, err := safetensors.ReadFile(path)
	if err != nil {
		return zero, nil, fmt.Errorf("ae: load %s: %w", path, err)
	}
	m, extra, err := parts(ts, meta)
	if err != nil {
		return zero, nil, fmt.Errorf("ae: load %s: %w", path, err)
	}
	return m, extra, nil
}

// decodeBytes builds a model of either kind from the bytes of a file.
func decodeBytes[M any](data []byte, parts func([]safetensors.Tensor, map[string]string) (M, *Extra, error)) (M, error) {
	var zero M
	ts, meta, err := safetensors.Read(data)
	if err != nil {
		return zero, fmt.Errorf("ae: %w", err)
	}
	m, _, err := parts(ts, meta)
	if err != nil {
		return zero, fmt.Errorf("ae: %w", err)
	}
	return m, nil
}

// Decode builds a model from the bytes of a model file (used for models
// embedded in the binary).
func Decode(data []byte) (*Model, error) { return decodeBytes(data, fromParts) }

func fromParts(ts []safetensors.Tensor, meta map[string]string) (*Model, *Extra, error) {
	if err := checkFormat(meta); err != nil {
		return nil, nil, err
	}
	var cfg Config
	if err := json.Unmarshal([]byte(meta[metaConfig]), &cfg); err != nil {
		return nil, nil, fmt.Errorf("config metadata is not valid JSON (%v); the file is damaged", err)
	}
	if cfg.Arch == ArchConv {
		return nil, nil, fmt.Errorf("%w; use it with denoise, upscale, colorize, eval or reconstruct (ae.LoadConv)", ErrConvModel)
	}
	if cfg.Input() > 1<<28 || cfg.Code > 1<<24 {
		return nil, nil, fmt.Errorf("config asks for an absurd size (input %v, code %d); the file is damaged", cfg.InputShape, cfg.Code)
	}
	for _, h := range append(slices.Clone(cfg.Hidden), cfg.DecoderHidden...) {
		if h > 1<<24 {
			return nil, nil, fmt.Errorf("config asks for a hidden width of %d; the file is damaged", h)
		}
	}
	held := 0
	for _, t := range ts {
		held += len(t.Data)
	}
	if need := cfg.ParamCount(); need > held {
		return nil, nil, fmt.Errorf("config needs %d weights but the file holds %d; the file does not match its config", need, held)
	}
	m, err := build(cfg)
	if err != nil {
		return nil, nil, err
	}
	used, err := bindTensors(ts, m.Params.Params)
	if err != nil {
		return nil, nil, err
	}
	m.Preprocess = rawOrNil(meta[metaPreprocess])
	m.Training = rawOrNil(meta[metaTraining])
	m.Threshold = rawOrNil(meta[metaThreshold])
	for _, k := range []string{metaPreprocess, metaTraining, metaThreshold} {
		if r := m.rawField(k); len(r) > 0 && !json.Valid(r) {
			return nil, nil, fmt.Errorf("%s metadata is not valid JSON; the file is damaged", k)
		}
	}
	return m, collectExtra(ts, used, meta, metaPreprocess, metaTraining, metaThreshold), nil
}

// checkFormat refuses metadata that is not a bottleneck model of a format
// version this build reads.
func checkFormat(meta map[string]string) error {
	if meta[metaFormat] != FormatName {
		return fmt.Errorf("%w: metadata has format %q, want %q; pass a file written by 'bottleneck train'", ErrNotModel, meta[metaFormat], FormatName)
	}
	v, err := strconv.Atoi(meta[metaVersion])
	if err != nil {
		return fmt.Errorf("format version %q is not a number; the file is damaged", meta[metaVersion])
	}
	if v > FormatVersion || v < 1 {
		return fmt.Errorf("format version %d, this build reads up to %d; upgrade bottleneck to read it", v, FormatVersion)
	}
	return nil
}

// bindTensors copies the file's tensors into params by name, checking that
// each is present with the expected shape. It returns the names it used.
func bindTensors(ts []safetensors.Tensor, params []*nn.Param) (map[string]bool, error) {
	byName := make(map[string]safetensors.Tensor, len(ts))
	for _, t := range ts {
		byName[t.Name] = t
	}
	used := make(map[string]bool, len(params))
	for _, p := range params {
		t, ok := byName[p.Name]
		if !ok {
			return nil, fmt.Errorf("tensor %q is missing; the file does not match its config", p.Name)
		}
		if !slices.Equal(t.Shape, p.Shape) || len(t.Data) != len(p.W) {
			return nil, fmt.Errorf("tensor %q has shape %v, config needs %v; the file does not match its config", p.Name, t.Shape, p.Shape)
		}
		copy(p.W, t.Data)
		used[p.Name] = true
	}
	return used, nil
}

// collectExtra gathers what a file holds besides the model: tensors not
// used, and metadata other than the format keys and the model's own keys.
func collectExtra(ts []safetensors.Tensor, used map[string]bool, meta map[string]string, modelKeys ...string) *Extra {
	extra := &Extra{Meta: map[string]string{}}
	for k, v := range meta {
		if k == metaFormat || k == metaVersion || k == metaConfig || slices.Contains(modelKeys, k) {
			continue
		}
		extra.Meta[k] = v
	}
	for _, t := range ts {
		if !used[t.Name] {
			extra.Tensors = append(extra.Tensors, t)
		}
	}
	return extra
}

func (m *Model) rawField(k string) json.RawMessage {
	switch k {
	case metaPreprocess:
		return m.Preprocess
	case metaTraining:
		return m.Training
	case metaThreshold:
		return m.Threshold
	}
	return nil
}

func rawOrNil(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

// Clone returns a deep copy of the model (weights and metadata), sharing
// no buffers with m.
func (m *Model) Clone() *Model {
	c, err := build(m.Config)
	if err != nil {
		panic("ae: Clone: " + err.Error()) // m was built from the same config
	}
	copy(c.Params.W, m.Params.W)
	c.Preprocess = slices.Clone(m.Preprocess)
	c.Training = slices.Clone(m.Training)
	c.Threshold = slices.Clone(m.Threshold)
	return c
}
