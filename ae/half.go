package ae

import (
	"bytes"
	"fmt"

	"github.com/bottleneck-ml/bottleneck/internal/safetensors"
)

// StoreHalf returns the model file data with every tensor stored in half
// precision (safetensors F16), about half the bytes. The weights are
// rounded to the nearest half (a relative change under 2⁻¹¹, about 5e-4),
// and every reader of model files reads them back as float32, so the
// model computes in float32 as before from slightly rounded weights: it
// is how the shipped models stay small enough for the binary, and their
// numbers (bottleneck models) are measured on the stored half weights.
// It refuses a file that does not decode as a model, and weights beyond
// F16's range (±65504).
func StoreHalf(data []byte) ([]byte, error) {
	if _, err := Decode(data); err != nil {
		return nil, err
	}
	ts, meta, err := safetensors.Read(data)
	if err != nil {
		return nil, fmt.Errorf("ae: %w", err)
	}
	for i := range ts {
		ts[i].Dtype = safetensors.F16
	}
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, ts, meta); err != nil {
		return nil, fmt.Errorf("ae: store half: %w", err)
	}
	if _, err := Decode(buf.Bytes()); err != nil {
		return nil, fmt.Errorf("ae: store half: the half file does not decode: %w", err)
	}
	return buf.Bytes(), nil
}
