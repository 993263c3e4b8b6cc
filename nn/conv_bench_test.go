package nn_test

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// convBenchLayers are the convolutions of conv-mnist (batch 128) and srcnn
// (batch 64) from shared/bench/MODELS.md, and the 64→64 layer of the
// upscalers' training (batch 16 of 48×48 patches), with their forward
// FLOPs per sample. first marks a model's first layer, which computes no input
// gradient in training.
var convBenchLayers = []struct {
	name  string
	batch int
	in    []int
	layer func() nn.Layer
	flops float64
	first bool
}{
	{"conv-mnist/conv1", 128, []int{1, 28, 28}, func() nn.Layer { return nn.NewConv2D(1, 32, 3, 2, 1, 1) }, 112896, true},
	{"conv-mnist/conv2", 128, []int{32, 14, 14}, func() nn.Layer { return nn.NewConv2D(32, 64, 3, 2, 1, 1) }, 1806336, false},
	{"conv-mnist/convT1", 128, []int{64, 7, 7}, func() nn.Layer { return nn.NewConvTranspose2D(64, 32, 3, 2, 1, 1) }, 1806336, false},
	{"conv-mnist/convT2", 128, []int{32, 14, 14}, func() nn.Layer { return nn.NewConvTranspose2D(32, 1, 3, 2, 1, 1) }, 112896, false},
	{"srcnn/conv1", 64, []int{1, 33, 33}, func() nn.Layer { return nn.NewConv2D(1, 64, 9, 1, 4, 1) }, 11290752, true},
	{"srcnn/conv2", 64, []int{64, 33, 33}, func() nn.Layer { return nn.NewConv2D(64, 32, 1, 1, 0, 1) }, 4460544, false},
	{"srcnn/conv3", 64, []int{32, 33, 33}, func() nn.Layer { return nn.NewConv2D(32, 1, 5, 1, 2, 1) }, 1742400, false},
	{"restore/conv 64→64", 16, []int{64, 48, 48}, func() nn.Layer { return nn.NewConv2D(64, 64, 3, 1, 1, 1) }, 2 * 64 * 64 * 9 * 48 * 48, false},
}

// BenchmarkConv times forward+backward of each layer with every grouping
// (see convColBudget in conv.go): GFLOP/s counts 2× the forward FLOPs for
// a first layer (no input gradient) and 3× for the others.
func BenchmarkConv(b *testing.B) {
	for _, c := range convBenchLayers {
		for _, bud := range []struct {
			name string
			n    int
			rows bool // the row path where the layer takes it
		}{{"per-sample", 0, true}, {"col64K", 1 << 16, true}, {"col128K", 1 << 17, true}, {"col256K", 1 << 18, true}, {"col512K", 1 << 19, true}, {"col1M", 1 << 20, true}, {"batch", 1 << 30, true}, {"col512K-im2col", 1 << 19, false}} {
			b.Run(fmt.Sprintf("%s/%s", c.name, bud.name), func(b *testing.B) {
				old := nn.SetConvColBudget(bud.n)
				defer nn.SetConvColBudget(old)
				defer nn.SetConvRows(nn.SetConvRows(bud.rows))
				net, err := nn.NewNet(c.in, c.layer())
				if err != nil {
					b.Fatal(err)
				}
				if !c.first {
					net.NeedInputGrad()
				}
				ps := nn.NewParamSet(net.Params())
				rng := rand.New(rand.NewPCG(1, 2))
				net.Init(rng)
				x := tensor.New(append([]int{c.batch}, c.in...)...)
				for i := range x.Data {
					x.Data[i] = float32(rng.Float64())
				}
				dy := tensor.New(append([]int{c.batch}, net.OutShape...)...)
				for i := range dy.Data {
					dy.Data[i] = float32(rng.NormFloat64())
				}
				passes := 3.0
				if c.first {
					passes = 2
				}
				net.Forward(x, true) // allocate the buffers
				net.Backward(dy)
				b.ReportAllocs()
				cpu0 := cpuTime()
				for b.Loop() {
					ps.ZeroGrad()
					net.Forward(x, true)
					net.Backward(dy)
				}
				flops := passes * c.flops * float64(c.batch) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				b.ReportMetric(float64(cpuTime()-cpu0)/1e6/float64(b.N), "cpu-ms/op")
			})
		}
	}
}

// cpuTime is the CPU time (user + system) of the process so far. On a
// machine shared with other work, CPU time per op moves much less than
// wall time: it is the cost of the work, not of waiting for a core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// convInferLayers are convBenchLayers plus the convolutions of the shipped
// image models (denoise-gray, upscale-x3: a 256-pixel tile is 128×128 after
// the pixel unshuffle, one tile per batch).
var convInferLayers = append(convBenchLayers[:len(convBenchLayers):len(convBenchLayers)],
	struct {
		name  string
		batch int
		in    []int
		layer func() nn.Layer
		flops float64
		first bool
	}{"denoise/conv 4→64", 1, []int{4, 128, 128}, func() nn.Layer { return nn.NewConv2D(4, 64, 3, 1, 1, 1) }, 2 * 4 * 64 * 9 * 128 * 128, true},
	struct {
		name  string
		batch int
		in    []int
		layer func() nn.Layer
		flops float64
		first bool
	}{"denoise/conv 64→64", 1, []int{64, 128, 128}, func() nn.Layer { return nn.NewConv2D(64, 64, 3, 1, 1, 1) }, 2 * 64 * 64 * 9 * 128 * 128, false},
	struct {
		name  string
		batch int
		in    []int
		layer func() nn.Layer
		flops float64
		first bool
	}{"denoise/conv 64→4", 1, []int{64, 128, 128}, func() nn.Layer { return nn.NewConv2D(64, 4, 3, 1, 1, 1) }, 2 * 4 * 64 * 9 * 128 * 128, false},
)

// BenchmarkConvInfer times the inference forward pass of each layer in
// float32 and in int8, every layer forced onto the int8 path (the
// measurements behind convQ8Pays; on a CPU without AVX512_VNNI int8 is
// float32).
func BenchmarkConvInfer(b *testing.B) {
	for _, c := range convInferLayers {
		for _, v := range []struct {
			name string
			p    nn.Precision
			rows bool
		}{{"fp32", nn.FP32, true}, {"fp32-cols", nn.FP32, false}, {"int8", nn.INT8, true}} {
			p := v.p
			b.Run(fmt.Sprintf("%s/%s", c.name, v.name), func(b *testing.B) {
				defer nn.SetInt8Every(nn.SetInt8Every(true))
				defer nn.SetConvRows(nn.SetConvRows(v.rows))
				net, err := nn.NewNet(c.in, c.layer())
				if err != nil {
					b.Fatal(err)
				}
				nn.NewParamSet(net.Params())
				rng := rand.New(rand.NewPCG(1, 2))
				net.Init(rng)
				x := tensor.New(append([]int{c.batch}, c.in...)...)
				for i := range x.Data {
					x.Data[i] = float32(rng.Float64())
				}
				if err := net.PrepareInference(p); err != nil {
					b.Fatal(err)
				}
				net.Forward(x, false)
				b.ReportAllocs()
				cpu0 := cpuTime()
				for b.Loop() {
					net.Forward(x, false)
				}
				b.ReportMetric(c.flops*float64(c.batch)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				b.ReportMetric(float64(cpuTime()-cpu0)/1e6/float64(b.N), "cpu-ms/op")
			})
		}
	}
}
