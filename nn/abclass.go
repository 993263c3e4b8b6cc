package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/internal/f32"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Colorization as classification (Zhang, Isola and Efros, "Colorful Image
// Colorization", 2016). A network that regresses a and b with a squared
// error learns, where a pixel's colour is uncertain, the mean of its
// plausible colours: a brownish grey that paints every picture sepia. A
// network that gives a distribution over the in-gamut a,b squares
// (imageio.ABBins) and is trained with the cross-entropy keeps the modes;
// its annealed mean (the softmax at a temperature T < 1, then the
// expectation) picks a vivid colour near the strongest mode without the
// speckle of taking the mode itself.
//
// The classes live here, beside the layers, because both the loss and the
// decoding layer must agree on them; the colour science (which squares are
// in gamut) is imageio's.

// ABMean turns the class logits of a colorizer (one channel per
// imageio.ABBins square) into a and b divided by imageio.ABScale: per
// pixel the softmax of logits/T, then the mean of the squares' centres
// under it. It has no parameters; a model ending in it trains on the
// logits before it with the ab-classes loss.
type ABMean struct {
	T float64 // the temperature: 1 is the plain mean, towards 0 the mode

	centres  [][2]float32 // divided by ABScale
	q, hw    int
	inShape  []int
	outShape []int
	x        *tensor.Tensor
	prob, mx []float32 // one sample's softmax planes; a plane of scratch
	out, dx  *tensor.Tensor
}

// NewABMean returns the decoding layer at temperature t (Zhang et al. use
// 0.38).
func NewABMean(t float64) *ABMean { return &ABMean{T: t} }

func (l *ABMean) Setup(in []int) ([]int, error) {
	if !(l.T > 0 && l.T <= 10) {
		return nil, fmt.Errorf("abmean: temperature %v must be in (0, 10]", l.T)
	}
	l.centres = scaledBins()
	if len(in) != 3 || in[0] != len(l.centres) {
		return nil, fmt.Errorf("abmean: input %v, want [%d H W]: one channel per a,b class", in, len(l.centres))
	}
	l.q, l.hw = in[0], in[1]*in[2]
	l.inShape, l.outShape = slices.Clone(in), []int{2, in[1], in[2]}
	return slices.Clone(l.outShape), nil
}

func scaledBins() [][2]float32 {
	bins := imageio.ABBins()
	c := make([][2]float32, len(bins))
	for i, b := range bins {
		c[i] = [2]float32{b[0] / imageio.ABScale, b[1] / imageio.ABScale}
	}
	return c
}

// Centres are the classes' a,b divided by imageio.ABScale, in the order
// of the logits.
func (l *ABMean) Centres() [][2]float32 {
	if l.centres == nil {
		l.centres = scaledBins()
	}
	return l.centres
}

// ABClassCount is the number of a,b classes a colorizer's logits have.
func ABClassCount() int { return len(imageio.ABBins()) }

func (l *ABMean) Params() []*Param { return nil }
func (l *ABMean) Init(*rand.Rand)  {}

// softmaxPlanes sets p (q planes of hw values) to the softmax over the
// planes of scale·z (scale > 0) at each of the hw pixels, plane by plane so
// that every loop runs along memory and the exponentials are f32.Exp's
// vector loop; mx is scratch of hw values. A NaN logit gives NaN
// probabilities at its pixel.
func softmaxPlanes(p, z, mx []float32, q, hw int, scale float32) {
	copy(mx, z[:hw])
	for c := 1; c < q; c++ {
		for j, v := range z[c*hw : (c+1)*hw] {
			if v > mx[j] {
				mx[j] = v
			}
		}
	}
	for c := range q {
		zc, pc := z[c*hw:(c+1)*hw], p[c*hw:(c+1)*hw]
		for j := range pc {
			pc[j] = scale * (zc[j] - mx[j])
		}
	}
	f32.Exp(p[:q*hw], p[:q*hw])
	sum := mx
	clear(sum)
	for c := range q {
		for j, v := range p[c*hw : (c+1)*hw] {
			sum[j] += v
		}
	}
	for j := range sum {
		sum[j] = 1 / sum[j]
	}
	for c := range q {
		pc := p[c*hw : (c+1)*hw]
		for j := range pc {
			pc[j] *= sum[j]
		}
	}
}

