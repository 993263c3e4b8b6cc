package anomaly

import (
	"testing"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/train"
)

// TestImageDefaults: a dense autoencoder on images gets the image
// defaults in the fields left zero, and nothing else changes: given fields,
// tables, VAEs and explicit architectures keep theirs.
func TestImageDefaults(t *testing.T) {
	images := &dataset.Dataset{Pre: &dataset.Preprocessor{Kind: dataset.KindImage}}
	table := &dataset.Dataset{Pre: &dataset.Preprocessor{Kind: dataset.KindTable}}

	o := TrainOptions{}
	if !ImageDefaults(images, &o) {
		t.Fatal("images, zero options: nothing filled")
	}
	if o.Fit.Epochs != ImageEpochs || o.Fit.LR != ImageLR || o.Fit.Schedule != ImageSchedule || o.Activation != ImageActivation {
		t.Errorf("filled %+v, activation %q", o.Fit, o.Activation)
	}

	o = TrainOptions{Activation: "tanh", Fit: train.Options{Epochs: 3, LR: 1e-4, Schedule: "constant"}}
	if ImageDefaults(images, &o) {
		t.Error("images, every field given: reported filling")
	}
	if o.Fit.Epochs != 3 || o.Fit.LR != 1e-4 || o.Fit.Schedule != "constant" || o.Activation != "tanh" {
		t.Errorf("given fields changed: %+v, activation %q", o.Fit, o.Activation)
	}

	for name, c := range map[string]struct {
		ds *dataset.Dataset
		o  TrainOptions
	}{
		"table":  {table, TrainOptions{}},
		"vae":    {images, TrainOptions{Variational: true}},
		"config": {images, TrainOptions{Config: &ae.Config{}}},
		"no pre": {&dataset.Dataset{}, TrainOptions{}},
	} {
		o := c.o
		if ImageDefaults(c.ds, &o) || o.Fit.Epochs != 0 || o.Activation != "" {
			t.Errorf("%s: filled %+v, activation %q; want nothing", name, o.Fit, o.Activation)
		}
	}
}
