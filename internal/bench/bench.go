// Package bench measures training and inference throughput of the four
// reference models of ../shared/bench/MODELS.md the way the PyTorch anchor
// (../shared/bench/torch/ae_bench.py) does, so the two sets of numbers can
// be set side by side.
//
// A model is built from nn layers with all parameters in one nn.ParamSet.
// The data is synthetic: uniform [0, 1) batches generated once and cycled
// (16 by default); autoencoders reconstruct their input, srcnn maps it to a
// separate random target.
//
//	train: one step = zero grads + forward + MSE (mean) + backward + Adam
//	       (betas 0.9/0.999, eps 1e-8, no weight decay, the model's lr)
//	infer: forward only (train=false, no gradients)
//
// Each phase runs Warmup untimed steps, then at least Steps timed steps
// (more while MinTime has not elapsed). samples/s = batch × timed steps /
// wall time of the whole timed loop, as ae_bench.py; the median per-step
// time is reported beside it.
package bench

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"time"

	"github.com/bottleneck-ml/bottleneck/internal/parallel"
	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/optim"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Defaults of ae_bench.py.
const (
	DefaultSteps       = 50
	DefaultWarmup      = 10
	DefaultDataBatches = 16
)

// Modes accepted by Options.Mode.
const (
	ModeBoth  = "both"
	ModeTrain = "train"
	ModeInfer = "infer"
)

// Build makes the network of s and its parameter set, initialised from
// seed with PyTorch's default initialisation. Buffers are sized on the
// first Forward.
func Build(s Spec, seed uint64) (*nn.Net, *nn.ParamSet, error) {
	layers := make([]nn.Layer, len(s.Layers))
	for i, l := range s.Layers {
		nl, err := newLayer(l)
		if err != nil {
			return nil, nil, fmt.Errorf("bench: %s: layer %d: %w", s.Name, i, err)
		}
		layers[i] = nl
	}
	net, err := nn.NewNet(s.Input, layers...)
	if err != nil {
		return nil, nil, fmt.Errorf("bench: %s: %w", s.Name, err)
	}
	_, out, err := s.FLOPs()
	if err != nil {
		return nil, nil, err
	}
	if !slices.Equal(out, net.OutShape) {
		return nil, nil, fmt.Errorf("bench: %s: net output %v, spec says %v", s.Name, net.OutShape, out)
	}
	ps := nn.NewParamSet(net.Params())
	net.Init(rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)))
	return net, ps, nil
}

// Model is a benchmark model with its optimiser and synthetic data, ready
// to step.
type Model struct {
	Spec   Spec
	Batch  int
	Net    *nn.Net
	Params *nn.ParamSet
	Opt    *optim.Adam
	FLOPs  int // forward FLOPs per sample

	xs, ys []*tensor.Tensor
	dOut   *tensor.Tensor
	loss   nn.MSE
}

// New builds the model s for batch size batch with dataBatches distinct
// synthetic batches, all drawn from seed.
func New(s Spec, batch, dataBatches int, seed uint64) (*Model, error) {
	if batch < 1 {
		return nil, fmt.Errorf("bench: batch %d; want 1 or more", batch)
	}
	if dataBatches < 1 {
		return nil, fmt.Errorf("bench: %d data batches; want 1 or more", dataBatches)
	}
	net, ps, err := Build(s, seed)
	if err != nil {
		return nil, err
	}
	flops, _, _ := s.FLOPs() // checked by Build
	m := &Model{
		Spec: s, Batch: batch, Net: net, Params: ps, FLOPs: flops,
		Opt:  optim.NewAdam(s.LR, 0.9, 0.999, 1e-8, 0),
		dOut: tensor.New(append([]int{batch}, net.OutShape...)...),
	}
	rng := rand.New(rand.NewPCG(seed, 0xda3e39cb94b95bdb))
	shape := append([]int{batch}, s.Input...)
	m.xs = randomBatches(rng, dataBatches, shape)
	m.ys = m.xs
	if s.Target {
		m.ys = randomBatches(rng, dataBatches, shape)
	}
	return m, nil
}

func randomBatches(rng *rand.Rand, n int, shape []int) []*tensor.Tensor {
	ts := make([]*tensor.Tensor, n)
	for i := range ts {
		t := tensor.New(shape...)
		for j := range t.Data {
			t.Data[j] = rng.Float32()
		}
		ts[i] = t
	}
	return ts
}