// grow returns *b with n values, allocating only when it is too small.
func grow(b *[]float32, n int) []float32 {
	if cap(*b) < n {
		*b = make([]float32, n)
	}
	*b = (*b)[:n]
	return *b
}

func (l *ABMean) Forward(x *tensor.Tensor, _ bool) *tensor.Tensor {
	n, q, hw := x.Rows(), l.q, l.hw
	l.x = x
	out := buffer(&l.out, n, l.outShape)
	p, mx := grow(&l.prob, q*hw), grow(&l.mx, hw)
	for s := range n {
		softmaxPlanes(p, x.Data[s*q*hw:(s+1)*q*hw], mx, q, hw, float32(1/l.T))
		oa, ob := out.Data[s*2*hw:s*2*hw+hw], out.Data[s*2*hw+hw:(s+1)*2*hw]
		clear(oa)
		clear(ob)
		for c, m := range l.centres {
			for j, v := range p[c*hw : (c+1)*hw] {
				oa[j] += v * m[0]
				ob[j] += v * m[1]
			}
		}
	}
	return out
}

// Backward: with y = Σ p_c·μ_c and p = softmax(z/T),
// ∂L/∂z_c = p_c·(g_c − Σ_k p_k·g_k)/T where g_c = μ_c·∂L/∂y. Training
// never runs it (the loss takes the logits); it keeps the layer a layer,
// checked against finite differences.
func (l *ABMean) Backward(dy *tensor.Tensor) *tensor.Tensor {
	x := l.x
	n, q, hw := x.Rows(), l.q, l.hw
	dx := buffer(&l.dx, n, l.inShape)
	p, mx := grow(&l.prob, q*hw), grow(&l.mx, hw)
	for s := range n {
		softmaxPlanes(p, x.Data[s*q*hw:(s+1)*q*hw], mx, q, hw, float32(1/l.T))
		d := dx.Data[s*q*hw : (s+1)*q*hw]
		ga, gb := dy.Data[s*2*hw:s*2*hw+hw], dy.Data[s*2*hw+hw:(s+1)*2*hw]
		mean := mx // Σ_k p_k·g_k per pixel
		clear(mean)
		for c, m := range l.centres {
			for j, v := range p[c*hw : (c+1)*hw] {
				mean[j] += v * (m[0]*ga[j] + m[1]*gb[j])
			}
		}
		invT := float32(1 / l.T)
		for c, m := range l.centres {
			dc := d[c*hw : (c+1)*hw]
			for j, v := range p[c*hw : (c+1)*hw] {
				dc[j] = v * (m[0]*ga[j] + m[1]*gb[j] - mean[j]) * invT
			}
		}
	}
	return dx
}

// ABClasses is the cross-entropy of a colorizer's class logits (N × Q ×
// h × w, Q = ABClassCount) against the true a and b (N × 2 × H × W,
// divided by imageio.ABScale, H = s·h and W = s·w for an integer s ≥ 1: a
// network may classify at a coarser grid than it is shown, as Zhang et al.
// do at a quarter of the resolution). Each target is the mean a,b of its
// s×s block, soft-encoded on its 5 nearest class centres with Gaussian
// weights (σ = 5), Zhang et al.'s encoding. The loss is the mean over
// the h×w pixels of the batch, each pixel's term weighted by Weights of
// its nearest class (nil: all 1), Zhang et al.'s class rebalancing: without
// it the common near-grey classes dominate and the likeliest colour of an
// uncertain pixel is grey (ABClassWeights makes the weights).
type ABClasses struct {
	Weights []float32

	centres [][2]float32 // Lab units
	// one sample's softmax planes, and per pixel its soft encoding (the
	// abNeighbours nearest classes, nearest first, and their weights)
	// and the scale of its gradient
	prob, mx, gs []float32
	near         []int32
	weight       []float32
}

const (
	abNeighbours = 5
	abSigma      = 5.0
)

// NewABClasses returns the loss.
func NewABClasses() *ABClasses {
	return &ABClasses{centres: imageio.ABBins()}
}

