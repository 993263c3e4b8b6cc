package optim

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func close32(got, want float32, tol float64) bool {
	return math.Abs(float64(got)-float64(want)) <= tol*max(1, math.Abs(float64(want)))
}

// One parameter p=1 with gradient 0.5, checked by hand against PyTorch's
// update rules.
func TestStepByHand(t *testing.T) {
	tests := []struct {
		name  string
		opt   Optimizer
		steps int
		want  float32
	}{
		{"sgd", NewSGD(0.1, 0, false, 0), 1, 0.95},
		{"sgd wd", NewSGD(0.1, 0, false, 0.1), 1, 0.94},                // g = 0.5 + 0.1·1
		{"sgd momentum 1 step", NewSGD(0.1, 0.9, false, 0), 1, 0.95},   // b = g
		{"sgd momentum 2 steps", NewSGD(0.1, 0.9, false, 0), 2, 0.855}, // b = 0.9·0.5 + 0.5
		{"sgd nesterov 1 step", NewSGD(0.1, 0.9, true, 0), 1, 0.905},   // g + 0.9·b = 0.95
		{"sgd nesterov 2 steps", NewSGD(0.1, 0.9, true, 0), 2, 0.905 - 0.1*(0.5+0.9*0.95)},
		{"adam 1 step", NewAdam(0.1, 0.9, 0.999, 1e-8, 0), 1, 0.9}, // m̂ = g, v̂ = g²: a step of lr
		{"adam 2 steps", NewAdam(0.1, 0.9, 0.999, 1e-8, 0), 2, 0.8},
		{"adam l2 1 step", NewAdam(0.1, 0.9, 0.999, 1e-8, 0.1), 1, 0.9},  // still sign(g)·lr
		{"adamw 1 step", NewAdamW(0.1, 0.9, 0.999, 1e-8, 0.1), 1, 0.89},  // 1·(1-0.01) - 0.1
		{"adam eps", NewAdam(0.1, 0.9, 0.999, 0.5, 0), 1, 1 - 0.1*0.5/1}, // denom |g| + eps = 1
	}
	for _, tt := range tests {
		p, g := []float32{1}, []float32{0.5}
		for range tt.steps {
			tt.opt.Step(p, g)
		}
		if !close32(p[0], tt.want, 1e-6) {
			t.Errorf("%s: p = %.9g; want %.9g", tt.name, p[0], tt.want)
		}
		if tt.opt.Steps() != int64(tt.steps) {
			t.Errorf("%s: Steps() = %d; want %d", tt.name, tt.opt.Steps(), tt.steps)
		}
	}
}

// refAdam is a float64 transcription of torch.optim.Adam/AdamW's docs.
func refAdam(p, g, m, v []float64, step int, lr, b1, b2, eps, wd float64, decoupled bool) {
	for i := range p {
		gi := g[i]
		if decoupled {
			p[i] *= 1 - lr*wd
		} else {
			gi += wd * p[i]
		}
		m[i] = b1*m[i] + (1-b1)*gi
		v[i] = b2*v[i] + (1-b2)*gi*gi
		mh := m[i] / (1 - math.Pow(b1, float64(step)))
		vh := v[i] / (1 - math.Pow(b2, float64(step)))
		p[i] -= lr * mh / (math.Sqrt(vh) + eps)
	}
}

func refSGD(p, g, b []float64, step int, lr, mu float64, nesterov bool, wd float64) {
	for i := range p {
		gi := g[i] + wd*p[i]
		if mu != 0 {
			b[i] = mu*b[i] + gi
			if nesterov {
				gi += mu * b[i]
			} else {
				gi = b[i]
			}
		}
		p[i] -= lr * gi
	}
}

