// Package train fits an ae.Model, whatever its kind, with one loop:
// batches from a Source (shuffled rows of a table, image patches with
// fresh noise, time-series windows), forward, loss, backward, an
// optimiser step, and around it a learning-rate schedule, gradient
// clipping, a NaN/Inf guard, an exponential moving average of the weights
// (BatchNorm statistics included), a VAE's KL warm-up, validation, early
// stopping and the best epoch's weights, a checkpoint after every epoch
// that Resume continues from bit for bit, and context cancellation
// (Ctrl-C) that stops cleanly and keeps the checkpoint.
//
// Training is deterministic: the same seed and the same thread count give
// bit-identical weights. A Source's batches depend only on its seed and
// the epoch number, every random draw of a step (a VAE's ε, dropout masks)
// is reseeded from the step number, and every kernel accumulates in a
// fixed order.
package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/optim"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Source yields the batches of training or validation epochs.
type Source interface {
	// Epoch starts epoch e (0-based) and returns its number of batches.
	// The batches of an epoch depend only on the source and e, so a
	// resumed run sees what an uninterrupted one would.
	Epoch(e int) int
	// Next returns the next batch of the epoch: the input and the target
	// (the same tensor for a plain autoencoder). They stay valid until the
	// next call.
	Next() (x, y *tensor.Tensor, err error)
	// Len is the number of samples in an epoch.
	Len() int
}

// Fingerprinter is a Source that can tell its data apart from other data:
// a checkpoint stores the fingerprint and Resume refuses another.
type Fingerprinter interface {
	Fingerprint() string
}

// Batcher is a Source with a fixed batch size, recorded with the model.
type Batcher interface {
	BatchSize() int
}

// Record is what training did; Fit stores it in the model.
type Record = ae.Record

// Options configure Fit. The zero value of a field means its default.
type Options struct {
	Epochs      int     // default 20
	LR          float64 // default 1e-3
	Optimizer   string  // sgd, adam (default), adamw
	WeightDecay float64 // for adamw/sgd; 0 = the optimiser's default
	Schedule    string  // optim.ParseSchedule syntax; default constant
	ClipNorm    float64 // clip the global gradient norm; 0 = off
	Seed        uint64  // a VAE's noise and the dropout masks of every step

	// Patience stops training after this many epochs without improvement
	// of the validation loss (0 = off).
	Patience int
	// KeepLast keeps the last epoch's weights; otherwise the best epoch's
	// (by validation loss, or by training loss without validation) are
	// kept.
	KeepLast bool
	// EMA, when in (0, 1), keeps an exponential moving average of the
	// weights and BatchNorm statistics (decay EMA per step, warmed up as
	// min(EMA, (1+t)/(10+t))); validation, the kept weights and the model
	// use the average. It smooths the noise of a high learning rate.
	EMA float64
	// KLWarmup raises a VAE's KL weight linearly from 0 to β over this
	// many epochs (0: β from the start).
	KLWarmup float64

	// Init, when set, is the model training starts from (fine-tuning): its
	// weights and BatchNorm statistics replace m's random ones (see
	// ae.Model.CopyWeights), and its training record is kept as the new
	// record's Init. A checkpoint resumed with Resume wins over it: Init is
	// then not used at all.
	Init *ae.Model

	// Checkpoint is where the state is saved after every epoch; "" none.
	// With Resume, training continues from it when it exists.
	Checkpoint string
	Resume     bool
	// Command is recorded with the model (how it was trained).
	Command string

	// Log receives progress; nil discards it. Bar draws a terminal
	// progress bar on Log instead of periodic lines.
	Log io.Writer
	Bar bool
	// Validate, when set, is called after every epoch with the weights
	// that would be kept and returns a line to log and record (e.g. PSNR
	// on held-out pictures).
	Validate func(m *ae.Model) string
	// OnEpoch, when set, is called after every epoch with the weights that
	// would be kept (to save the model so far, say); an error stops
	// training.
	OnEpoch func(m *ae.Model, rec *Record) error
}

func (o *Options) defaults() {
	if o.Epochs <= 0 {
		o.Epochs = 20
	}
	if o.LR <= 0 {
		o.LR = 1e-3
	}
	if o.Optimizer == "" {
		o.Optimizer = "adam"
	}
	if o.Schedule == "" {
		o.Schedule = "constant"
	}
}

