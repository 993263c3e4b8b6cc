package optim

import "github.com/bottleneck-ml/bottleneck/internal/f32"

// SGD is stochastic gradient descent with optional momentum (PyTorch's
// torch.optim.SGD with dampening 0):
//
//	g = grad + wd·p
//	b = μ·b + g            (b starts at g, which is the same as starting at 0)
//	g = g + μ·b  if nesterov, else g = b
//	p = p - lr·g
//
// A momentum buffer that falls below float32's normal range is set to zero
// (as Adam's moments: f32.FlushSubnormal).
type SGD struct {
	lr          float64
	Momentum    float64
	Nesterov    bool
	WeightDecay float64
	steps       int64
	buf         []float32 // momentum buffer, nil without momentum
}

// NewSGD returns SGD with learning rate lr, momentum, Nesterov momentum and
// L2 weight decay (added to the gradient), as torch.optim.SGD.
func NewSGD(lr, momentum float64, nesterov bool, weightDecay float64) *SGD {
	return &SGD{lr: lr, Momentum: momentum, Nesterov: nesterov, WeightDecay: weightDecay}
}

func (o *SGD) SetLR(lr float64)  { o.lr = lr }
func (o *SGD) LR() float64       { return o.lr }
func (o *SGD) Steps() int64      { return o.steps }
func (o *SGD) SetSteps(n int64)  { o.steps = n }
func (o *SGD) String() string    { return "sgd" }
func (o *SGD) hasMomentum() bool { return o.Momentum != 0 }

// StateTensors returns "momentum_buffer" when momentum is on, else nothing.
func (o *SGD) StateTensors(n int) ([]string, [][]float32) {
	if !o.hasMomentum() {
		return nil, nil
	}
	if o.buf == nil {
		o.buf = make([]float32, n)
	}
	return []string{"momentum_buffer"}, [][]float32{o.buf}
}

// Step applies one SGD update.
func (o *SGD) Step(params, grads []float32) {
	lr := float32(o.lr)
	wd := float32(o.WeightDecay)
	o.steps++
	if !o.hasMomentum() {
		checkLens("SGD", params, grads, -1)
		grads = grads[:len(params)]
		for i, p := range params {
			g := grads[i] + wd*p
			params[i] = p - lr*g
		}
		return
	}
	if o.buf == nil {
		o.buf = make([]float32, len(params))
	}
	checkLens("SGD", params, grads, len(o.buf))
	mu := float32(o.Momentum)
	grads = grads[:len(params)]
	buf := o.buf[:len(params)]
	for i, p := range params {
		g := grads[i] + wd*p
		// a subnormal buffer would stick there and slow every step
		// (see f32.FlushSubnormal)
		b := f32.FlushSubnormal(mu*buf[i] + g)
		buf[i] = b
		if o.Nesterov {
			g += mu * b
		} else {
			g = b
		}
		params[i] = p - lr*g
	}
}
