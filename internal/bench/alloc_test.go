package bench

import "testing"

// TestStepAllocs is the zero-allocation guard: after warm-up, a full
// training step (zero grads, forward, MSE, backward, Adam) and an inference
// pass allocate nothing.
func TestStepAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes closures allocate")
	}
	for _, s := range Specs {
		t.Run(s.Name, func(t *testing.T) {
			batch := s.Batch
			if testing.Short() {
				batch = 16
			}
			m, err := New(s, batch, 4, 0)
			if err != nil {
				t.Fatal(err)
			}
			i := 0
			for ; i < 3; i++ {
				m.TrainStep(i)
				m.Infer(i)
			}
			if n := testing.AllocsPerRun(4, func() { m.TrainStep(i); i++ }); n != 0 {
				t.Errorf("TrainStep: %v allocations per step; want 0", n)
			}
			if n := testing.AllocsPerRun(4, func() { m.Infer(i); i++ }); n != 0 {
				t.Errorf("Infer: %v allocations per batch; want 0", n)
			}
		})
	}
}

func BenchmarkTrainStep(b *testing.B) {
	for _, s := range Specs {
		b.Run(s.Name, func(b *testing.B) {
			m, err := New(s, s.Batch, DefaultDataBatches, 0)
			if err != nil {
				b.Fatal(err)
			}
			for i := range DefaultWarmup {
				m.TrainStep(i)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				m.TrainStep(i)
				i++
			}
			report(b, m, i, 3)
		})
	}
}

func BenchmarkInfer(b *testing.B) {
	for _, s := range Specs {
		b.Run(s.Name, func(b *testing.B) {
			m, err := New(s, s.Batch, DefaultDataBatches, 0)
			if err != nil {
				b.Fatal(err)
			}
			for i := range DefaultWarmup {
				m.Infer(i)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				m.Infer(i)
				i++
			}
			report(b, m, i, 1)
		})
	}
}

// report adds samples/s and GFLOP/s (fwdMul × forward FLOPs) for n steps.
func report(b *testing.B, m *Model, n int, fwdMul float64) {
	sec := b.Elapsed().Seconds()
	if sec <= 0 || n == 0 {
		return
	}
	sps := float64(n*m.Batch) / sec
	b.ReportMetric(sps, "samples/s")
	b.ReportMetric(fwdMul*float64(m.FLOPs)*sps/1e9, "GFLOP/s")
}
