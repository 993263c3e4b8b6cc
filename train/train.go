// Package train fits an autoencoder: mini-batch epochs with a validation
// split, early stopping, a learning-rate schedule, gradient clipping, a
// NaN/Inf guard, a checkpoint after every epoch that --resume continues
// from, and Ctrl-C (context cancellation) that saves a checkpoint and stops
// cleanly.
//
// Training is deterministic: the same seed and the same thread count give
// bit-identical weights (the batch order comes from a PCG seeded with the
// seed and the epoch, and every kernel accumulates in a fixed order).
package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"time"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/internal/safetensors"
	"github.com/bottleneck-ml/bottleneck/optim"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Options configure Fit. The zero value of a field means its default.
type Options struct {
	Epochs      int     // default 20
	Batch       int     // default 128
	LR          float64 // default 1e-3
	Optimizer   string  // sgd, adam (default), adamw
	WeightDecay float64 // for adamw/sgd; 0 = optimiser default
	Schedule    string  // optim.ParseSchedule syntax; default constant
	ClipNorm    float64 // clip the global gradient norm; 0 = off
	Patience    int     // early stopping: epochs without validation improvement; 0 = off
	Seed        uint64

	// Checkpoint is where the state is saved after every epoch (and on
	// interruption); "" disables checkpoints. With Resume, training
	// continues from it when it exists.
	Checkpoint string
	Resume     bool

	// Log receives progress; nil discards it. Bar draws a terminal
	// progress bar on Log instead of periodic lines.
	Log io.Writer
	Bar bool

	// Corrupt, when set, fills dst with a corrupted copy of the clean batch
	// src (denoising autoencoders); the model learns to map dst to src.
	Corrupt func(dst, src *tensor.Tensor, rng *rand.Rand)

	// BeforeStep, when set, is called before every training step with the
	// number of steps taken so far (counted across resumes) and the steps
	// per epoch; schedules such as a VAE's KL warm-up hang on it.
	BeforeStep func(step, stepsPerEpoch int)
}