// NearestABClass is the index of the a,b class whose centre is nearest
// (a, b), in Lab units.
func NearestABClass(a, b float32) int {
	best, bd := 0, float32(math.Inf(1))
	for c, m := range imageio.ABBins() {
		da, db := a-m[0], b-m[1]
		if d := da*da + db*db; d < bd {
			best, bd = c, d
		}
	}
	return best
}

// ABClassWeights turns counts of pixels per a,b class (in the order of
// imageio.ABBins) into Zhang et al.'s rebalancing weights: the empirical
// distribution smoothed by a Gaussian of σ = 5 in the a,b plane, p̃, mixed
// with the uniform one, w ∝ 1/((1−λ)·p̃ + λ/Q), scaled so that the mean
// weight under p̃ is 1. λ = 1 weighs every class alike; Zhang et al. use
// 0.5.
func ABClassWeights(counts []float64, lambda float64) ([]float32, error) {
	bins := imageio.ABBins()
	if len(counts) != len(bins) {
		return nil, fmt.Errorf("ab class weights: %d counts for %d classes", len(counts), len(bins))
	}
	if !(lambda > 0 && lambda <= 1) {
		return nil, fmt.Errorf("ab class weights: λ %v must be in (0, 1]", lambda)
	}
	var total float64
	for _, c := range counts {
		if c < 0 || math.IsNaN(c) || math.IsInf(c, 0) {
			return nil, fmt.Errorf("ab class weights: count %v", c)
		}
		total += c
	}
	if total == 0 {
		return nil, fmt.Errorf("ab class weights: no pixels counted")
	}
	q := len(bins)
	smooth := make([]float64, q)
	var sum float64
	for i, bi := range bins {
		for j, bj := range bins {
			da, db := float64(bi[0]-bj[0]), float64(bi[1]-bj[1])
			smooth[i] += counts[j] * math.Exp(-(da*da+db*db)/(2*abSigma*abSigma))
		}
		sum += smooth[i]
	}
	w := make([]float64, q)
	var mean float64
	for i := range smooth {
		smooth[i] /= sum
		w[i] = 1 / ((1-lambda)*smooth[i] + lambda/float64(q))
		mean += smooth[i] * w[i]
	}
	out := make([]float32, q)
	for i := range w {
		out[i] = float32(w[i] / mean)
	}
	return out, nil
}

// CheckTarget says whether target fits pred for this loss.
func (l *ABClasses) CheckTarget(pred, target *tensor.Tensor) error {
	ps, ts := pred.Shape, target.Shape
	if len(ps) != 4 || len(ts) != 4 || ps[0] != ts[0] || ps[1] != len(l.centres) || ts[1] != 2 ||
		ps[2] == 0 || ps[3] == 0 || ts[2]%ps[2] != 0 || ts[3]%ps[3] != 0 || ts[2]/ps[2] != ts[3]/ps[3] {
		return fmt.Errorf("ab-classes: logits %v and target %v: want logits [N %d h w] and a,b [N 2 s·h s·w]", ps, ts, len(l.centres))
	}
	return nil
}

// blockMean is the mean of the s×s block at block (y, x) of the planes
// ta and tb (row stride tw): the colour a model classifying at 1/s of
// the resolution is trained to give there.
func blockMean(ta, tb []float32, tw, y, x, s int) (a, b float32) {
	for i := range s {
		row := (y*s+i)*tw + x*s
		for k := range s {
			a += ta[row+k]
			b += tb[row+k]
		}
	}
	return a / float32(s*s), b / float32(s*s)
}

// CountABClasses adds to counts (one per a,b class) the nearest class of
// each whole s×s block's mean colour in the Lab planes a and b (row stride
// w, Lab units): the class frequencies ABClassWeights rebalances, counted
// on the grid a colorizer classifies at.
func CountABClasses(counts []float64, a, b []float32, w, s int) {
	h := len(a) / w
	for y := range h / s {
		for x := range w / s {
			counts[NearestABClass(blockMean(a, b, w, y, x, s))]++
		}
	}
}

