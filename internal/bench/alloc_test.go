package bench

import (
	"testing"

	"github.com/bottleneck-ml/bottleneck/nn"
)

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
			for _, p := range []nn.Precision{nn.FP32, nn.INT8} {
				if err := m.Net.PrepareInference(p); err != nil {
					t.Fatal(err)
				}
				m.Infer(i)
				if n := testing.AllocsPerRun(4, func() { m.Infer(i); i++ }); n != 0 {
					t.Errorf("Infer %v (prepared): %v allocations per batch; want 0", p, n)
				}
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
			cpu := startMeter()
			for b.Loop() {
				m.TrainStep(i)
				i++
			}
			report(b, m, i, 3, cpu.stop())
		})
	}
}

func BenchmarkInfer(b *testing.B) { benchInfer(b, nn.FP32) }

// BenchmarkInferInt8 is BenchmarkInfer with the weights prepared for int8
// (on a CPU without AVX512_VNNI, or with -tags noasm, that is fp32).
func BenchmarkInferInt8(b *testing.B) { benchInfer(b, nn.INT8) }

func benchInfer(b *testing.B, p nn.Precision) {
	for _, s := range Specs {
		b.Run(s.Name, func(b *testing.B) {
			m, err := New(s, s.Batch, DefaultDataBatches, 0)
			if err != nil {
				b.Fatal(err)
			}
			if err := m.Net.PrepareInference(p); err != nil {
				b.Fatal(err)
			}
			for i := range DefaultWarmup {
				m.Infer(i)
			}
			b.ReportAllocs()
			i := 0
			cpu := startMeter()
			for b.Loop() {
				m.Infer(i)
				i++
			}
			report(b, m, i, 1, cpu.stop())
		})
	}
}

// report adds samples/s and GFLOP/s (fwdMul × forward FLOPs) for n steps,
// and the CPU time of this process per step (cpu-ms/op, which other
// processes on a shared machine disturb far less than the wall time; it
// includes the workers' spinning between parallel regions).
func report(b *testing.B, m *Model, n int, fwdMul float64, cpu CPU) {
	sec := b.Elapsed().Seconds()
	if sec <= 0 || n == 0 {
		return
	}
	sps := float64(n*m.Batch) / sec
	b.ReportMetric(sps, "samples/s")
	b.ReportMetric(fwdMul*float64(m.FLOPs)*sps/1e9, "GFLOP/s")
	b.ReportMetric(cpu.OwnCPU*sec*1e3/float64(n), "cpu-ms/op")
	b.ReportMetric(cpu.Contention, "contention")
}