func (o *Options) defaults() {
	if o.Epochs <= 0 {
		o.Epochs = 20
	}
	if o.Batch <= 0 {
		o.Batch = 128
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

// Record is what training did; it is stored in the model file.
type Record struct {
	Epochs        int       `json:"epochs"`     // epochs completed
	MaxEpochs     int       `json:"max_epochs"` // epochs asked for
	BestEpoch     int       `json:"best_epoch"` // 1-based epoch whose weights were kept
	TrainLoss     []float64 `json:"train_loss"` // mean training loss per epoch
	ValLoss       []float64 `json:"val_loss"`   // validation loss per epoch (empty without validation)
	Loss          string    `json:"loss"`       // loss function
	Batch         int       `json:"batch"`      //
	LR            float64   `json:"lr"`         //
	Optimizer     string    `json:"optimizer"`  //
	Schedule      string    `json:"schedule"`   //
	Seed          uint64    `json:"seed"`       //
	TrainRows     int       `json:"train_rows"` //
	ValRows       int       `json:"val_rows"`   //
	Seconds       float64   `json:"seconds"`    // wall time of the epochs run (all sessions)
	SamplesPerSec float64   `json:"samples_per_s"`
	Stopped       string    `json:"stopped"` // completed, early-stopping, interrupted
	Finished      time.Time `json:"finished"`
}

// ErrInterrupted is returned when the context is cancelled (Ctrl-C); the
// checkpoint holds the state to resume from.
var ErrInterrupted = errors.New("training interrupted")

// ErrDiverged is wrapped when the loss becomes NaN or Inf.
var ErrDiverged = errors.New("training diverged")

// Fit trains m on the rows of trainDS, validating on valDS (nil or empty:
// no validation). With validation the best epoch's weights are kept. The
// record is also stored in m.Training.
func Fit(ctx context.Context, m *ae.Model, trainDS, valDS *dataset.Dataset, opt Options) (*Record, error) {
	opt.defaults()
	trainX := trainDS.X
	var valX *tensor.Tensor
	if valDS != nil {
		valX = valDS.X
	}
	if trainX.Rows() == 0 {
		return nil, errors.New("train: no training rows; check the data file and the --normal filter")
	}
	if trainX.Cols() != m.Config.Input() {
		return nil, fmt.Errorf("train: data has %d features per row, model expects %d", trainX.Cols(), m.Config.Input())
	}
	opt.Batch = min(opt.Batch, trainX.Rows())
	o, err := newOptimizer(opt)
	if err != nil {
		return nil, err
	}
	sched, err := optim.ParseSchedule(opt.Schedule)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	hasVal := valX != nil && valX.Rows() > 0
	rec := &Record{
		MaxEpochs: opt.Epochs, Loss: m.Config.Loss, Batch: opt.Batch, LR: opt.LR,
		Optimizer: opt.Optimizer, Schedule: opt.Schedule, Seed: opt.Seed,
		TrainRows: trainX.Rows(), ValRows: rowsOf(valX), BestEpoch: 0,
	}
	best := math.Inf(1)
	bestW := make([]float32, m.Params.Len())
	copy(bestW, m.Params.W)
	names, state := o.StateTensors(m.Params.Len())

	if opt.Resume && opt.Checkpoint != "" {
		if _, err := os.Stat(opt.Checkpoint); err == nil {
			r, b, err := restore(opt.Checkpoint, m, o, names, state, bestW)
			if err != nil {
				return nil, err
			}
			if r.Batch != opt.Batch || r.TrainRows != rec.TrainRows {
				return nil, fmt.Errorf("train: checkpoint %s was made with batch %d on %d rows, now batch %d on %d rows; resume with the same data and flags or delete it", opt.Checkpoint, r.Batch, r.TrainRows, opt.Batch, rec.TrainRows)
			}
			rec, best = r, b
			rec.MaxEpochs = opt.Epochs
			logf(opt.Log, "resuming from %s after epoch %d\n", opt.Checkpoint, rec.Epochs)
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("train: checkpoint %s: %w", opt.Checkpoint, err)
		}
	}

	n := trainX.Rows()
	batches := dataset.NewBatcher(trainDS, opt.Batch, opt.Seed)
	stepsPerEpoch := batches.NumBatches()
	total := stepsPerEpoch * opt.Epochs
	var cb *tensor.Tensor
	if opt.Corrupt != nil {
		cb = tensor.New(append([]int{opt.Batch}, trainDS.Shape...)...)
	}
	noiseRNG := rand.New(rand.NewPCG(opt.Seed, 0x5be0cd19137e2179))
	start := time.Now()
	prevSeconds := rec.Seconds
	sinceImprove := 0
	if hasVal && rec.BestEpoch > 0 {
		sinceImprove = rec.Epochs - rec.BestEpoch
	}
	for epoch := rec.Epochs; epoch < opt.Epochs; epoch++ {
		if rec.Stopped == "early-stopping" {
			break
		}
		batches.Reset(epoch)
		prog := newProgress(opt.Log, opt.Bar, epoch+1, opt.Epochs, n)
		var sum float64
		epochStart := time.Now()
		seen := 0
		for s := 0; s < stepsPerEpoch; s++ {
			if err := ctx.Err(); err != nil {
				prog.done()
				rec.Stopped = "interrupted"
				rec.Seconds = prevSeconds + time.Since(start).Seconds()
				if opt.Checkpoint != "" {
					if err := checkpoint(opt.Checkpoint, m, o, names, state, bestW, rec, best); err != nil {
						return rec, fmt.Errorf("train: interrupted, and saving the checkpoint failed: %w", err)
					}
					return rec, fmt.Errorf("%w after %d epochs; checkpoint saved to %s, continue with --resume", ErrInterrupted, rec.Epochs, opt.Checkpoint)
				}
				return rec, fmt.Errorf("%w after %d epochs", ErrInterrupted, rec.Epochs)
			}
			xb, _ := batches.Next()
			rows := xb.Rows()
			in := xb
			if opt.Corrupt != nil {
				cb.SetRows(rows)
				opt.Corrupt(cb, xb, noiseRNG)
				in = cb
			}
			if opt.BeforeStep != nil {
				opt.BeforeStep(int(o.Steps()), stepsPerEpoch)
			}
			m.Params.ZeroGrad()
			loss := m.TrainStep(in, xb)
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				prog.done()
				return rec, fmt.Errorf("train: %w: loss is %v at epoch %d, step %d; lower the learning rate (--lr, now %g), turn on gradient clipping (--clip 1), or check the data scaling (features far from unit scale)", ErrDiverged, loss, epoch+1, s+1, opt.LR)
			}
			if opt.ClipNorm > 0 {
				optim.ClipGradNorm(m.Params.G, opt.ClipNorm)
			}
			o.SetLR(opt.LR * sched.LR(int(o.Steps()), total))
			o.Step(m.Params.W, m.Params.G)
			sum += loss * float64(rows)
			seen += rows
			prog.step(rows, sum/float64(seen))
		}
		trainLoss := sum / float64(n)
		rec.TrainLoss = append(rec.TrainLoss, trainLoss)
		rec.Epochs = epoch + 1
		val := math.NaN()
		improved := false
		if hasVal {
			val = Evaluate(m, valX, opt.Batch)
			if math.IsNaN(val) || math.IsInf(val, 0) {
				prog.done()
				return rec, fmt.Errorf("train: %w: validation loss is %v after epoch %d; lower the learning rate (--lr, now %g) or check the data scaling", ErrDiverged, val, epoch+1, opt.LR)
			}
			rec.ValLoss = append(rec.ValLoss, val)
		} else {
			val = trainLoss
		}
		// An epoch counts as an improvement (for the kept weights and for
		// early stopping) when it lowers the best loss by a relative 1e-4:
		// float noise alone must not reset the patience counter.
		improved = val < best-minDelta*math.Abs(best) || math.IsInf(best, 1)
		if improved {
			best = val
			rec.BestEpoch = epoch + 1
			copy(bestW, m.Params.W)
			sinceImprove = 0
		} else {
			sinceImprove++
		}
		prog.done()
		elapsed := time.Since(epochStart).Seconds()
		if hasVal {
			logf(opt.Log, "epoch %d/%d  loss %.5f  val %.5f  %.0f samples/s  %.1fs\n", epoch+1, opt.Epochs, trainLoss, val, float64(n)/elapsed, elapsed)
		} else {
			logf(opt.Log, "epoch %d/%d  loss %.5f  %.0f samples/s  %.1fs\n", epoch+1, opt.Epochs, trainLoss, float64(n)/elapsed, elapsed)
		}
		if opt.Patience > 0 && hasVal && sinceImprove >= opt.Patience {
			rec.Stopped = "early-stopping"
			logf(opt.Log, "early stopping: validation loss has not improved for %d epochs (best %.5f at epoch %d)\n", opt.Patience, best, rec.BestEpoch)
		}
		rec.Seconds = prevSeconds + time.Since(start).Seconds()
		if opt.Checkpoint != "" {
			if err := checkpoint(opt.Checkpoint, m, o, names, state, bestW, rec, best); err != nil {
				return rec, fmt.Errorf("train: %w", err)
			}
		}
	}
	if rec.Stopped != "early-stopping" {
		rec.Stopped = "completed"
	}
	if rec.BestEpoch > 0 {
		copy(m.Params.W, bestW)
	}
	rec.Seconds = prevSeconds + time.Since(start).Seconds()
	if rec.Seconds > 0 {
		rec.SamplesPerSec = float64(rec.Epochs*n) / rec.Seconds
	}
	rec.Finished = time.Now().UTC().Truncate(time.Second)
	raw, err := json.Marshal(rec)
	if err != nil {
		return rec, fmt.Errorf("train: %w", err)
	}
	m.Training = raw
	return rec, nil
}

func rowsOf(t *tensor.Tensor) int {
	if t == nil {
		return 0
	}
	return t.Rows()
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

// Evaluate returns the model's mean training loss over x, in batches.
func Evaluate(m *ae.Model, x *tensor.Tensor, batch int) float64 {
	n, d := x.Rows(), x.Cols()
	var sum float64
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		b := tensor.From(x.Data[lo*d:hi*d], hi-lo, d)
		sum += m.Loss(b, b) * float64(hi-lo)
	}
	return sum / float64(max(n, 1))
}

const minDelta = 1e-4

const (
	metaCheckpoint = "checkpoint"
	tensorBest     = "train.best_weights"
	optimPrefix    = "optim."
)

type checkpointState struct {
	Record    *Record `json:"record"`
	Best      float64 `json:"best"`
	OptSteps  int64   `json:"optimizer_steps"`
	Optimizer string  `json:"optimizer"`
}

func checkpoint(path string, m *ae.Model, o optim.Optimizer, names []string, state [][]float32, bestW []float32, rec *Record, best float64) error {
	st := checkpointState{Record: rec, Best: best, OptSteps: o.Steps(), Optimizer: rec.Optimizer}
	if math.IsInf(best, 0) {
		st.Best = math.MaxFloat64
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return err
	}
	extra := &ae.Extra{Meta: map[string]string{metaCheckpoint: string(raw)}}
	extra.Tensors = append(extra.Tensors, safetensors.Tensor{Name: tensorBest, Shape: []int{len(bestW)}, Data: bestW})
	for i, name := range names {
		extra.Tensors = append(extra.Tensors, safetensors.Tensor{Name: optimPrefix + name, Shape: []int{len(state[i])}, Data: state[i]})
	}
	if err := m.SaveWith(path, extra); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	return nil
}

func restore(path string, m *ae.Model, o optim.Optimizer, names []string, state [][]float32, bestW []float32) (*Record, float64, error) {
	cm, extra, err := ae.LoadWith(path)
	if err != nil {
		return nil, 0, fmt.Errorf("train: resume: %w", err)
	}
	raw, ok := extra.Meta[metaCheckpoint]
	if !ok {
		return nil, 0, fmt.Errorf("train: resume: %s is a model, not a checkpoint; pass the checkpoint file (default MODEL.ckpt)", path)
	}
	var st checkpointState
	if err := json.Unmarshal([]byte(raw), &st); err != nil || st.Record == nil {
		return nil, 0, fmt.Errorf("train: resume: %s: checkpoint state is damaged; delete it to start over", path)
	}
	if cm.Params.Len() != m.Params.Len() || !sameConfig(cm.Config, m.Config) {
		return nil, 0, fmt.Errorf("train: resume: %s holds a different architecture (%d parameters, want %d); use the same flags or delete it", path, cm.Params.Len(), m.Params.Len())
	}
	if st.Optimizer != "" && st.Optimizer != st.Record.Optimizer {
		return nil, 0, fmt.Errorf("train: resume: %s: inconsistent optimizer state", path)
	}
	byName := map[string]safetensors.Tensor{}
	for _, t := range extra.Tensors {
		byName[t.Name] = t
	}
	bt, ok := byName[tensorBest]
	if !ok || len(bt.Data) != len(bestW) {
		return nil, 0, fmt.Errorf("train: resume: %s: best weights missing; delete it to start over", path)
	}
	for i, name := range names {
		t, ok := byName[optimPrefix+name]
		if !ok || len(t.Data) != len(state[i]) {
			return nil, 0, fmt.Errorf("train: resume: %s has no %s state for optimizer %s; resume with the optimizer it was made with (%s)", path, name, o, st.Record.Optimizer)
		}
		copy(state[i], t.Data)
	}
	copy(m.Params.W, cm.Params.W)
	copy(bestW, bt.Data)
	o.SetSteps(st.OptSteps)
	best := st.Best
	if best == math.MaxFloat64 {
		best = math.Inf(1)
	}
	if st.Record.Stopped == "interrupted" {
		st.Record.Stopped = ""
	}
	return st.Record, best, nil
}

func sameConfig(a, b ae.Config) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}