// TrainStep runs one training step on data batch i (cycled) and returns
// the loss: zero grads, forward, MSE, backward, Adam.
func (m *Model) TrainStep(i int) float64 {
	x, y := m.xs[i%len(m.xs)], m.ys[i%len(m.ys)]
	m.Params.ZeroGrad()
	out := m.Net.Forward(x, true)
	loss := m.loss.Forward(out, y)
	m.loss.Backward(m.dOut, out, y)
	m.Net.Backward(m.dOut)
	m.Opt.Step(m.Params.W, m.Params.G)
	return loss
}

// Infer runs the forward pass (no gradients) on data batch i and returns
// the output, valid until the next call.
func (m *Model) Infer(i int) *tensor.Tensor {
	return m.Net.Forward(m.xs[i%len(m.xs)], false)
}

// Options select what Run measures. Zero values take ae_bench.py's
// defaults.
type Options struct {
	Batch       int           // 0: the model's default batch
	Steps       int           // timed steps; 0: DefaultSteps
	Warmup      int           // untimed steps; <0: none; 0: DefaultWarmup
	MinTime     time.Duration // keep timing beyond Steps until this much time has passed
	Threads     int           // parallel.SetThreads; 0: all CPUs of the process
	Mode        string        // ModeBoth (""), ModeTrain or ModeInfer
	DataBatches int           // 0: DefaultDataBatches
	Seed        uint64
	// Precision of the inference phase (nn.PrepareInference, once before
	// it: the weights are packed, or converted, per model load rather than
	// per batch). Training is always float32.
	Precision nn.Precision
}

// Result is one measurement; its JSON field names are those of ae_bench.py
// --json, so the two outputs can be summarised by the same code.
type Result struct {
	Bench             string  `json:"bench"`
	Model             string  `json:"model"`
	Precision         string  `json:"precision"` // of the inference phase
	Batch             int     `json:"batch"`
	Threads           int     `json:"threads"`
	Steps             int     `json:"steps"`
	Warmup            int     `json:"warmup"`
	Params            int     `json:"params"`
	FwdFLOPsPerSample int     `json:"fwd_flops_per_sample"`
	TrainSteps        int     `json:"train_steps,omitempty"`
	TrainSamplesPerS  float64 `json:"train_samples_per_s,omitempty"`
	TrainStepMsMedian float64 `json:"train_step_ms_median,omitempty"`
	// TrainGFLOPsApprox counts training as 3× the forward FLOPs.
	TrainGFLOPsApprox float64  `json:"train_gflops_approx,omitempty"`
	TrainFinalLoss    *float64 `json:"train_final_loss,omitempty"`
	TrainCPU          *CPU     `json:"train_cpu,omitempty"`
	InferSteps        int      `json:"infer_steps,omitempty"`
	InferSamplesPerS  float64  `json:"infer_samples_per_s,omitempty"`
	InferBatchMsMed   float64  `json:"infer_batch_ms_median,omitempty"`
	InferGFLOPs       float64  `json:"infer_gflops,omitempty"`
	InferCPU          *CPU     `json:"infer_cpu,omitempty"`
	Env               Env      `json:"env"`
	Time              string   `json:"time"`
}

// CPU is the load seen during a timed loop, in CPUs (as ae_bench.py's
// CpuMeter): OwnCPU is this process's CPU time per wall second,
// Contention the CPU time of everything else on the machine per wall
// second (above ~0.05 on a 2-CPU machine the number is polluted), Steal
// the hypervisor's steal time.
type CPU struct {
	OwnCPU     float64 `json:"own_cpu"`
	Contention float64 `json:"contention"`
	Steal      float64 `json:"steal"`
}

