package optim

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Schedule gives the learning-rate multiplier for a step: the trainer sets
// opt.SetLR(base * s.LR(step, totalSteps)) before each step. step counts
// from 0; totalSteps is the number of steps of the whole run.
type Schedule interface {
	LR(step, totalSteps int) float64
}

// Constant keeps the base learning rate.
type Constant struct{}

func (Constant) LR(int, int) float64 { return 1 }
func (Constant) String() string      { return "constant" }

// StepDecay multiplies the rate by Gamma every Every steps (PyTorch's
// StepLR counted in optimiser steps).
type StepDecay struct {
	Every int
	Gamma float64
}

func (s StepDecay) LR(step, _ int) float64 {
	return math.Pow(s.Gamma, float64(step/s.Every))
}
func (s StepDecay) String() string { return fmt.Sprintf("step:%d:%g", s.Every, s.Gamma) }

// Cosine ramps the rate linearly over the first Warmup steps
// ((step+1)/Warmup, so the first step is not wasted), then anneals it along
// a half cosine from 1 to Min over the remaining steps.
type Cosine struct {
	Warmup int
	Min    float64 // final multiplier, in [0, 1]
}

func (c Cosine) LR(step, total int) float64 {
	if step < c.Warmup {
		return float64(step+1) / float64(c.Warmup)
	}
	span := max(1, total-c.Warmup)
	p := min(1, max(0, float64(step-c.Warmup)/float64(span)))
	return c.Min + (1-c.Min)*0.5*(1+math.Cos(math.Pi*p))
}

func (c Cosine) String() string { return fmt.Sprintf("cosine:%d:%g", c.Warmup, c.Min) }

// ParseSchedule parses a --lr-schedule flag:
//
//	constant              the base rate throughout
//	step:EVERY:GAMMA      ×GAMMA every EVERY steps, e.g. step:1000:0.5
//	cosine                cosine from the base rate to 0 over the run
//	cosine:WARMUP         the same after WARMUP linear warm-up steps
//	cosine:WARMUP:MIN     ... ending at MIN × the base rate, e.g. cosine:500:0.01
func ParseSchedule(s string) (Schedule, error) {
	parts := strings.Split(strings.TrimSpace(s), ":")
	bad := func(why string) error {
		return fmt.Errorf("optim: schedule %q: %s (want constant, step:EVERY:GAMMA, cosine, cosine:WARMUP or cosine:WARMUP:MIN)", s, why)
	}
	switch strings.ToLower(parts[0]) {
	case "constant", "":
		if len(parts) != 1 {
			return nil, bad("constant takes no arguments")
		}
		return Constant{}, nil
	case "step":
		if len(parts) != 3 {
			return nil, bad("step needs EVERY and GAMMA")
		}
		every, err := strconv.Atoi(parts[1])
		if err != nil || every < 1 {
			return nil, bad("EVERY must be a positive integer")
		}
		gamma, err := strconv.ParseFloat(parts[2], 64)
		if err != nil || !(gamma > 0) || math.IsInf(gamma, 0) {
			return nil, bad("GAMMA must be a positive number")
		}
		return StepDecay{Every: every, Gamma: gamma}, nil
	case "cosine":
		if len(parts) > 3 {
			return nil, bad("too many arguments")
		}
		c := Cosine{}
		if len(parts) > 1 {
			w, err := strconv.Atoi(parts[1])
			if err != nil || w < 0 {
				return nil, bad("WARMUP must be a non-negative integer")
			}
			c.Warmup = w
		}
		if len(parts) > 2 {
			m, err := strconv.ParseFloat(parts[2], 64)
			if err != nil || !(m >= 0 && m <= 1) {
				return nil, bad("MIN must be a number in [0, 1]")
			}
			c.Min = m
		}
		return c, nil
	}
	return nil, bad("unknown schedule")
}
