package ae

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/bottleneck-ml/bottleneck/internal/safetensors"
	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/optim"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// ConvFitOptions configure FitConv. Data is generated fresh for every step
// (random patches, fresh noise), so an epoch is a number of steps.
type ConvFitOptions struct {
	Epochs   int     // default 20
	Steps    int     // steps per epoch, default 500
	Batch    int     // default 16
	Patch    int     // patch side (input and target)
	LR       float64 // default 1e-3 (Adam)
	Schedule string  // optim.ParseSchedule syntax, default constant
	ClipNorm float64 // 0 = off
	Seed     uint64
	// Output is written after every epoch (atomically); Output+".ckpt"
	// holds the optimiser state, and with Resume training continues there.
	Output string
	Resume bool
	// EMA, when in (0, 1), keeps an exponential moving average of the
	// weights (decay EMA per step); validation and the model file use the
	// average, the checkpoint keeps both. It smooths the noise of a high
	// learning rate. The decay used at step t is min(EMA, (1+t)/(10+t)).
	EMA float64
	// KLWarmup, for a VAE, raises the KL weight linearly from 0 to β over
	// this many epochs (0: β from the start).
	KLWarmup float64
	Log      io.Writer
	// Fill makes one batch: x [N, in, P, P], y [N, out, P, P].
	Fill func(x, y *tensor.Tensor, rng *rand.Rand)
	// Validate, when set, is called after every epoch and returns a line
	// to log (e.g. PSNR on held-out images).
	Validate func(m *ConvModel) string
}

// ConvRecord is what FitConv did; it is stored in the model file.
type ConvRecord struct {
	Epochs    int       `json:"epochs"`
	MaxEpochs int       `json:"max_epochs"`
	Steps     int       `json:"steps_per_epoch"`
	Batch     int       `json:"batch"`
	Patch     int       `json:"patch"`
	LR        float64   `json:"lr"`
	Schedule  string    `json:"schedule"`
	Seed      uint64    `json:"seed"`
	EMA       float64   `json:"ema,omitempty"`
	KLWarmup  float64   `json:"kl_warmup,omitempty"`
	TrainLoss []float64 `json:"train_loss"`
	Val       []string  `json:"val,omitempty"`
	Seconds   float64   `json:"seconds"`
	Command   string    `json:"command,omitempty"`
	Stopped   string    `json:"stopped"`
	Finished  time.Time `json:"finished"`
}

const metaConvCkpt = "conv_checkpoint"

