package ae_test

import (
	"fmt"
	"log"
	"math"
	"os"
	"path/filepath"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/optim"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Build a dense autoencoder for 6 features in [0,1], train it a few steps,
// save it and read it back.
func Example() {
	cfg, err := ae.DenseConfig([]int{6}, true, ae.Dense{Hidden: []int{4}, Code: 2})
	if err != nil {
		log.Fatal(err)
	}
	m, err := ae.New(cfg, 1)
	if err != nil {
		log.Fatal(err)
	}
	x := tensor.New(8, 6)
	for i := range x.Data {
		x.Data[i] = float32(i%6) / 5
	}
	opt := optim.NewAdam(1e-2, 0.9, 0.999, 1e-8, 0)
	first, _ := m.Loss(x, x)
	for range 200 {
		m.Params.ZeroGrad()
		if _, err := m.TrainStep(x, x); err != nil {
			log.Fatal(err)
		}
		opt.Step(m.Params.W, m.Params.G)
	}
	last, _ := m.Loss(x, x)
	fmt.Println(cfg.Summary())
	fmt.Println("loss fell:", last < first)

	dir, err := os.MkdirTemp("", "ae-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.safetensors")
	if err := m.Save(path); err != nil {
		log.Fatal(err)
	}
	loaded, err := ae.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	codes, err := loaded.Encode(nil, x)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("codes:", codes.Shape)
	// Output:
	// dense 6 → 4 → 2 → 4 → 6
	// loss fell: true
	// codes: [8 2]
}

// A colorizer that classifies colours (Zhang et al.) is trained on its
// class logits against the true a and b; its annealed mean's temperature
// is a knob at inference: lower gives more saturated colours.
func ExampleModel_SetTemperature() {
	cfg, err := ae.Preset("colorize-classes:8", 1)
	if err != nil {
		log.Fatal(err)
	}
	m, err := ae.New(cfg, 1)
	if err != nil {
		log.Fatal(err)
	}
	l := tensor.New(2, 1, 16, 16)  // L/100 of two 16×16 patches
	ab := tensor.New(2, 2, 16, 16) // their a/110, b/110
	for i := range ab.Data {
		ab.Data[i] = 0.3
	}
	loss, err := m.TrainStep(l, ab) // the cross-entropy, in nats
	if err != nil {
		log.Fatal(err)
	}
	// untrained, about log 261: no class favoured
	fmt.Printf("loss ≈ log(classes): %v, temperature %v\n", math.Abs(loss-math.Log(261)) < 0.5, m.Temperature())
	if err := m.SetTemperature(0.6); err != nil {
		log.Fatal(err)
	}
	out, err := m.Reconstruct(nil, l)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("output", out.Shape, "temperature", m.Temperature())
	// Output:
	// loss ≈ log(classes): true, temperature 0.38
	// output [2 2 16 16] temperature 0.6
}
