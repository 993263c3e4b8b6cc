package ae

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/bottleneck-ml/bottleneck/tensor"
)

func TestConvPresetsBuild(t *testing.T) {
	for _, p := range []string{"restore", "restore:4:8", "colorize:8", "mnist-conv:16"} {
		cfg, err := ConvPreset(p, 1)
		if err != nil {
			t.Fatalf("ConvPreset(%q): %v", p, err)
		}
		m, err := NewConv(cfg, 1)
		if err != nil {
			t.Fatalf("NewConv(%q): %v", p, err)
		}
		h := 16
		if cfg.InputShape != nil {
			h = cfg.InputShape[1]
		}
		x := tensor.New(2, cfg.InChannels, h, h)
		y, err := m.Apply(x)
		if err != nil {
			t.Fatal(err)
		}
		if want := []int{2, cfg.OutChannels, h, h}; !slices.Equal(y.Shape, want) {
			t.Errorf("%s: output %v; want %v", p, y.Shape, want)
		}
	}
}

func TestConvSpeed(t *testing.T) {
	if testing.Short() {
		t.Skip("manual")
	}
	cfg, _ := ConvPreset("restore:12:64", 1)
	m, _ := NewConv(cfg, 1)
	x := tensor.New(16, 1, 64, 64)
	y := tensor.New(16, 1, 64, 64)
	m.TrainStep(x, y)
	st := time.Now()
	for range 3 {
		m.TrainStep(x, y)
	}
	t.Logf("step %.2fs", time.Since(st).Seconds()/3)
	_ = context.Background
	_ = filepath.Join
	_ = rand.New
}
