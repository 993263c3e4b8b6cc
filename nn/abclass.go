package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/bottleneck-ml/bottleneck/imageio"
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
	p        []float32 // one pixel's softmax
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
	l.p = make([]float32, l.q)
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

// softmax writes into p the softmax of scale·z over the q logits of pixel
// j of sample plane z (strided by hw), and returns p.
func softmaxPixel(p, z []float32, j, hw int, scale float64) []float32 {
	m := math.Inf(-1)
	for c := range p {
		m = max(m, scale*float64(z[c*hw+j]))
	}
	var s float64
	for c := range p {
		e := math.Exp(scale*float64(z[c*hw+j]) - m)
		p[c] = float32(e)
		s += e
	}
	inv := float32(1 / s)
	for c := range p {
		p[c] *= inv
	}
	return p
}

func (l *ABMean) Forward(x *tensor.Tensor, _ bool) *tensor.Tensor {
	n := x.Rows()
	l.x = x
	out := buffer(&l.out, n, l.outShape)
	for s := range n {
		z := x.Data[s*l.q*l.hw : (s+1)*l.q*l.hw]
		o := out.Data[s*2*l.hw : (s+1)*2*l.hw]
		for j := range l.hw {
			p := softmaxPixel(l.p, z, j, l.hw, 1/l.T)
			var a, b float32
			for c, pc := range p {
				a += pc * l.centres[c][0]
				b += pc * l.centres[c][1]
			}
			o[j], o[l.hw+j] = a, b
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
	n := x.Rows()
	dx := buffer(&l.dx, n, l.inShape)
	for s := range n {
		z := x.Data[s*l.q*l.hw : (s+1)*l.q*l.hw]
		d := dx.Data[s*l.q*l.hw : (s+1)*l.q*l.hw]
		g := dy.Data[s*2*l.hw : (s+1)*2*l.hw]
		for j := range l.hw {
			p := softmaxPixel(l.p, z, j, l.hw, 1/l.T)
			ga, gb := g[j], g[l.hw+j]
			var mean float32
			for c, pc := range p {
				mean += pc * (l.centres[c][0]*ga + l.centres[c][1]*gb)
			}
			for c, pc := range p {
				d[c*l.hw+j] = pc * (l.centres[c][0]*ga + l.centres[c][1]*gb - mean) / float32(l.T)
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
	p       []float32
	near    [abNeighbours]int
	weight  [abNeighbours]float32
	dist    []float32
}

const (
	abNeighbours = 5
	abSigma      = 5.0
)

// NewABClasses returns the loss.
func NewABClasses() *ABClasses {
	c := imageio.ABBins()
	return &ABClasses{centres: c, p: make([]float32, len(c)), dist: make([]float32, len(c))}
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

// encode sets l.near and l.weight to the soft encoding of the block of
// the a,b planes ta, tb (row stride tw) at (y, x) of size s.
func (l *ABClasses) encode(ta, tb []float32, tw, y, x, s int) {
	var a, b float32
	for i := range s {
		for k := range s {
			a += ta[(y*s+i)*tw+x*s+k]
			b += tb[(y*s+i)*tw+x*s+k]
		}
	}
	a *= imageio.ABScale / float32(s*s)
	b *= imageio.ABScale / float32(s*s)
	for c, m := range l.centres {
		da, db := a-m[0], b-m[1]
		l.dist[c] = da*da + db*db
		if !(l.dist[c] <= math.MaxFloat32) { // a NaN target: far from every class (the loss is NaN, not a crash)
			l.dist[c] = math.MaxFloat32
		}
	}
	// the 5 nearest by selection: Q is a few hundred, 5 passes are cheap
	var sum float32
	for k := range abNeighbours {
		best := -1
		for c, d := range l.dist {
			if d >= 0 && (best < 0 || d < l.dist[best]) {
				best = c
			}
		}
		l.near[k] = best
		l.weight[k] = float32(math.Exp(-float64(l.dist[best]) / (2 * abSigma * abSigma)))
		sum += l.weight[k]
		l.dist[best] = -1
	}
	for k := range l.weight {
		l.weight[k] /= sum
	}
}

// each runs f on every logit pixel with its softmax (in l.p) and the
// soft-encoded target (l.near, l.weight); f gets the sample's logits,
// the pixel index and the plane size.
func (l *ABClasses) each(pred, target *tensor.Tensor, f func(n, j, hw int)) {
	if err := l.CheckTarget(pred, target); err != nil {
		panic("nn: " + err.Error())
	}
	q, h, w := pred.Shape[1], pred.Shape[2], pred.Shape[3]
	th, tw := target.Shape[2], target.Shape[3]
	s := th / h
	for n := range pred.Shape[0] {
		z := pred.Data[n*q*h*w : (n+1)*q*h*w]
		ta := target.Data[n*2*th*tw : n*2*th*tw+th*tw]
		tb := target.Data[n*2*th*tw+th*tw : (n+1)*2*th*tw]
		for y := range h {
			for x := range w {
				j := y*w + x
				softmaxPixel(l.p, z, j, h*w, 1)
				l.encode(ta, tb, tw, y, x, s)
				f(n, j, h*w)
			}
		}
	}
}

// pixelWeight is the rebalancing weight of the pixel just encoded.
func (l *ABClasses) pixelWeight() float32 {
	if l.Weights == nil {
		return 1
	}
	return l.Weights[l.near[0]]
}

func (l *ABClasses) Forward(pred, target *tensor.Tensor) float64 {
	var sum float64
	l.each(pred, target, func(_, _, _ int) {
		var ce float64
		for k, c := range l.near {
			ce -= float64(l.weight[k]) * math.Log(max(float64(l.p[c]), 1e-30))
		}
		sum += float64(l.pixelWeight()) * ce
	})
	return sum / float64(max(1, pred.Shape[0]*pred.Shape[2]*pred.Shape[3]))
}

func (l *ABClasses) Backward(dpred, pred, target *tensor.Tensor) {
	scale := 1 / float32(max(1, pred.Shape[0]*pred.Shape[2]*pred.Shape[3]))
	q := pred.Shape[1]
	l.each(pred, target, func(n, j, hw int) {
		g := dpred.Data[n*q*hw : (n+1)*q*hw]
		s := scale * l.pixelWeight()
		for c, pc := range l.p {
			g[c*hw+j] = pc * s
		}
		for k, c := range l.near {
			g[c*hw+j] -= l.weight[k] * s
		}
	})
}
