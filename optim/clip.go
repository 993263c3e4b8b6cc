package optim

import "math"

// ClipGradNorm scales grads in place so that their global L2 norm is at most
// maxNorm, as torch.nn.utils.clip_grad_norm_: with norm = ‖grads‖₂ and
// scale = maxNorm/(norm+1e-6), grads are multiplied by scale when it is
// below 1. It returns the norm before clipping (accumulated in float64). A
// non-finite norm leaves grads unchanged and is returned as is, so the
// caller can skip the step.
func ClipGradNorm(grads []float32, maxNorm float64) (norm float64) {
	var s float64
	for _, g := range grads {
		s += float64(g) * float64(g)
	}
	norm = math.Sqrt(s)
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		return norm
	}
	scale := maxNorm / (norm + 1e-6)
	if scale < 1 {
		c := float32(scale)
		for i := range grads {
			grads[i] *= c
		}
	}
	return norm
}
