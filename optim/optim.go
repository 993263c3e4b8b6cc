// Package optim holds the optimisers and learning-rate schedules of
// bottleneck's training loop.
//
// An optimiser works on a model's flat parameter and gradient arrays (see
// nn.ParamSet): Step is one pass over the slices, in float32, with the
// update rules of PyTorch's torch.optim (SGD, Adam, AdamW), so a model
// trained here follows the same trajectory as one trained there to within
// float32 rounding. Step allocates nothing after its first call.
//
// Checkpoints save and restore an optimiser with StateTensors, Steps and
// SetSteps:
//
//	names, data := opt.StateTensors(len(params)) // live slices, zeroed at first
//	// save: write names[i], data[i] and opt.Steps()
//	// resume: copy the saved values into data[i], then opt.SetSteps(saved)
package optim

import (
	"fmt"
	"strings"
)

// Optimizer updates a flat parameter array from its gradient.
type Optimizer interface {
	// Step applies one update to params from grads (same length) and
	// increments the step counter. The state is sized on the first call;
	// later calls must pass slices of the same length.
	Step(params, grads []float32)
	// SetLR sets the learning rate used by the next Step (schedules call it
	// before every step).
	SetLR(lr float64)
	// LR returns the current learning rate.
	LR() float64
	// Steps returns how many steps have been taken (PyTorch's state "step").
	Steps() int64
	// SetSteps sets the step counter, for resuming from a checkpoint.
	SetSteps(n int64)
	// StateTensors returns the names and the live slices of the per-parameter
	// state for a model of n parameters, allocating them zeroed if they do
	// not exist yet. Names are stable across versions ("momentum_buffer"
	// for SGD with momentum, "exp_avg" and "exp_avg_sq" for Adam/AdamW, as
	// PyTorch's state_dict). Writing into the slices restores a state.
	StateTensors(n int) (names []string, data [][]float32)
}

// Names lists the optimisers New accepts.
var Names = []string{"sgd", "adam", "adamw"}

// New returns the optimiser called name (case-insensitive) with learning
// rate lr and PyTorch's default hyper-parameters: SGD without momentum or
// weight decay; Adam with betas 0.9/0.999, eps 1e-8, no weight decay; AdamW
// likewise with weight decay 0.01.
func New(name string, lr float64) (Optimizer, error) {
	if lr < 0 {
		return nil, fmt.Errorf("optim: learning rate %g is negative; pass a positive --lr", lr)
	}
	switch strings.ToLower(name) {
	case "sgd":
		return NewSGD(lr, 0, false, 0), nil
	case "adam":
		return NewAdam(lr, 0.9, 0.999, 1e-8, 0), nil
	case "adamw":
		return NewAdamW(lr, 0.9, 0.999, 1e-8, 0.01), nil
	}
	return nil, fmt.Errorf("optim: unknown optimizer %q (want one of %s)", name, strings.Join(Names, ", "))
}

func checkLens(op string, params, grads []float32, state int) {
	if len(params) != len(grads) {
		panic(fmt.Sprintf("optim: %s: %d params but %d grads", op, len(params), len(grads)))
	}
	if state >= 0 && state != len(params) {
		panic(fmt.Sprintf("optim: %s: state sized for %d params, step got %d", op, state, len(params)))
	}
}

var (
	_ Optimizer = (*SGD)(nil)
	_ Optimizer = (*Adam)(nil)
)