// ErrInterrupted is returned when the context is cancelled (Ctrl-C); the
// checkpoint of the last completed epoch stays for Resume.
var ErrInterrupted = errors.New("training interrupted")

// ErrDiverged is wrapped when the loss becomes NaN or Inf.
var ErrDiverged = errors.New("training diverged")

// minDelta is the relative improvement an epoch needs to count as one (for
// the kept weights and early stopping): float noise alone must not reset
// the patience counter.
const minDelta = 1e-4

// state is what a checkpoint holds besides the model's own weights.
type state struct {
	m       *ae.Model
	o       optim.Optimizer
	names   []string    // optimiser state names
	opt     [][]float32 // optimiser state
	best    float64
	bestW   []float32 // weights (and statistics) of the best epoch; nil with KeepLast
	ema     []float32 // averaged weights and statistics; nil without EMA
	rec     *Record
	emaDecy float64
}

// weights copies the model's weights and BatchNorm statistics into dst.
func weights(dst []float32, m *ae.Model) {
	n := copy(dst, m.Params.W)
	for _, b := range m.Buffers {
		n += copy(dst[n:], b.W)
	}
}

// setWeights copies src into the model's weights and statistics.
func setWeights(m *ae.Model, src []float32) {
	n := copy(m.Params.W, src)
	for _, b := range m.Buffers {
		n += copy(b.W, src[n:])
	}
}

func stateLen(m *ae.Model) int {
	n := m.Params.Len()
	for _, b := range m.Buffers {
		n += len(b.W)
	}
	return n
}

