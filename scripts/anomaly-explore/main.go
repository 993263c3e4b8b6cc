// Command anomaly-explore is the experiment behind the anomaly score's
// defaults (docs/RESULTS.md, "Choosing the defaults"): on the 17 ODDS sets
// it trains one autoencoder per seed with its own loop (all rows, no
// validation split, inputs prepared by -prep) and scores it many ways at
// several epoch counts, printing each set's mean ROC-AUC over the seeds
// and, as "ens", the AUC of the seeds' robust-z scores added.
//
//	go run ./scripts/anomaly-explore -seeds 3 -at 5,10,20 -scores mse,nmse,maha,mse+maha,mahaE,mahaZ+mahaE
//	go run ./scripts/anomaly-explore -seeds 3 -at 10,20 -trim 0.2 -scores mahaZ+mahaE,trimZ+trimE
//
// Scores: mse; nmse (per-feature normalised); maha (code Mahalanobis);
// mahaE (error Mahalanobis); sums of robust z-scores of those (a+b);
// trimZ+trimE (both refitted without the -trim fraction farthest rows).
package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/optim"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

var (
	data   = flag.String("data", "../shared/data/odds", "")
	seeds  = flag.Int("seeds", 3, "")
	prep   = flag.String("prep", "std", "std, robust, minmax")
	arch   = flag.String("arch", "default", "default, small, tiny, wide, half, quarter, one, two")
	evalAt = flag.String("at", "5,10,20", "")
	wd     = flag.Float64("wd", 0, "")
	drop   = flag.Float64("dropout", 0, "")
	lr     = flag.Float64("lr", 1e-3, "")
	only   = flag.String("only", "", "")
	batch  = flag.Int("batch", 128, "")
	clipIn = flag.Float64("clip", 0, "clip preprocessed inputs to ±c (0 off)")
	ridge  = flag.Float64("ridge", 1e-3, "")
	trim   = flag.Float64("trim", 0, "refit the covariances without the top fraction (trimZ+trimE)")
	snames = flag.String("scores", "mse,maha,mse+maha,mahaE,mahaZ+mahaE,logmse+maha,mse+maha+mahaE", "")
)

var ODDS17 = []string{"arrhythmia", "cardio", "glass", "ionosphere", "letter", "lympho", "mnist", "musk", "optdigits", "pendigits", "pima", "satellite", "satimage-2", "shuttle", "vertebral", "vowels", "wbc"}

func load(name string) (*tensor.Tensor, []bool) {
	f, err := os.Open(filepath.Join(*data, name+".mat"))
	check(err)
	defer f.Close()
	m, err := dataset.ReadMAT(name, f)
	check(err)
	x, y := m["X"], m["y"]
	n, d := x.Rows, x.Cols
	t := tensor.New(n, d)
	for j := 0; j < d; j++ {
		col := make([]float64, n)
		for i := range col {
			col[i] = x.Data[i*d+j]
		}
		var c, s float64
		switch *prep {
		case "std":
			var mu, v float64
			for _, a := range col {
				mu += a
			}
			mu /= float64(n)
			for _, a := range col {
				v += (a - mu) * (a - mu)
			}
			s = math.Sqrt(v / float64(n))
			c = mu
		case "robust":
			sc := append([]float64(nil), col...)
			sort.Float64s(sc)
			q := func(p float64) float64 { return sc[int(p*float64(n-1))] }
			c = q(0.5)
			s = (q(0.75) - q(0.25)) / 1.349
			if s == 0 {
				var mu, v float64
				for _, a := range col {
					mu += a
				}
				mu /= float64(n)
				for _, a := range col {
					v += (a - mu) * (a - mu)
				}
				s = math.Sqrt(v / float64(n))
			}
		case "minmax":
			lo, hi := col[0], col[0]
			for _, a := range col {
				lo, hi = min(lo, a), max(hi, a)
			}
			c, s = lo, hi-lo
		}
		if s == 0 {
			s = 1
		}
		for i := range col {
			v := (col[i] - c) / s
			if *clipIn > 0 {
				v = max(-*clipIn, min(*clipIn, v))
			}
			t.Data[i*d+j] = float32(v)
		}
	}
	lab := make([]bool, n)
	for i := range lab {
		lab[i] = y.Data[i] != 0
	}
	return t, lab
}

func archFor(d int) ([]int, int) {
	h, c := anomaly.DefaultArch(d)
	switch *arch {
	case "small":
		c = max(1, min(c, d/4+1))
		return []int{h[0]}, c
	case "tiny":
		return []int{max(2, d/2)}, max(1, c/2)
	case "wide":
		return []int{64, 32}, c
	case "half":
		return h, max(2, d/2)
	case "quarter":
		return h, max(2, d/4)
	case "one":
		return []int{h[0]}, c
	case "two":
		return h, 2
	}
	return h, c
}