// Run measures model name with o. It stops early with ctx's error.
func Run(ctx context.Context, name string, o Options) (*Result, error) {
	s, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	if o.Batch == 0 {
		o.Batch = s.Batch
	}
	if o.Steps == 0 {
		o.Steps = DefaultSteps
	}
	switch {
	case o.Warmup == 0:
		o.Warmup = DefaultWarmup
	case o.Warmup < 0:
		o.Warmup = 0
	}
	if o.DataBatches == 0 {
		o.DataBatches = DefaultDataBatches
	}
	if o.Threads == 0 {
		o.Threads = runtime.NumCPU()
	}
	switch o.Mode {
	case "":
		o.Mode = ModeBoth
	case ModeBoth, ModeTrain, ModeInfer:
	default:
		return nil, fmt.Errorf("bench: mode %q; want both, train or infer", o.Mode)
	}
	if o.Steps < 1 || o.Batch < 1 || o.Threads < 1 {
		return nil, fmt.Errorf("bench: steps %d, batch %d, threads %d; want 1 or more", o.Steps, o.Batch, o.Threads)
	}
	m, err := New(s, o.Batch, o.DataBatches, o.Seed)
	if err != nil {
		return nil, err
	}
	defer parallel.SetThreads(parallel.SetThreads(o.Threads))

	r := &Result{
		Bench: "bottleneck", Model: s.Name, Precision: o.Precision.String(), Batch: o.Batch, Threads: parallel.Threads(),
		Steps: o.Steps, Warmup: o.Warmup, Params: m.Params.Len(), FwdFLOPsPerSample: m.FLOPs,
	}
	if o.Mode != ModeInfer {
		var loss float64
		t, err := timedLoop(ctx, func(i int) { loss = m.TrainStep(i) }, o)
		if err != nil {
			return nil, err
		}
		sps := float64(o.Batch*len(t.steps)) / t.elapsed.Seconds()
		r.TrainSteps = len(t.steps)
		r.TrainSamplesPerS = round(sps, 2)
		r.TrainStepMsMedian = round(t.medianMs(), 4)
		r.TrainGFLOPsApprox = round(3*float64(m.FLOPs)*sps/1e9, 3)
		l := round(loss, 6)
		r.TrainFinalLoss = &l
		r.TrainCPU = &t.cpu
	}
	if o.Mode != ModeTrain {
		if err := m.Net.PrepareInference(o.Precision); err != nil {
			return nil, fmt.Errorf("bench: %s: %w", s.Name, err)
		}
		t, err := timedLoop(ctx, func(i int) { m.Infer(i) }, o)
		if err != nil {
			return nil, err
		}
		sps := float64(o.Batch*len(t.steps)) / t.elapsed.Seconds()
		r.InferSteps = len(t.steps)
		r.InferSamplesPerS = round(sps, 2)
		r.InferBatchMsMed = round(t.medianMs(), 4)
		r.InferGFLOPs = round(float64(m.FLOPs)*sps/1e9, 3)
		r.InferCPU = &t.cpu
	}
	r.Env = environment()
	r.Time = time.Now().Format("2006-01-02T15:04:05-0700")
	return r, nil
}

type timing struct {
	elapsed time.Duration
	steps   []time.Duration
	cpu     CPU
}

func (t *timing) medianMs() float64 {
	s := slices.Clone(t.steps)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return float64(med) / float64(time.Millisecond)
}

// timedLoop is ae_bench.py's timed_loop: o.Warmup untimed calls, then
// timed calls until o.Steps have run and o.MinTime has passed; fn gets the
// data batch index, continuing after the warm-up ones.
func timedLoop(ctx context.Context, fn func(i int), o Options) (timing, error) {
	for i := 0; i < o.Warmup; i++ {
		if err := ctx.Err(); err != nil {
			return timing{}, err
		}
		fn(i)
	}
	t := timing{steps: make([]time.Duration, 0, o.Steps)}
	meter := startMeter()
	start := time.Now()
	for i := 0; i < o.Steps || time.Since(start) < o.MinTime; i++ {
		if err := ctx.Err(); err != nil {
			return timing{}, err
		}
		t0 := time.Now()
		fn(o.Warmup + i)
		t.steps = append(t.steps, time.Since(t0))
	}
	t.elapsed = time.Since(start)
	t.cpu = meter.stop()
	return t, nil
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// DescribeRow is one row of Describe, with ae_bench.py --describe --json's
// field names.
type DescribeRow struct {
	Model             string  `json:"model"`
	Precision         string  `json:"precision"` // of the inference phase
	Input             []int   `json:"input"`
	DefaultBatch      int     `json:"default_batch"`
	LR                float64 `json:"lr"`
	Params            int     `json:"params"`
	FwdFLOPsPerSample int     `json:"fwd_flops_per_sample"`
}

// Describe returns the parameter and FLOP counts of every model, building
// each from nn layers.
func Describe() ([]DescribeRow, error) {
	rows := make([]DescribeRow, 0, len(Specs))
	for _, s := range Specs {
		_, ps, err := Build(s, 0)
		if err != nil {
			return nil, err
		}
		flops, _, _ := s.FLOPs()
		rows = append(rows, DescribeRow{
			Model: s.Name, Input: slices.Clone(s.Input), DefaultBatch: s.Batch, LR: s.LR,
			Params: ps.Len(), FwdFLOPsPerSample: flops,
		})
	}
	return rows, nil
}