// Ten steps on random parameters and gradients agree with a float64
// reference to float32 accuracy.
func TestAgainstFloat64Reference(t *testing.T) {
	const n, steps = 37, 10
	type cfg struct {
		name string
		opt  func() Optimizer
		ref  func(p, g, s1, s2 []float64, step int)
	}
	cfgs := []cfg{
		{"adam", func() Optimizer { return NewAdam(1e-2, 0.9, 0.999, 1e-8, 0) },
			func(p, g, m, v []float64, s int) { refAdam(p, g, m, v, s, 1e-2, 0.9, 0.999, 1e-8, 0, false) }},
		{"adam wd", func() Optimizer { return NewAdam(1e-2, 0.8, 0.99, 1e-6, 0.05) },
			func(p, g, m, v []float64, s int) { refAdam(p, g, m, v, s, 1e-2, 0.8, 0.99, 1e-6, 0.05, false) }},
		{"adamw", func() Optimizer { return NewAdamW(1e-2, 0.9, 0.999, 1e-8, 0.1) },
			func(p, g, m, v []float64, s int) { refAdam(p, g, m, v, s, 1e-2, 0.9, 0.999, 1e-8, 0.1, true) }},
		{"sgd", func() Optimizer { return NewSGD(0.05, 0, false, 0.01) },
			func(p, g, b, _ []float64, s int) { refSGD(p, g, b, s, 0.05, 0, false, 0.01) }},
		{"sgd momentum", func() Optimizer { return NewSGD(0.05, 0.9, false, 0.01) },
			func(p, g, b, _ []float64, s int) { refSGD(p, g, b, s, 0.05, 0.9, false, 0.01) }},
		{"sgd nesterov", func() Optimizer { return NewSGD(0.05, 0.9, true, 0) },
			func(p, g, b, _ []float64, s int) { refSGD(p, g, b, s, 0.05, 0.9, true, 0) }},
	}
	for _, c := range cfgs {
		rng := rand.New(rand.NewPCG(1, 2))
		p32, g32 := make([]float32, n), make([]float32, n)
		p64, g64 := make([]float64, n), make([]float64, n)
		s1, s2 := make([]float64, n), make([]float64, n)
		for i := range p32 {
			p32[i] = float32(rng.NormFloat64())
			p64[i] = float64(p32[i])
		}
		opt := c.opt()
		var maxDiff float64
		for s := 1; s <= steps; s++ {
			for i := range g32 {
				g32[i] = float32(rng.NormFloat64() * math.Pow(10, float64(i%5-2)))
				g64[i] = float64(g32[i])
			}
			opt.Step(p32, g32)
			c.ref(p64, g64, s1, s2, s)
			for i := range p32 {
				maxDiff = max(maxDiff, math.Abs(float64(p32[i])-p64[i])/max(1, math.Abs(p64[i])))
			}
		}
		if maxDiff > 1e-5 {
			t.Errorf("%s: max relative diff from float64 reference %.3g after %d steps; want <= 1e-5", c.name, maxDiff, steps)
		}
	}
}

// Every optimiser minimises an ill-conditioned quadratic
// f(p) = Σ ½·aᵢ·(pᵢ - cᵢ)².
func TestQuadraticConverges(t *testing.T) {
	a := []float32{1, 3, 0.5, 2, 10}
	c := []float32{1, -2, 0.5, 3, -1}
	tests := []struct {
		name  string
		opt   Optimizer
		steps int
	}{
		{"sgd", NewSGD(0.09, 0, false, 0), 500},
		{"sgd momentum", NewSGD(0.02, 0.9, false, 0), 500},
		{"sgd nesterov", NewSGD(0.02, 0.9, true, 0), 500},
		{"adam", NewAdam(0.05, 0.9, 0.999, 1e-8, 0), 2000},
		{"adamw tiny wd", NewAdamW(0.05, 0.9, 0.999, 1e-8, 1e-6), 2000},
	}
	for _, tt := range tests {
		p := make([]float32, len(a))
		g := make([]float32, len(a))
		for range tt.steps {
			for i := range p {
				g[i] = a[i] * (p[i] - c[i])
			}
			tt.opt.Step(p, g)
		}
		for i := range p {
			if math.Abs(float64(p[i]-c[i])) > 1e-2 {
				t.Errorf("%s: after %d steps p = %v; want %v", tt.name, tt.steps, p, c)
				break
			}
		}
	}
}