// Fit trains m on tr, validating on val (nil: no validation), and returns
// the record, also stored in m.Training. The weights left in m are the
// best epoch's (see Options.KeepLast), the averaged ones with EMA.
func Fit(ctx context.Context, m *ae.Model, tr, val Source, opt Options) (*Record, error) {
	opt.defaults()
	if tr == nil || tr.Len() == 0 {
		return nil, errors.New("train: no training samples; check the data file and the --normal filter")
	}
	if math.IsNaN(opt.LR) || math.IsInf(opt.LR, 0) {
		return nil, fmt.Errorf("train: learning rate %v is not a number", opt.LR)
	}
	o, err := newOptimizer(opt)
	if err != nil {
		return nil, err
	}
	sched, err := optim.ParseSchedule(opt.Schedule)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	// A checkpoint to resume holds the weights: Init is for a fresh start
	// only (and need not even match then).
	resuming := false
	if opt.Resume && opt.Checkpoint != "" {
		_, err := os.Stat(opt.Checkpoint)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("train: checkpoint %s: %w", opt.Checkpoint, err)
		}
		resuming = err == nil
	}
	if opt.Init != nil && !resuming {
		if err := m.CopyWeights(opt.Init); err != nil {
			return nil, fmt.Errorf("train: init: %w", err)
		}
	}
	st := &state{m: m, o: o, best: math.Inf(1)}
	st.names, st.opt = o.StateTensors(m.Params.Len())
	if !opt.KeepLast {
		st.bestW = make([]float32, stateLen(m))
		weights(st.bestW, m)
	}
	useEMA := opt.EMA > 0 && opt.EMA < 1
	if useEMA {
		st.ema = make([]float32, stateLen(m))
		weights(st.ema, m)
	}
	rec := &Record{
		MaxEpochs: opt.Epochs, Loss: m.Config.Loss, LR: opt.LR, Optimizer: opt.Optimizer, Schedule: opt.Schedule,
		Seed: opt.Seed, TrainRows: tr.Len(), Command: opt.Command,
	}
	if opt.Init != nil && !resuming {
		rec.Init = opt.Init.Training
	}
	if useEMA {
		rec.EMA = opt.EMA
	}
	if m.IsVAE() {
		rec.KLWarmup = opt.KLWarmup
	}
	if b, ok := tr.(Batcher); ok {
		rec.Batch = b.BatchSize()
	}
	if f, ok := tr.(Fingerprinter); ok {
		rec.Data = f.Fingerprint()
	}
	if val != nil {
		rec.ValRows = val.Len()
	}
	st.rec = rec
	if resuming {
		if err := st.restore(opt.Checkpoint, opt.Command); err != nil {
			return nil, err
		}
		rec = st.rec
		rec.MaxEpochs = opt.Epochs
		logf(opt.Log, "resuming from %s after epoch %d\n", opt.Checkpoint, rec.Epochs)
	}
	beta := m.Config.Beta
	if beta == 0 {
		beta = 1 // as the config documents
	}
	if m.IsVAE() {
		defer m.SetKLWeight(beta)
	}
	if opt.Checkpoint != "" && rec.Epochs == 0 {
		// the state before the first epoch: an interruption then leaves a
		// checkpoint that resumes bit for bit, whenever it comes
		rec.Stopped = "running"
		if err := st.save(opt.Checkpoint); err != nil {
			return rec, fmt.Errorf("train: %w", err)
		}
	}
	perEpoch := tr.Epoch(0)
	rec.Steps = perEpoch
	total := perEpoch * opt.Epochs
	start := time.Now()
	prevSeconds := rec.Seconds
	sinceImprove := 0
	if rec.BestEpoch > 0 {
		sinceImprove = rec.Epochs - rec.BestEpoch
	}
	for epoch := rec.Epochs; epoch < opt.Epochs && rec.Stopped != "early-stopping"; epoch++ {
		steps := tr.Epoch(epoch)
		prog := newProgress(opt.Log, opt.Bar, epoch+1, opt.Epochs, tr.Len())
		epochStart := time.Now()
		var sum float64
		seen := 0
		for s := 0; s < steps; s++ {
			if err := ctx.Err(); err != nil {
				prog.done()
				rec.Stopped = "interrupted"
				if opt.Checkpoint != "" {
					return rec, fmt.Errorf("%w in epoch %d; the checkpoint %s holds the state after epoch %d, continue with --resume", ErrInterrupted, epoch+1, opt.Checkpoint, rec.Epochs)
				}
				return rec, fmt.Errorf("%w in epoch %d, before any epoch completed", ErrInterrupted, epoch+1)
			}
			x, y, err := tr.Next()
			if err != nil {
				prog.done()
				return rec, fmt.Errorf("train: %w", err)
			}
			step := int(o.Steps())
			m.SeedNoise(opt.Seed, uint64(step))
			if m.IsVAE() {
				w := beta
				if opt.KLWarmup > 0 {
					w *= min(1, float64(step+1)/(opt.KLWarmup*float64(perEpoch)))
				}
				m.SetKLWeight(w)
			}
			m.Params.ZeroGrad()
			loss, err := m.TrainStep(x, y)
			if err != nil {
				prog.done()
				return rec, fmt.Errorf("train: %w", err)
			}
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				prog.done()
				return rec, fmt.Errorf("train: %w: loss is %v at epoch %d, step %d; lower the learning rate (--lr, now %g), turn on gradient clipping (--clip 1), or check the data scaling (features far from unit scale)", ErrDiverged, loss, epoch+1, s+1, opt.LR)
			}
			if opt.ClipNorm > 0 {
				optim.ClipGradNorm(m.Params.G, opt.ClipNorm)
			}
			o.SetLR(opt.LR * sched.LR(step, total))
			o.Step(m.Params.W, m.Params.G)
			if st.ema != nil {
				st.average(float32(min(opt.EMA, float64(1+step)/float64(10+step))))
			}
			rows := x.Rows()
			sum += loss * float64(rows)
			seen += rows
			prog.step(rows, sum/float64(seen))
		}
		prog.done()
		trainLoss := sum / float64(max(seen, 1))
		rec.TrainLoss = append(rec.TrainLoss, trainLoss)
		rec.Epochs = epoch + 1
		raw := st.useKept()
		restore := func() {
			if raw != nil {
				setWeights(m, raw)
			}
		}
		metric := trainLoss
		valLine := ""
		if val != nil {
			v, err := Evaluate(m, val)
			if err != nil {
				restore()
				return rec, err
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				restore()
				return rec, fmt.Errorf("train: %w: validation loss is %v after epoch %d; lower the learning rate (--lr, now %g) or check the data scaling", ErrDiverged, v, epoch+1, opt.LR)
			}
			rec.ValLoss = append(rec.ValLoss, v)
			metric = v
			valLine = fmt.Sprintf("  val %.5f", v)
		}
		extra := ""
		if opt.Validate != nil {
			line := opt.Validate(m)
			rec.Val = append(rec.Val, line)
			extra = "  " + line
		}
		if opt.Schedule != "constant" {
			extra += fmt.Sprintf("  lr %.2g", o.LR())
		}
		if metric < st.best-minDelta*math.Abs(st.best) || math.IsInf(st.best, 1) {
			st.best = metric
			rec.BestEpoch = epoch + 1
			if st.bestW != nil {
				weights(st.bestW, m)
			}
			sinceImprove = 0
		} else {
			sinceImprove++
		}
		el := time.Since(epochStart).Seconds()
		logf(opt.Log, "epoch %d/%d  loss %.5f%s  %.0f samples/s  %.1fs%s\n", epoch+1, opt.Epochs, trainLoss, valLine, float64(seen)/max(el, 1e-9), el, extra)
		if opt.Patience > 0 && val != nil && sinceImprove >= opt.Patience {
			rec.Stopped = "early-stopping"
			logf(opt.Log, "early stopping: validation loss has not improved for %d epochs (best %.5f at epoch %d)\n", opt.Patience, st.best, rec.BestEpoch)
		} else if epoch+1 == opt.Epochs {
			rec.Stopped = "completed"
		} else {
			rec.Stopped = "running"
		}
		rec.Seconds = prevSeconds + time.Since(start).Seconds()
		rec.Finished = time.Now().UTC().Truncate(time.Second)
		if opt.OnEpoch != nil {
			m.Training = rec
			if err := opt.OnEpoch(m, rec); err != nil {
				restore()
				return rec, err
			}
		}
		restore()
		if opt.Checkpoint != "" {
			if err := st.save(opt.Checkpoint); err != nil {
				return rec, fmt.Errorf("train: %w", err)
			}
		}
	}
	if rec.Stopped != "early-stopping" {
		rec.Stopped = "completed"
	}
	switch {
	case st.bestW != nil && rec.BestEpoch > 0:
		setWeights(m, st.bestW)
	case st.ema != nil:
		setWeights(m, st.ema)
	}
	if opt.KeepLast {
		rec.BestEpoch = 0
	}
	rec.Seconds = prevSeconds + time.Since(start).Seconds()
	if rec.Seconds > 0 {
		rec.SamplesPerSec = float64(rec.Epochs*tr.Len()) / rec.Seconds
	}
	rec.Finished = time.Now().UTC().Truncate(time.Second)
	m.Training = rec
	return rec, nil
}