// scores returns named score vectors of m on x.
func scores(m *ae.Model, x *tensor.Tensor) map[string][]float64 {
	n, d := x.Rows(), x.Cols()
	out := map[string][]float64{}
	mse := make([]float64, n)
	perFeat := make([][]float64, n)
	code := m.Config.Code
	z := make([][]float64, n)
	for lo := 0; lo < n; lo += 512 {
		hi := min(lo+512, n)
		in := tensor.From(x.Data[lo*d:hi*d], hi-lo, d)
		zc := m.Encode(in)
		for r := 0; r < hi-lo; r++ {
			z[lo+r] = make([]float64, code)
			for k := 0; k < code; k++ {
				z[lo+r][k] = float64(zc.Data[r*code+k])
			}
		}
		o := m.Decode(zc)
		for r := 0; r < hi-lo; r++ {
			pf := make([]float64, d)
			var s float64
			for j := 0; j < d; j++ {
				e := float64(o.Data[r*d+j] - in.Data[r*d+j])
				pf[j] = e * e
				s += e * e
			}
			mse[lo+r] = s / float64(d)
			perFeat[lo+r] = pf
		}
	}
	out["mse"] = mse
	// nmse: per-feature normalised
	fm := make([]float64, d)
	for _, pf := range perFeat {
		for j, v := range pf {
			fm[j] += v / float64(n)
		}
	}
	nm := make([]float64, n)
	for i, pf := range perFeat {
		for j, v := range pf {
			nm[i] += v / max(fm[j], 1e-9)
		}
	}
	out["nmse"] = nm
	out["maha"] = mahal(z)
	out["mse+maha"] = add(zs(mse), zs(out["maha"]))
	ev := make([][]float64, n)
	for i, pf := range perFeat {
		ev[i] = make([]float64, d)
		_ = pf
	}
	// signed residuals
	for lo := 0; lo < n; lo += 512 {
		hi := min(lo+512, n)
		in := tensor.From(x.Data[lo*d:hi*d], hi-lo, d)
		o := m.Reconstruct(in)
		for r := 0; r < hi-lo; r++ {
			for j := 0; j < d; j++ {
				ev[lo+r][j] = float64(o.Data[r*d+j] - in.Data[r*d+j])
			}
		}
	}
	me := mahalR(ev, *ridge)
	if *trim > 0 {
		mz := trimmed(z, out["maha"], *trim, 1e-6)
		mt := trimmed(ev, me, *trim, *ridge)
		out["trimZ+trimE"] = add(zs(mz), zs(mt))
	}
	out["mahaE"] = me
	out["mahaZ+mahaE"] = add(zs(out["maha"]), zs(me))
	out["logmse+maha"] = add(zs(logv(mse)), zs(logv(out["maha"])))
	out["maha+nmse"] = add(zs(out["maha"]), zs(nm))
	out["2maha+mahaE"] = add(zs(out["maha"]), add(zs(out["maha"]), zs(me)))
	out["maha+2mahaE"] = add(zs(out["maha"]), add(zs(me), zs(me)))
	out["mse+maha+mahaE"] = add(out["mse+maha"], zs(me))
	// l1-type: mean abs
	return out
}

// trimmed refits the Mahalanobis statistics on the rows whose first-pass
// distance d is below its (1-q) quantile and returns all rows' distances.
func trimmed(v [][]float64, d []float64, q, ridge float64) []float64 {
	s := append([]float64(nil), d...)
	sort.Float64s(s)
	cut := s[int((1-q)*float64(len(s)-1))]
	var keep [][]float64
	for i, r := range v {
		if d[i] <= cut {
			keep = append(keep, r)
		}
	}
	return mahalFit(keep, v, ridge)
}

func logv(v []float64) []float64 {
	o := make([]float64, len(v))
	for i, a := range v {
		o[i] = math.Log(a + 1e-12)
	}
	return o
}

func mahal(z [][]float64) []float64 { return mahalR(z, 1e-6) }

func mahalR(z [][]float64, ridge float64) []float64 { return mahalFit(z, z, ridge) }

func mahalFit(z, all [][]float64, ridge float64) []float64 {
	n, k := len(z), len(z[0])
	mu := make([]float64, k)
	for _, r := range z {
		for j, v := range r {
			mu[j] += v / float64(n)
		}
	}
	c := make([][]float64, k)
	for a := range c {
		c[a] = make([]float64, k)
	}
	for _, r := range z {
		for a := 0; a < k; a++ {
			for b := 0; b < k; b++ {
				c[a][b] += (r[a] - mu[a]) * (r[b] - mu[b]) / float64(n)
			}
		}
	}
	var tr float64
	for a := 0; a < k; a++ {
		tr += c[a][a]
	}
	for a := 0; a < k; a++ {
		c[a][a] += ridge*tr/float64(k) + 1e-12
	}
	inv := invert(c)
	out := make([]float64, len(all))
	for i, r := range all {
		var s float64
		for a := 0; a < k; a++ {
			for b := 0; b < k; b++ {
				s += (r[a] - mu[a]) * inv[a][b] * (r[b] - mu[b])
			}
		}
		out[i] = s
	}
	return out
}