func TestStepAllocs(t *testing.T) {
	p, g := make([]float32, 1000), make([]float32, 1000)
	for i := range g {
		g[i] = float32(i%7) - 3
	}
	for _, o := range []Optimizer{
		NewSGD(0.1, 0, false, 0), NewSGD(0.1, 0.9, true, 1e-4),
		NewAdam(1e-3, 0.9, 0.999, 1e-8, 0), NewAdamW(1e-3, 0.9, 0.999, 1e-8, 0.01),
	} {
		o.Step(p, g) // sizes the state
		if n := testing.AllocsPerRun(10, func() { o.Step(p, g) }); n != 0 {
			t.Errorf("%T.Step: %v allocations per run; want 0", o, n)
		}
	}
}

// Saving the state after 3 steps and restoring it into a fresh optimiser
// continues exactly where the first one would have gone.
func TestStateRoundTrip(t *testing.T) {
	for _, name := range []string{"adam", "adamw", "sgd-momentum"} {
		mk := func() Optimizer {
			if name == "sgd-momentum" {
				return NewSGD(0.01, 0.9, false, 0)
			}
			o, err := New(name, 1e-2)
			if err != nil {
				t.Fatal(err)
			}
			return o
		}
		rng := rand.New(rand.NewPCG(3, 4))
		const n = 17
		p := make([]float32, n)
		grads := make([][]float32, 5)
		for s := range grads {
			grads[s] = make([]float32, n)
			for i := range grads[s] {
				grads[s][i] = float32(rng.NormFloat64())
			}
		}
		a := mk()
		for s := range 3 {
			a.Step(p, grads[s])
		}
		names, data := a.StateTensors(n)
		saved := make([][]float32, len(data))
		for i := range data {
			saved[i] = slices.Clone(data[i])
		}
		pb := slices.Clone(p)

		b := mk()
		names2, data2 := b.StateTensors(n)
		if !slices.Equal(names, names2) || len(names) == 0 {
			t.Fatalf("%s: state names %v and %v", name, names, names2)
		}
		for i := range data2 {
			copy(data2[i], saved[i])
		}
		b.SetSteps(a.Steps())
		for s := 3; s < 5; s++ {
			a.Step(p, grads[s])
			b.Step(pb, grads[s])
		}
		if !slices.Equal(p, pb) {
			t.Errorf("%s: resumed params %v; want %v", name, pb, p)
		}
		if b.Steps() != 5 {
			t.Errorf("%s: Steps() = %d; want 5", name, b.Steps())
		}
	}
}

func TestNew(t *testing.T) {
	for _, name := range []string{"sgd", "adam", "adamw", "Adam"} {
		o, err := New(name, 0.5)
		if err != nil {
			t.Fatalf("New(%q): %v", name, err)
		}
		if o.LR() != 0.5 {
			t.Errorf("New(%q).LR() = %g; want 0.5", name, o.LR())
		}
		o.SetLR(0.25)
		if o.LR() != 0.25 {
			t.Errorf("SetLR(0.25): LR() = %g", o.LR())
		}
	}
	if o, _ := New("adamw", 1); o.(*Adam).WeightDecay != 0.01 || !o.(*Adam).Decoupled {
		t.Errorf("New(adamw) = %+v; want decoupled weight decay 0.01", o)
	}
	for _, bad := range []string{"rmsprop", ""} {
		if _, err := New(bad, 1); err == nil {
			t.Errorf("New(%q): no error", bad)
		}
	}
	if _, err := New("adam", -1); err == nil {
		t.Error("New(adam, -1): no error")
	}
}

func TestStepLengthMismatchPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Step with 3 params and 2 grads did not panic")
		}
	}()
	NewAdam(1, 0.9, 0.999, 1e-8, 0).Step(make([]float32, 3), make([]float32, 2))
}