// average folds the current weights into the moving average with decay d.
func (st *state) average(d float32) {
	ema := st.ema
	w := st.m.Params.W
	for i, v := range w {
		ema[i] = d*ema[i] + (1-d)*v
	}
	off := len(w)
	for _, b := range st.m.Buffers {
		for i, v := range b.W {
			ema[off+i] = d*ema[off+i] + (1-d)*v
		}
		off += len(b.W)
	}
}

// useKept puts the weights that would be kept (the average, with EMA)
// into the model and returns the raw ones to put back, or nil.
func (st *state) useKept() []float32 {
	if st.ema == nil {
		return nil
	}
	raw := make([]float32, len(st.ema))
	weights(raw, st.m)
	setWeights(st.m, st.ema)
	return raw
}

func newOptimizer(opt Options) (optim.Optimizer, error) {
	if opt.WeightDecay > 0 {
		switch opt.Optimizer {
		case "adamw":
			return optim.NewAdamW(opt.LR, 0.9, 0.999, 1e-8, opt.WeightDecay), nil
		case "adam":
			return optim.NewAdam(opt.LR, 0.9, 0.999, 1e-8, opt.WeightDecay), nil
		case "sgd":
			return optim.NewSGD(opt.LR, 0.9, false, opt.WeightDecay), nil
		}
	}
	o, err := optim.New(opt.Optimizer, opt.LR)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return o, nil
}

