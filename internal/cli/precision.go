package cli

import (
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/nn"
)

// precisionFlag is --precision of the commands that run a model.
type precisionFlag string

func (p *precisionFlag) add(fs *pflag.FlagSet) {
	fs.StringVar((*string)(p), "precision", "fp32", "inference arithmetic: fp32, or int8 (needs AVX512_VNNI, else fp32 runs; what it costs each model: docs/RESULTS.md)")
}

// value is the flag's precision.
func (p precisionFlag) value() (ae.Precision, error) {
	v, err := nn.ParsePrecision(string(p))
	if err != nil {
		return v, usagef("--precision: %v", err)
	}
	return v, nil
}

// apply prepares m's inference at the flag's precision, warning on warn
// when the CPU cannot run it.
func (p precisionFlag) apply(m *ae.Model, warn io.Writer) error {
	v, err := p.value()
	if err != nil {
		return err
	}
	got, err := m.SetPrecision(v)
	if err == nil && got != v {
		fmt.Fprintf(warn, "warning: --precision %v needs AVX512_VNNI, which this CPU (or build) lacks; running %v\n", v, got)
	}
	return err
}