func invert(a [][]float64) [][]float64 {
	k := len(a)
	m := make([][]float64, k)
	for i := range m {
		m[i] = make([]float64, 2*k)
		copy(m[i], a[i])
		m[i][k+i] = 1
	}
	for c := 0; c < k; c++ {
		p := c
		for r := c + 1; r < k; r++ {
			if math.Abs(m[r][c]) > math.Abs(m[p][c]) {
				p = r
			}
		}
		m[c], m[p] = m[p], m[c]
		pv := m[c][c]
		if pv == 0 {
			pv = 1e-12
		}
		for j := range m[c] {
			m[c][j] /= pv
		}
		for r := 0; r < k; r++ {
			if r != c && m[r][c] != 0 {
				f := m[r][c]
				for j := range m[r] {
					m[r][j] -= f * m[c][j]
				}
			}
		}
	}
	out := make([][]float64, k)
	for i := range out {
		out[i] = m[i][k:]
	}
	return out
}

// zs: robust z-score (median / MAD), rank-insensitive combination base.
func zs(v []float64) []float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	med := s[len(s)/2]
	dev := make([]float64, len(s))
	for i, a := range s {
		dev[i] = math.Abs(a - med)
	}
	sort.Float64s(dev)
	mad := dev[len(dev)/2]
	if mad == 0 {
		mad = 1e-12
	}
	out := make([]float64, len(v))
	for i, a := range v {
		out[i] = (a - med) / mad
	}
	return out
}

func add(a, b []float64) []float64 {
	o := make([]float64, len(a))
	for i := range a {
		o[i] = a[i] + b[i]
	}
	return o
}

func main() {
	flag.Parse()
	var ats []int
	for _, s := range strings.Split(*evalAt, ",") {
		var v int
		fmt.Sscan(s, &v)
		ats = append(ats, v)
	}
	maxE := ats[len(ats)-1]
	names := ODDS17
	if *only != "" {
		names = strings.Split(*only, ",")
	}
	type key struct {
		at    int
		score string
	}
	scoreNames := strings.Split(*snames, ",")
	single := map[key][]float64{} // mean-over-seeds AUC per dataset
	ens := map[key][]float64{}
	fmt.Printf("prep=%s arch=%s wd=%g dropout=%g lr=%g batch=%d clip=%g\n", *prep, *arch, *wd, *drop, *lr, *batch, *clipIn)
	for _, name := range names {
		x, y := load(name)
		n, d := x.Rows(), x.Cols()
		hidden, code := archFor(d)
		acc := map[key][]float64{}
		ensSum := map[key][]float64{}
		for s := 1; s <= *seeds; s++ {
			cfg := ae.Config{Arch: "dense", InputShape: []int{d}, Hidden: hidden, Code: code, Activation: "relu", Dropout: *drop}
			cfg.Defaults(false)
			m, err := ae.New(cfg, uint64(s))
			check(err)
			o := optim.NewAdam(*lr, 0.9, 0.999, 1e-8, *wd)
			rng := rand.New(rand.NewPCG(uint64(s), 7))
			bs := min(*batch, n)
			xb := tensor.New(bs, d)
			ai := 0
			for ep := 1; ep <= maxE; ep++ {
				perm := rng.Perm(n)
				for lo := 0; lo+bs <= n || lo == 0; lo += bs {
					hi := min(lo+bs, n)
					xb.SetRows(hi - lo)
					for r := lo; r < hi; r++ {
						copy(xb.Data[(r-lo)*d:(r-lo+1)*d], x.Data[perm[r]*d:(perm[r]+1)*d])
					}
					m.Params.ZeroGrad()
					m.TrainStep(xb, xb)
					o.Step(m.Params.W, m.Params.G)
					if hi == n {
						break
					}
				}
				if ai < len(ats) && ep == ats[ai] {
					for sn, sv := range scores(m, x) {
						k := key{ep, sn}
						acc[k] = append(acc[k], anomaly.ROCAUC(sv, y))
						z := zs(sv)
						if ensSum[k] == nil {
							ensSum[k] = make([]float64, n)
						}
						for i := range z {
							ensSum[k][i] += z[i]
						}
					}
					ai++
				}
			}
		}
		var line []string
		for _, at := range ats {
			for _, sn := range scoreNames {
				k := key{at, sn}
				mu := mean(acc[k])
				single[k] = append(single[k], mu)
				e := anomaly.ROCAUC(ensSum[k], y)
				ens[k] = append(ens[k], e)
				line = append(line, fmt.Sprintf("%d/%s %.3f(e%.3f)", at, sn, mu, e))
			}
		}
		fmt.Printf("%-11s n=%d d=%d %v/%d | %s\n", name, n, d, hidden, code, strings.Join(line, " "))
	}
	fmt.Println("MEANS over", len(names))
	for _, at := range ats {
		for _, sn := range scoreNames {
			k := key{at, sn}
			fmt.Printf("  ep%-3d %-9s single %.4f  ens%d %.4f\n", at, sn, mean(single[k]), *seeds, mean(ens[k]))
		}
	}
}

func mean(v []float64) float64 {
	var s float64
	for _, a := range v {
		s += a
	}
	return s / float64(len(v))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
