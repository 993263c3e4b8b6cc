package probe

import "math"

// lbfgs minimises f from x (updated in place) with limited-memory BFGS
// (Nocedal & Wright, Algorithm 7.4, memory 10) and a backtracking Armijo
// line search. It stops after maxIter iterations, when the gradient's
// largest entry falls below 1e-6, or when the objective stops falling
// (relative change below 1e-10 for 10 iterations). It returns the final
// value and the iterations run.
func lbfgs(f func([]float64) float64, grad func(g, x []float64), x []float64, maxIter int) (float64, int) {
	const mem = 10
	n := len(x)
	g := make([]float64, n)
	fx := f(x)
	grad(g, x)
	var sHist, yHist [][]float64
	var rho []float64
	d := make([]float64, n)
	xNew := make([]float64, n)
	gNew := make([]float64, n)
	alpha := make([]float64, mem)
	stall := 0
	iter := 0
	for ; iter < maxIter; iter++ {
		if maxAbs(g) < 1e-6 {
			break
		}
		// Two-loop recursion: d = −H·g.
		copy(d, g)
		for i := len(sHist) - 1; i >= 0; i-- {
			alpha[i] = rho[i] * dot(sHist[i], d)
			axpy(-alpha[i], yHist[i], d)
		}
		gamma := 1.0
		if k := len(sHist); k > 0 {
			gamma = dot(sHist[k-1], yHist[k-1]) / dot(yHist[k-1], yHist[k-1])
		}
		for i := range d {
			d[i] *= gamma
		}
		for i := range sHist {
			beta := rho[i] * dot(yHist[i], d)
			axpy(alpha[i]-beta, sHist[i], d)
		}
		for i := range d {
			d[i] = -d[i]
		}
		slope := dot(g, d)
		if slope >= 0 { // not a descent direction: restart from steepest descent
			sHist, yHist, rho = nil, nil, nil
			for i := range d {
				d[i] = -g[i]
			}
			slope = dot(g, d)
		}
		step := 1.0
		if len(sHist) == 0 {
			step = 1 / math.Max(1, math.Sqrt(dot(g, g)))
		}
		var fNew float64
		ok := false
		for try := 0; try < 40; try++ {
			for i := range x {
				xNew[i] = x[i] + step*d[i]
			}
			fNew = f(xNew)
			if fNew <= fx+1e-4*step*slope {
				ok = true
				break
			}
			step /= 2
		}
		if !ok {
			break
		}
		grad(gNew, xNew)
		s := make([]float64, n)
		y := make([]float64, n)
		for i := range x {
			s[i] = xNew[i] - x[i]
			y[i] = gNew[i] - g[i]
		}
		if sy := dot(s, y); sy > 1e-12 {
			if len(sHist) == mem {
				sHist, yHist, rho = sHist[1:], yHist[1:], rho[1:]
			}
			sHist = append(sHist, s)
			yHist = append(yHist, y)
			rho = append(rho, 1/sy)
		}
		if math.Abs(fx-fNew) <= 1e-10*math.Max(1, math.Abs(fx)) {
			stall++
		} else {
			stall = 0
		}
		copy(x, xNew)
		copy(g, gNew)
		fx = fNew
		if stall >= 10 {
			iter++
			break
		}
	}
	return fx, iter
}

func dot(a, b []float64) float64 {
	var s float64
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

func axpy(a float64, x, y []float64) {
	for i, v := range x {
		y[i] += a * v
	}
}

func maxAbs(a []float64) float64 {
	var m float64
	for _, v := range a {
		m = math.Max(m, math.Abs(v))
	}
	return m
}