// Evaluate returns the model's mean loss over one pass of src (as
// validation computes it: dropout off, a VAE's noise from a fixed seed).
func Evaluate(m *ae.Model, src Source) (float64, error) {
	steps := src.Epoch(0)
	var sum float64
	n := 0
	for range steps {
		x, y, err := src.Next()
		if err != nil {
			return 0, fmt.Errorf("train: validation: %w", err)
		}
		l, err := m.Loss(x, y)
		if err != nil {
			return 0, fmt.Errorf("train: validation: %w", err)
		}
		sum += l * float64(x.Rows())
		n += x.Rows()
	}
	return sum / float64(max(n, 1)), nil
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

// checkpointState is the JSON a checkpoint keeps beside the tensors.
type checkpointState struct {
	Record    *Record `json:"record"`
	Best      float64 `json:"best"`
	OptSteps  int64   `json:"optimizer_steps"`
	Optimizer string  `json:"optimizer"`
}

// Checkpoint metadata key and tensor names. Checkpoints of the first
// release used other keys and are refused with a hint to start over.
const (
	metaCheckpoint = "train_checkpoint"
	tensorBest     = "train.best"
	tensorEMA      = "train.ema"
	optimPrefix    = "optim."
)

func (st *state) save(path string) error {
	cs := checkpointState{Record: st.rec, Best: st.best, OptSteps: st.o.Steps(), Optimizer: st.rec.Optimizer}
	if math.IsInf(cs.Best, 0) {
		cs.Best = math.MaxFloat64
	}
	raw, err := json.Marshal(cs)
	if err != nil {
		return err
	}
	extra := &ae.Extra{Meta: map[string]string{metaCheckpoint: string(raw)}, Tensors: map[string][]float32{}}
	if st.bestW != nil {
		extra.Tensors[tensorBest] = st.bestW
	}
	if st.ema != nil {
		extra.Tensors[tensorEMA] = st.ema
	}
	for i, name := range st.names {
		extra.Tensors[optimPrefix+name] = st.opt[i]
	}
	saved := st.m.Training
	st.m.Training = st.rec
	defer func() { st.m.Training = saved }()
	if err := st.m.SaveWith(path, extra); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	return nil
}

func (st *state) restore(path, command string) error {
	cm, extra, err := ae.OpenWith(path)
	if err != nil {
		return fmt.Errorf("train: resume: %w", err)
	}
	raw, ok := extra.Meta[metaCheckpoint]
	if !ok {
		if _, old := extra.Meta["checkpoint"]; old {
			return fmt.Errorf("train: resume: %s is a checkpoint of an earlier release, which this one cannot continue; delete it and train from the start", path)
		}
		if _, old := extra.Meta["conv_checkpoint"]; old {
			return fmt.Errorf("train: resume: %s is a checkpoint of an earlier release, which this one cannot continue; delete it and train from the start", path)
		}
		return fmt.Errorf("train: resume: %s is a model, not a checkpoint; pass the checkpoint file (default MODEL.ckpt)", path)
	}
	var cs checkpointState
	if err := json.Unmarshal([]byte(raw), &cs); err != nil || cs.Record == nil {
		return fmt.Errorf("train: resume: %s: checkpoint state is damaged; delete it to start over", path)
	}
	a, _ := json.Marshal(cm.Config)
	b, _ := json.Marshal(st.m.Config)
	if string(a) != string(b) {
		return fmt.Errorf("train: resume: %s holds a different architecture (%s, %d parameters; now %s, %d); use the same flags or delete it", path, cm.Config.Summary(), cm.NumParams(), st.m.Config.Summary(), st.m.NumParams())
	}
	if cs.Record.Data != st.rec.Data {
		return fmt.Errorf("train: resume: %s was made on other data or with another batch size (%s; now %s); resume with the same data and flags, or delete it to start over", path, cs.Record.Data, st.rec.Data)
	}
	if cs.Optimizer != st.rec.Optimizer {
		return fmt.Errorf("train: resume: %s was made with optimizer %s; resume with --optimizer %s", path, cs.Optimizer, cs.Optimizer)
	}
	get := func(name string, dst []float32) error {
		if dst == nil {
			return nil
		}
		t, ok := extra.Tensors[name]
		if !ok || len(t) != len(dst) {
			return fmt.Errorf("train: resume: %s has no %s state of the right size; resume with the flags it was made with, or delete it", path, name)
		}
		copy(dst, t)
		return nil
	}
	for i, name := range st.names {
		if err := get(optimPrefix+name, st.opt[i]); err != nil {
			return err
		}
	}
	if err := get(tensorBest, st.bestW); err != nil {
		return err
	}
	if err := get(tensorEMA, st.ema); err != nil {
		return err
	}
	copy(st.m.Params.W, cm.Params.W)
	for i, b := range st.m.Buffers {
		copy(b.W, cm.Buffers[i].W)
	}
	st.o.SetSteps(cs.OptSteps)
	st.best = cs.Best
	if st.best == math.MaxFloat64 {
		st.best = math.Inf(1)
	}
	rec := cs.Record
	if rec.Command != command && command != "" {
		// keep the provenance of every part of the run
		rec.Command += fmt.Sprintf(" [epochs 1-%d]; resumed: %s", rec.Epochs, command)
	}
	if rec.Stopped != "early-stopping" {
		rec.Stopped = ""
	}
	st.rec = rec
	return nil
}