// FitConv trains m with Adam on batches made by opt.Fill.
func FitConv(ctx context.Context, m *ConvModel, opt ConvFitOptions, command string) (*ConvRecord, error) {
	if opt.Epochs <= 0 {
		opt.Epochs = 20
	}
	if opt.Steps <= 0 {
		opt.Steps = 500
	}
	if opt.Batch <= 0 {
		opt.Batch = 16
	}
	if opt.LR <= 0 {
		opt.LR = 1e-3
	}
	if opt.Schedule == "" {
		opt.Schedule = "constant"
	}
	if opt.Patch%m.Config.Multiple() != 0 {
		return nil, fmt.Errorf("ae: --patch %d must be a multiple of %d for this architecture", opt.Patch, m.Config.Multiple())
	}
	sched, err := optim.ParseSchedule(opt.Schedule)
	if err != nil {
		return nil, fmt.Errorf("ae: %w", err)
	}
	o := optim.NewAdam(opt.LR, 0.9, 0.999, 1e-8, 0)
	names, state := o.StateTensors(m.Params.Len())
	rec := &ConvRecord{MaxEpochs: opt.Epochs, Steps: opt.Steps, Batch: opt.Batch, Patch: opt.Patch, LR: opt.LR, Schedule: opt.Schedule, Seed: opt.Seed, EMA: opt.EMA, KLWarmup: opt.KLWarmup, Command: command}
	ckpt := opt.Output + ".ckpt"
	if m.vae != nil {
		defer m.SetKLWeight(m.Config.Beta)
	}
	var ema, emaBuf []float32
	if opt.EMA > 0 && opt.EMA < 1 {
		names, state = slices.Clone(names), slices.Clone(state)
		names = append(names, "ema")
		ema = slices.Clone(m.Params.W)
		state = append(state, ema)
		// BatchNorm statistics are averaged alongside the weights (as
		// timm's ModelEmaV2 does): the raw model's running statistics do
		// not fit the averaged weights, and using them cost 1.7 dB on a
		// denoiser's validation
		if n := buffersLen(m.Buffers); n > 0 {
			emaBuf = make([]float32, n)
			flattenBuffers(emaBuf, m.Buffers)
			names = append(names, "ema_buffers")
			state = append(state, emaBuf)
		}
	}
	if opt.Resume && opt.Output != "" {
		if _, err := os.Stat(ckpt); err == nil {
			r, err := m.restoreConv(ckpt, o, names, state)
			if err != nil {
				return nil, err
			}
			rec = r
			if rec.MaxEpochs != opt.Epochs || rec.Command != command {
				// keep the provenance of every part of the run
				rec.Command += fmt.Sprintf(" [epochs 1-%d]; resumed: %s", rec.Epochs, command)
			}
			rec.MaxEpochs = opt.Epochs
			logf(opt.Log, "resumed from %s at epoch %d\n", ckpt, rec.Epochs)
		}
	}
	in := m.Config.InChannels
	out := m.Config.OutChannels
	x := tensor.New(opt.Batch, in, opt.Patch, opt.Patch)
	y := tensor.New(opt.Batch, out, opt.Patch, opt.Patch)
	total := opt.Epochs * opt.Steps
	for ep := rec.Epochs; ep < opt.Epochs; ep++ {
		start := time.Now()
		rng := rand.New(rand.NewPCG(opt.Seed, uint64(ep)))
		sum := 0.0
		for s := range opt.Steps {
			if err := ctx.Err(); err != nil {
				rec.Stopped = "interrupted"
				return rec, fmt.Errorf("ae: training interrupted at epoch %d (resume with --resume): %w", ep+1, err)
			}
			opt.Fill(x, y, rng)
			step := ep*opt.Steps + s
			if m.vae != nil {
				m.SeedNoise(opt.Seed, uint64(step)) // ε of this step, whatever was resumed
				w := m.Config.Beta
				if opt.KLWarmup > 0 {
					w *= min(1, float64(step+1)/(opt.KLWarmup*float64(opt.Steps)))
				}
				m.SetKLWeight(w)
			}
			m.Params.ZeroGrad()
			loss, err := m.TrainStep(x, y)
			if err != nil {
				return rec, err
			}
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return rec, fmt.Errorf("ae: training diverged at epoch %d (loss %v); lower --lr", ep+1, loss)
			}
			sum += loss
			if opt.ClipNorm > 0 {
				optim.ClipGradNorm(m.Params.G, opt.ClipNorm)
			}
			o.SetLR(opt.LR * sched.LR(step, total))
			o.Step(m.Params.W, m.Params.G)
			if ema != nil {
				// the decay warms up as (1+t)/(10+t) (TensorFlow's
				// num_updates rule), so early averages are not dominated
				// by the random initial weights
				d := float32(min(opt.EMA, float64(1+step)/float64(10+step)))
				for i, w := range m.Params.W {
					ema[i] = d*ema[i] + (1-d)*w
				}
				off := 0
				for _, b := range m.Buffers {
					for i, v := range b.W {
						emaBuf[off+i] = d*emaBuf[off+i] + (1-d)*v
					}
					off += len(b.W)
				}
			}
		}
		rec.Epochs = ep + 1
		rec.TrainLoss = append(rec.TrainLoss, sum/float64(opt.Steps))
		rec.Seconds += time.Since(start).Seconds()
		var raw, rawBuf []float32
		if ema != nil { // evaluate and save the average
			raw = slices.Clone(m.Params.W)
			copy(m.Params.W, ema)
			if emaBuf != nil {
				rawBuf = make([]float32, len(emaBuf))
				flattenBuffers(rawBuf, m.Buffers)
				unflattenBuffers(m.Buffers, emaBuf)
			}
		}
		line := ""
		if opt.Validate != nil {
			line = opt.Validate(m)
			rec.Val = append(rec.Val, line)
		}
		logf(opt.Log, "epoch %d/%d  loss %.6f  %s  lr %.2g  %.0fs\n", ep+1, opt.Epochs, rec.TrainLoss[ep], line, o.LR(), time.Since(start).Seconds())
		rec.Finished = time.Now().UTC()
		rec.Stopped = "running"
		if ep+1 == opt.Epochs {
			rec.Stopped = "completed"
		}
		if opt.Output != "" {
			if err := m.saveRecord(opt.Output, rec, nil); err != nil {
				return rec, err
			}
		}
		if raw != nil {
			copy(m.Params.W, raw)
			if rawBuf != nil {
				unflattenBuffers(m.Buffers, rawBuf)
			}
		}
		if opt.Output != "" {
			if err := m.checkpointConv(ckpt, rec, o, names, state); err != nil {
				return rec, err
			}
		}
	}
	if ema != nil {
		copy(m.Params.W, ema)
		if emaBuf != nil {
			unflattenBuffers(m.Buffers, emaBuf)
		}
	}
	if opt.Output != "" && rec.Stopped == "" {
		rec.Stopped = "completed"
		if err := m.saveRecord(opt.Output, rec, nil); err != nil {
			return rec, err
		}
	}
	return rec, nil
}

