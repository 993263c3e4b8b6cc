package cli

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/anomaly"
)

// TestTrainImageDefaults checks that a dense model on IDX images gets the
// image defaults (epochs, rate, schedule, activation) where the flags are
// not given, that a VAE and a table keep the flags' defaults, and that a
// table filtered by --normal trains anomaly.NormalEpochs unless --epochs
// is given.
func TestTrainImageDefaults(t *testing.T) {
	dir := t.TempDir()
	idx := writeLabelledIDX(t, dir, "train", 200, 1)
	table := writeTable(t, dir, 200)
	tests := []struct {
		name     string
		args     []string
		epochs   int
		lr       float64
		schedule string
		act      string
	}{
		{"images", []string{"--data", idx}, anomaly.ImageEpochs, anomaly.ImageLR, anomaly.ImageSchedule, anomaly.ImageActivation},
		{"images, --epochs", []string{"--data", idx, "--epochs", "2"}, 2, anomaly.ImageLR, anomaly.ImageSchedule, anomaly.ImageActivation},
		{"images, every flag", []string{"--data", idx, "--epochs", "2", "--lr", "1e-3", "--schedule", "constant", "--activation", "relu"}, 2, 1e-3, "constant", "relu"},
		{"images, vae", []string{"--data", idx, "--arch", "vae", "--epochs", "2"}, 2, 1e-3, "constant", "relu"},
		{"table", []string{"--data", table, "--label", "class"}, 20, 1e-3, "constant", "relu"},
		{"table, --normal", []string{"--data", table, "--label", "class", "--normal", "normal"}, anomaly.NormalEpochs, 1e-3, "constant", "relu"},
		{"table, --normal, --epochs", []string{"--data", table, "--label", "class", "--normal", "normal", "--epochs", "3"}, 3, 1e-3, "constant", "relu"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			model := filepath.Join(dir, "m"+string(rune('a'+i))+".safetensors")
			args := append([]string{"train", "-o", model, "--hidden", "8", "--code", "2", "-q", "--no-plot"}, tt.args...)
			mustRun(t, args...)
			m, err := ae.Open(model)
			if err != nil {
				t.Fatal(err)
			}
			r := m.Training
			if r.MaxEpochs != tt.epochs || r.LR != tt.lr || r.Schedule != tt.schedule {
				t.Errorf("record: %d epochs, lr %g, schedule %q; want %d, %g, %q", r.MaxEpochs, r.LR, r.Schedule, tt.epochs, tt.lr, tt.schedule)
			}
			if !slices.Contains(m.Config.Encoder, tt.act) {
				t.Errorf("encoder %v; want %s hidden layers", m.Config.Encoder, tt.act)
			}
		})
	}
}
