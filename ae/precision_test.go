package ae

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/optim"
)

// TestSetPrecision: FP32 prepared weights give the bits of the unprepared
// model; INT8 stays close to them (where the CPU has an int8 kernel); a
// clone keeps the precision; training drops it, and inference afterwards
// sees the trained weights.
func TestSetPrecision(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		input []int
	}{
		{"dense", smallDense(t), []int{33, 12}},
		{"mnist-dense", denseConfig(t, []int{784}, true, Dense{Hidden: []int{256, 64}, Code: 32}), []int{40, 784}},
		{"conv", preset(t, "mnist-conv:8", 1), []int{5, 1, 28, 28}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newModel(t, tc.cfg, 1)
			x := unitTensor(rand.New(rand.NewPCG(1, 2)), tc.input...)
			want, err := m.Reconstruct(nil, x)
			if err != nil {
				t.Fatal(err)
			}
			if p, err := m.SetPrecision(FP32); err != nil || p != FP32 {
				t.Fatalf("SetPrecision(FP32) = %v, %v", p, err)
			}
			got, _ := m.Reconstruct(nil, x)
			for i := range want.Data {
				if math.Float32bits(got.Data[i]) != math.Float32bits(want.Data[i]) {
					t.Fatalf("FP32 prepared: out[%d] = %v; want %v", i, got.Data[i], want.Data[i])
				}
			}
			p, err := m.SetPrecision(INT8)
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]Precision{true: INT8, false: FP32}[nn.Int8Available()]; p != want || m.Precision() != want {
				t.Fatalf("SetPrecision(INT8) = %v (Precision %v); want %v", p, m.Precision(), want)
			}
			q, _ := m.Reconstruct(nil, x)
			var maxDiff float64
			for i := range want.Data {
				maxDiff = max(maxDiff, math.Abs(float64(q.Data[i]-want.Data[i])))
			}
			if maxDiff > 0.05 {
				t.Errorf("INT8: largest difference from FP32 %v; want ≤ 0.05", maxDiff)
			}
			c := m.Clone()
			if c.Precision() != p {
				t.Errorf("Clone().Precision() = %v; want %v", c.Precision(), p)
			}
			cq, _ := c.Reconstruct(nil, x)
			for i := range q.Data {
				if math.Float32bits(cq.Data[i]) != math.Float32bits(q.Data[i]) {
					t.Fatalf("clone: out[%d] = %v; want %v", i, cq.Data[i], q.Data[i])
				}
			}
			opt := optim.NewAdam(1e-2, 0.9, 0.999, 1e-8, 0)
			m.Params.ZeroGrad()
			if _, err := m.TrainStep(x, x); err != nil {
				t.Fatal(err)
			}
			opt.Step(m.Params.W, m.Params.G)
			if m.Precision() != FP32 {
				t.Errorf("after training Precision() = %v; want fp32", m.Precision())
			}
			ref := newModel(t, tc.cfg, 1)
			copy(ref.Params.W, m.Params.W)
			r1, _ := ref.Reconstruct(nil, x)
			r2, _ := m.Reconstruct(nil, x)
			for i := range r1.Data {
				if math.Float32bits(r1.Data[i]) != math.Float32bits(r2.Data[i]) {
					t.Fatalf("after training: out[%d] = %v; want %v (the trained weights, unprepared)", i, r2.Data[i], r1.Data[i])
				}
			}
		})
	}
}