// encode writes into near and weight the soft encoding of the s×s block
// at (y, x) of the a,b planes ta, tb (row stride tw): the abNeighbours
// nearest classes, nearest first, kept in one pass by insertion.
func (l *ABClasses) encode(near []int32, weight []float32, ta, tb []float32, tw, y, x, s int) {
	a, b := blockMean(ta, tb, tw, y, x, s)
	a *= imageio.ABScale
	b *= imageio.ABScale
	var nd [abNeighbours]float32
	kept := 0
	for c, m := range l.centres {
		da, db := a-m[0], b-m[1]
		d := da*da + db*db
		if !(d <= math.MaxFloat32) { // a NaN target: far from every class (the loss is NaN, not a crash)
			d = math.MaxFloat32
		}
		if kept == abNeighbours && d >= nd[kept-1] {
			continue
		}
		i := min(kept, abNeighbours-1)
		for ; i > 0 && nd[i-1] > d; i-- {
			nd[i], near[i] = nd[i-1], near[i-1]
		}
		nd[i], near[i] = d, int32(c)
		kept = min(kept+1, abNeighbours)
	}
	var sum float32
	for k, d := range nd {
		weight[k] = float32(math.Exp(-float64(d) / (2 * abSigma * abSigma)))
		sum += weight[k]
	}
	for k := range weight {
		weight[k] /= sum
	}
}

// pass is the loss, and with dpred its gradient, in one sweep: each
// pixel's softmax and soft encoding are computed once.
func (l *ABClasses) pass(dpred, pred, target *tensor.Tensor) float64 {
	if err := l.CheckTarget(pred, target); err != nil {
		panic("nn: " + err.Error())
	}
	q, h, w := pred.Shape[1], pred.Shape[2], pred.Shape[3]
	th, tw := target.Shape[2], target.Shape[3]
	s, hw := th/h, h*w
	scale := 1 / float64(max(1, pred.Shape[0]*hw))
	p, mx, gs := grow(&l.prob, q*hw), grow(&l.mx, hw), grow(&l.gs, hw)
	if cap(l.near) < abNeighbours*hw {
		l.near = make([]int32, abNeighbours*hw)
	}
	near, weight := l.near[:abNeighbours*hw], grow(&l.weight, abNeighbours*hw)
	var sum float64
	for n := range pred.Shape[0] {
		softmaxPlanes(p, pred.Data[n*q*hw:(n+1)*q*hw], mx, q, hw, 1)
		ta := target.Data[n*2*th*tw : n*2*th*tw+th*tw]
		tb := target.Data[n*2*th*tw+th*tw : (n+1)*2*th*tw]
		for y := range h {
			for x := range w {
				j := y*w + x
				nj, wj := near[j*abNeighbours:(j+1)*abNeighbours], weight[j*abNeighbours:(j+1)*abNeighbours]
				l.encode(nj, wj, ta, tb, tw, y, x, s)
				pw := float32(1) // the rebalancing weight of the nearest class
				if l.Weights != nil {
					pw = l.Weights[nj[0]]
				}
				var ce float64
				for k, c := range nj {
					ce -= float64(wj[k]) * math.Log(max(float64(p[int(c)*hw+j]), 1e-30))
				}
				sum += float64(pw) * ce
				gs[j] = float32(scale) * pw
			}
		}
		if dpred == nil {
			continue
		}
		// softmax − encoding, each pixel scaled by its weight / count
		g := dpred.Data[n*q*hw : (n+1)*q*hw]
		for c := range q {
			gc, pc := g[c*hw:(c+1)*hw], p[c*hw:(c+1)*hw]
			for j := range gc {
				gc[j] = pc[j] * gs[j]
			}
		}
		for j := range hw {
			for k, c := range near[j*abNeighbours : (j+1)*abNeighbours] {
				g[int(c)*hw+j] -= weight[j*abNeighbours+k] * gs[j]
			}
		}
	}
	return sum * scale
}

func (l *ABClasses) Forward(pred, target *tensor.Tensor) float64 { return l.pass(nil, pred, target) }

func (l *ABClasses) Backward(dpred, pred, target *tensor.Tensor) { l.pass(dpred, pred, target) }

// ForwardBackward returns the loss and writes its gradient into dpred in
// one pass (see nn.FusedLoss).
func (l *ABClasses) ForwardBackward(dpred, pred, target *tensor.Tensor) float64 {
	return l.pass(dpred, pred, target)
}
