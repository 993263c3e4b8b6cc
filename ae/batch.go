package ae

import (
	"fmt"
	"math"

	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Batched applies f (a model's Encode, Decode or Reconstruct) to x in
// batches of at most batch samples and gathers the outputs into one new
// tensor [N, ...output], so a whole dataset runs in bounded memory.
func Batched(f func(dst, x *tensor.Tensor) (*tensor.Tensor, error), x *tensor.Tensor, batch int) (*tensor.Tensor, error) {
	n := x.Rows()
	if n == 0 {
		return nil, fmt.Errorf("ae: no samples")
	}
	batch = max(batch, 1)
	per := len(x.Data) / n
	var out, y *tensor.Tensor
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		in := tensor.From(x.Data[lo*per:hi*per], append([]int{hi - lo}, x.Shape[1:]...)...)
		var err error
		if y, err = f(y, in); err != nil {
			return nil, err
		}
		k := len(y.Data) / (hi - lo)
		if out == nil {
			out = tensor.New(append([]int{n}, y.Shape[1:]...)...)
		}
		copy(out.Data[lo*k:hi*k], y.Data)
	}
	return out, nil
}

// Eval is how well a model reconstructs data: per-element means over the
// samples, in the model's preprocessed space.
type Eval struct {
	MSE      float64  `json:"mse"`
	BCE      *float64 `json:"bce"` // null when the output is not a probability of [0,1] data
	Rows     int      `json:"rows"`
	Features int      `json:"features"`
}

// Evaluate reconstructs x in batches and returns the mean squared error
// per element and, for a sigmoid output reconstructing data in [0,1], the
// binary cross-entropy (with PyTorch's clamp of log at -100).
func (m *Model) Evaluate(x *tensor.Tensor, batch int) (Eval, error) {
	n := x.Rows()
	d := len(x.Data) / max(n, 1)
	withBCE := m.Config.lastSpec() == nn.ActSigmoid
	var se, ce float64
	var y *tensor.Tensor
	batch = max(batch, 1)
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		in := tensor.From(x.Data[lo*d:hi*d], append([]int{hi - lo}, x.Shape[1:]...)...)
		var err error
		if y, err = m.Reconstruct(y, in); err != nil {
			return Eval{}, err
		}
		if len(y.Data) != len(in.Data) {
			return Eval{}, fmt.Errorf("ae: the model maps %v to %v; evaluation compares a reconstruction with its input", in.Shape, y.Shape)
		}
		for i, p := range y.Data {
			t := float64(in.Data[i])
			diff := float64(p) - t
			se += diff * diff
			if withBCE {
				if t < 0 || t > 1 {
					withBCE = false
					continue
				}
				pv := float64(p)
				ce -= t*clampLog(pv) + (1-t)*clampLog(1-pv)
			}
		}
	}
	total := float64(max(1, n*d))
	res := Eval{MSE: se / total, Rows: n, Features: d}
	if withBCE {
		v := ce / total
		res.BCE = &v
	}
	return res, nil
}

// clampLog is log with PyTorch's BCELoss clamp at -100.
func clampLog(v float64) float64 {
	if v <= 0 {
		return -100
	}
	return max(math.Log(v), -100)
}