func TestClipGradNorm(t *testing.T) {
	tests := []struct {
		name    string
		g       []float32
		max     float64
		norm    float64
		want    []float32
		wantNaN bool
	}{
		{"below", []float32{3, 4}, 10, 5, []float32{3, 4}, false},
		{"equal", []float32{3, 4}, 5, 5, []float32{3, 4}, false}, // 5/(5+1e-6) < 1 scales by 1-2e-7
		{"above", []float32{3, 4}, 1, 5, []float32{0.6, 0.8}, false},
		{"zero", []float32{0, 0, 0}, 1, 0, []float32{0, 0, 0}, false},
		{"empty", nil, 1, 0, nil, false},
		{"nan", []float32{float32(math.NaN()), 1}, 1, math.NaN(), nil, true},
	}
	for _, tt := range tests {
		norm := ClipGradNorm(tt.g, tt.max)
		if tt.wantNaN {
			if !math.IsNaN(norm) || tt.g[1] != 1 {
				t.Errorf("%s: norm %g, grads %v; want NaN and grads untouched", tt.name, norm, tt.g)
			}
			continue
		}
		if math.Abs(norm-tt.norm) > 1e-9 {
			t.Errorf("%s: ClipGradNorm = %g; want %g", tt.name, norm, tt.norm)
		}
		for i := range tt.want {
			if !close32(tt.g[i], tt.want[i], 1e-6) {
				t.Errorf("%s: grads %v; want %v", tt.name, tt.g, tt.want)
				break
			}
		}
	}
	// The clipped norm is maxNorm/(1+1e-6/norm), just under maxNorm.
	g := []float32{1, 2, 3, 4, 5, 6, 7, 8}
	ClipGradNorm(g, 2)
	if n := ClipGradNorm(g, 100); math.Abs(n-2) > 1e-6 {
		t.Errorf("norm after clipping to 2 = %.9g; want 2", n)
	}
}

func TestParseSchedule(t *testing.T) {
	good := []struct {
		in          string
		step, total int
		want        float64
	}{
		{"constant", 123, 1000, 1},
		{"", 0, 10, 1},
		{"step:10:0.5", 9, 100, 1},
		{"step:10:0.5", 10, 100, 0.5},
		{"step:10:0.5", 25, 100, 0.25},
		{"cosine", 0, 100, 1},
		{"cosine", 50, 100, 0.5},
		{"cosine", 100, 100, 0},
		{"cosine:10", 0, 110, 0.1},
		{"cosine:10", 9, 110, 1},
		{"cosine:10", 10, 110, 1},
		{"cosine:10", 60, 110, 0.5},
		{"cosine:10:0.1", 110, 110, 0.1},
		{"cosine:10:0.1", 60, 110, 0.55},
		{"cosine:0:0", 200, 100, 0}, // past the end stays at the minimum
	}
	for _, tt := range good {
		s, err := ParseSchedule(tt.in)
		if err != nil {
			t.Errorf("ParseSchedule(%q): %v", tt.in, err)
			continue
		}
		if got := s.LR(tt.step, tt.total); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("ParseSchedule(%q).LR(%d, %d) = %g; want %g", tt.in, tt.step, tt.total, got, tt.want)
		}
	}
	for _, bad := range []string{"linear", "step", "step:0:0.5", "step:10", "step:10:-1", "step:x:0.5",
		"cosine:-1", "cosine:a", "cosine:10:2", "cosine:1:2:3", "constant:1"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("ParseSchedule(%q): no error", bad)
		}
	}
}

// TestStateLeavesSubnormals checks that a weight whose gradient is zero
// has its optimiser state taken to zero, not left stuck in the subnormal
// range, where β·m rounds back to m and every step is slow on x86.
func TestStateLeavesSubnormals(t *testing.T) {
	subnormal := func(x float32) bool { return x != 0 && math.Abs(float64(x)) < 0x1p-126 }
	for _, o := range []Optimizer{NewAdam(1e-3, 0.9, 0.999, 1e-8, 0), NewSGD(0.1, 0.9, false, 0)} {
		p, g := []float32{1, 1}, []float32{1e-19, 0}
		names, state := o.StateTensors(len(p))
		if len(names) == 0 {
			t.Fatalf("%v: no state", o)
		}
		o.Step(p, g) // a tiny gradient once: state near float32's smallest normal
		g[0] = 0
		for range 3000 { // β1 = 0.9 takes it through the subnormals in ~150 steps
			o.Step(p, g)
		}
		for k, s := range state {
			for i, v := range s {
				if subnormal(v) {
					t.Errorf("%v: %s[%d] = %g after 3,000 zero gradients; want 0 or normal", o, names[k], i, v)
				}
			}
		}
	}
}