func buffersLen(bufs []*nn.Param) int {
	n := 0
	for _, b := range bufs {
		n += len(b.W)
	}
	return n
}

// flattenBuffers copies the buffers' values into dst, in order.
func flattenBuffers(dst []float32, bufs []*nn.Param) {
	off := 0
	for _, b := range bufs {
		off += copy(dst[off:], b.W)
	}
}

// unflattenBuffers copies src back into the buffers.
func unflattenBuffers(bufs []*nn.Param, src []float32) {
	off := 0
	for _, b := range bufs {
		off += copy(b.W, src[off:])
	}
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

func (m *ConvModel) saveRecord(path string, rec *ConvRecord, extra *Extra) error {
	raw, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	m.Training = raw
	return m.SaveWith(path, extra)
}

func (m *ConvModel) checkpointConv(path string, rec *ConvRecord, o *optim.Adam, names []string, state [][]float32) error {
	extra := &Extra{Meta: map[string]string{metaConvCkpt: fmt.Sprint(o.Steps())}}
	for i, n := range names {
		extra.Tensors = append(extra.Tensors, safetensors.Tensor{Name: "optim." + n, Shape: []int{len(state[i])}, Data: state[i]})
	}
	return m.saveRecord(path, rec, extra)
}

func (m *ConvModel) restoreConv(path string, o *optim.Adam, names []string, state [][]float32) (*ConvRecord, error) {
	c, extra, err := LoadConvWith(path)
	if err != nil {
		return nil, fmt.Errorf("ae: resume: %w", err)
	}
	steps, ok := extra.Meta[metaConvCkpt]
	if !ok {
		return nil, fmt.Errorf("ae: resume: %s is not a checkpoint", path)
	}
	if c.Params.Len() != m.Params.Len() {
		return nil, fmt.Errorf("ae: resume: %s holds a different architecture (%d parameters, want %d); use the same flags or delete it", path, c.Params.Len(), m.Params.Len())
	}
	byName := map[string][]float32{}
	for _, t := range extra.Tensors {
		byName[t.Name] = t.Data
	}
	for i, n := range names {
		d, ok := byName["optim."+n]
		if !ok && n == "ema" { // a checkpoint from a run without EMA
			copy(state[i], c.Params.W)
			continue
		}
		if !ok && n == "ema_buffers" { // from a run without EMA, or before buffers were averaged
			flattenBuffers(state[i], c.Buffers)
			continue
		}
		if !ok || len(d) != len(state[i]) {
			return nil, fmt.Errorf("ae: resume: %s: optimiser state %s missing; delete it to start over", path, n)
		}
		copy(state[i], d)
	}
	copy(m.Params.W, c.Params.W)
	for i, b := range m.Buffers {
		copy(b.W, c.Buffers[i].W)
	}
	var rec ConvRecord
	if err := json.Unmarshal(c.Training, &rec); err != nil {
		return nil, errors.New("ae: resume: training record damaged; delete the checkpoint to start over")
	}
	var n int64
	fmt.Sscan(steps, &n)
	o.SetSteps(n)
	return &rec, nil
}
