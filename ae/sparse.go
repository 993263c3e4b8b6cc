package ae

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Sparsity penalties on the code h (batch N × code K), added to the
// training loss of a dense autoencoder:
//
//	l1:λ     λ · (1/N) Σₙ Σⱼ |hₙⱼ|         (Keras' activity_regularizer=l1(λ))
//	kl:ρ:β   β · Σⱼ KL(ρ ‖ ρ̂ⱼ), ρ̂ⱼ = (1/N) Σₙ hₙⱼ  (Ng's sparse autoencoder;
//	         needs a code in (0,1): --code-activation sigmoid)
const (
	SparsityL1 = "l1"
	SparsityKL = "kl"
)

type sparsity struct {
	kind      string
	lambda    float64 // l1 weight, or β for kl
	rho       float64 // kl target activation
	rhoHat    []float64
	rhoHatBuf []float64
}

// parseSparsity reads "l1:λ" or "kl:ρ:β"; "" gives nil. Its errors wrap
// ErrConfig (Validate returns them).
func parseSparsity(s string) (*sparsity, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ":")
	num := func(i int, what string) (float64, error) {
		v, err := strconv.ParseFloat(parts[i], 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return 0, fmt.Errorf("%w: sparsity %q: %s %q is not a non-negative number", ErrConfig, s, what, parts[i])
		}
		return v, nil
	}
	switch {
	case parts[0] == SparsityL1 && len(parts) == 2:
		l, err := num(1, "λ")
		if err != nil {
			return nil, err
		}
		return &sparsity{kind: SparsityL1, lambda: l}, nil
	case parts[0] == SparsityKL && len(parts) == 3:
		rho, err := num(1, "ρ")
		if err != nil {
			return nil, err
		}
		if rho <= 0 || rho >= 1 {
			return nil, fmt.Errorf("%w: sparsity %q: target activation ρ=%v must be in (0, 1), e.g. kl:0.05:1", ErrConfig, s, rho)
		}
		b, err := num(2, "β")
		if err != nil {
			return nil, err
		}
		return &sparsity{kind: SparsityKL, rho: rho, lambda: b}, nil
	}
	return nil, fmt.Errorf("%w: sparsity %q: want l1:λ (e.g. l1:1e-4) or kl:ρ:β (e.g. kl:0.05:1)", ErrConfig, s)
}

// penalty returns the penalty of codes h and, when dh is not nil, adds its
// gradient to dh.
func (s *sparsity) penalty(h, dh *tensor.Tensor) float64 {
	n := h.Rows()
	k := h.Cols()
	inv := 1 / float64(max(n, 1))
	switch s.kind {
	case SparsityL1:
		var sum float64
		for _, v := range h.Data {
			sum += math.Abs(float64(v))
		}
		if dh != nil {
			g := float32(s.lambda * inv)
			for i, v := range h.Data {
				switch {
				case v > 0:
					dh.Data[i] += g
				case v < 0:
					dh.Data[i] -= g
				}
			}
		}
		return s.lambda * sum * inv
	default: // kl
		if cap(s.rhoHatBuf) < k {
			s.rhoHatBuf = make([]float64, k)
		}
		rh := s.rhoHatBuf[:k]
		clear(rh)
		for i := 0; i < n; i++ {
			for j, v := range h.Data[i*k : (i+1)*k] {
				rh[j] += float64(v)
			}
		}
		const eps = 1e-6
		var loss float64
		rho := s.rho
		for j := range rh {
			r := min(max(rh[j]*inv, eps), 1-eps)
			rh[j] = r
			loss += rho*math.Log(rho/r) + (1-rho)*math.Log((1-rho)/(1-r))
		}
		if dh != nil {
			for i := 0; i < n; i++ {
				row := dh.Data[i*k : (i+1)*k]
				for j, r := range rh {
					row[j] += float32(s.lambda * inv * (-rho/r + (1-rho)/(1-r)))
				}
			}
		}
		return s.lambda * loss
	}
}

// MeanActivation is the mean code value and the mean absolute code value
// of x over all rows and code units, computed in batches.
func (m *Model) MeanActivation(x *tensor.Tensor, batch int) (mean, meanAbs float64, err error) {
	x = m.shaped(x)
	n, per := x.Rows(), len(x.Data)/max(x.Rows(), 1)
	batch = max(batch, 1)
	var s, a float64
	count := 0
	inst, err := m.instanceOf(x)
	if err != nil {
		return 0, 0, err
	}
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		z := m.encode(inst, tensor.From(x.Data[lo*per:hi*per], append([]int{hi - lo}, x.Shape[1:]...)...))
		for _, v := range z.Data {
			s += float64(v)
			a += math.Abs(float64(v))
		}
		count += len(z.Data)
	}
	if count == 0 {
		return 0, 0, nil
	}
	return s / float64(count), a / float64(count), nil
}
