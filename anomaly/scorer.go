package anomaly

import (
	"fmt"
	"math"
	"sort"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Score metrics: how a row's per-feature reconstruction errors (and, for
// mahal, its code) become one score.
const (
	MetricMSE = "mse" // mean of squared errors
	MetricMAE = "mae" // mean of absolute errors
	// MetricNMSE divides each feature's squared error by that feature's
	// mean squared error on the training rows before averaging, so that
	// features the model always reconstructs poorly do not dominate.
	MetricNMSE = "nmse"
)

// MetricNames lists the score metrics for help texts.
const MetricNames = "mahal, mse, nmse or mae"

// Scoring is how a detector turns a row into a score: the metric and the
// statistics it was fitted with on the training rows. It is stored in the
// model file with the threshold.
type Scoring struct {
	Metric string `json:"score"` // mahal, mse, nmse or mae
	// FeatureScale are the per-feature divisors of nmse.
	FeatureScale []float64 `json:"feature_scale,omitempty"`
	// Mahal are the training statistics of mahal.
	Mahal *MahalStats `json:"mahal,omitempty"`
}

// check refuses statistics that do not fit a model with d input values
// and k code values.
func (sc *Scoring) check(d, k int) error {
	switch sc.Metric {
	case MetricMahal:
		st := sc.Mahal
		if st == nil || len(st.CodeMean) != k || len(st.CodeInv) != k*k || len(st.ErrMean) != d ||
			(len(st.ErrInv) != d*d && len(st.ErrVar) != d) || !(st.CodeMAD > 0) || !(st.ErrMAD > 0) {
			return fmt.Errorf("anomaly: the model's score mahal has statistics that do not fit a %d-feature model with a %d-wide code; the file is damaged, retrain it", d, k)
		}
	case MetricNMSE:
		if len(sc.FeatureScale) != d {
			return fmt.Errorf("anomaly: the model's score nmse has %d feature scales for %d features; the file is damaged, retrain it", len(sc.FeatureScale), d)
		}
	case MetricMSE, MetricMAE:
	default:
		return fmt.Errorf("anomaly: the model's score %q is not one this version knows (%s); retrain it", sc.Metric, MetricNames)
	}
	return nil
}

// scorer runs one model over rows in batches and scores them. It is not
// safe for concurrent use: a Detector keeps a pool of them.
type scorer struct {
	m        *ae.Model
	sc       *Scoring
	batch    int
	shape    []int // per-row shape
	d        int   // values per row
	codeSize int
	code     *tensor.Tensor // batch × code
	out      *tensor.Tensor // batch × output
	resid    []float32
	errs     []float32
	tmp      []float64
}

func newScorer(m *ae.Model, sc *Scoring, batch int, rowShape []int) (*scorer, error) {
	if batch <= 0 {
		batch = 256
	}
	cs, err := m.CodeShape(rowShape)
	if err != nil {
		return nil, err
	}
	d := tensor.Size(rowShape)
	k := tensor.Size(cs)
	s := &scorer{m: m, sc: sc, batch: batch, d: d, codeSize: k,
		resid: make([]float32, d), errs: make([]float32, d), tmp: make([]float64, max(d, k))}
	return s, nil
}

// forward reconstructs x batch by batch and calls fn with each row's code
// and signed residual x̂ − x (valid during the call only).
func (s *scorer) forward(x *tensor.Tensor, fn func(row int, code, resid []float32)) error {
	n, d, k := x.Rows(), s.d, s.codeSize
	if n > 0 && tensor.Size(x.Shape[1:]) != d {
		return fmt.Errorf("anomaly: data has %d values per row, the model expects %d", tensor.Size(x.Shape[1:]), d)
	}
	shape := x.Shape[1:]
	for lo := 0; lo < n; lo += s.batch {
		hi := min(lo+s.batch, n)
		rows := hi - lo
		in := tensor.From(x.Data[lo*d:hi*d], append([]int{rows}, shape...)...)
		s.code = sized(s.code, rows, k)
		s.out = sized(s.out, rows, d)
		if err := s.m.Forward(in, s.code, s.out); err != nil {
			return err
		}
		for i := range rows {
			xi, oi := in.Data[i*d:(i+1)*d], s.out.Data[i*d:(i+1)*d]
			for j := range s.resid {
				s.resid[j] = oi[j] - xi[j]
			}
			fn(lo+i, s.code.Data[i*k:(i+1)*k], s.resid)
		}
	}
	return nil
}

// sized returns t resized to rows × cols, reallocating only when too small.
func sized(t *tensor.Tensor, rows, cols int) *tensor.Tensor {
	if t == nil || cap(t.Data) < rows*cols {
		return tensor.New(rows, cols)
	}
	t.Data = t.Data[:rows*cols]
	t.Shape = append(t.Shape[:0], rows, cols)
	return t
}

// run reconstructs x and calls fn with each row's per-feature errors
// (squared, absolute for mae, divided by the feature scale for nmse; valid
// during the call only), its score and its mean squared error.
func (s *scorer) run(x *tensor.Tensor, fn func(row int, errs []float32, score, mse float64)) error {
	metric := s.sc.Metric
	abs := metric == MetricMAE
	var scale []float64
	if metric == MetricNMSE {
		scale = s.sc.FeatureScale
	}
	var mahal *MahalStats
	if metric == MetricMahal {
		mahal = s.sc.Mahal
	}
	e := s.errs
	return s.forward(x, func(row int, code, resid []float32) {
		var se float64
		for j, diff := range resid {
			se += float64(diff * diff)
			if abs {
				e[j] = float32(math.Abs(float64(diff)))
			} else {
				e[j] = diff * diff
			}
			if scale != nil {
				e[j] = float32(float64(e[j]) / scale[j])
			}
		}
		var score float64
		if mahal != nil {
			score = mahal.combine(mahal.distances(code, resid, s.tmp))
		} else {
			var sum float64
			for _, v := range e {
				sum += float64(v)
			}
			score = sum / float64(max(1, len(e)))
		}
		fn(row, e, score, se/float64(max(1, len(resid))))
	})
}

// fitScale returns the per-feature mean squared errors on x (the training
// rows), with a floor of 1e-6 of their overall mean so that a perfectly
// reconstructed feature cannot blow up.
func fitScale(s *scorer, x *tensor.Tensor) ([]float64, error) {
	sum := make([]float64, s.d)
	err := s.forward(x, func(_ int, _, resid []float32) {
		for j, v := range resid {
			sum[j] += float64(v * v)
		}
	})
	if err != nil {
		return nil, err
	}
	var all float64
	for j := range sum {
		sum[j] /= float64(max(1, x.Rows()))
		all += sum[j]
	}
	floor := max(1e-6*all/float64(max(1, s.d)), 1e-12)
	for j := range sum {
		sum[j] = max(sum[j], floor)
	}
	return sum, nil
}

// Group is a raw input column and the model-space columns [Lo, Hi) it
// became: one for a number, one per category for a one-hot column, one per
// pixel for images.
type Group struct {
	Name   string
	Lo, Hi int
}

// Groups maps model-space columns back to raw columns; d is the number of
// model-space values per row (used when pre is nil or for images).
func Groups(pre *dataset.Preprocessor, d int) []Group {
	if pre == nil || pre.Kind == dataset.KindImage {
		g := make([]Group, d)
		for i := range g {
			g[i] = Group{Name: fmt.Sprintf("pixel%d", i), Lo: i, Hi: i + 1}
		}
		return g
	}
	var g []Group
	j := 0
	for _, c := range pre.Columns {
		if c.Role != dataset.RoleFeature {
			continue
		}
		w := 1
		if c.Type == dataset.TypeCategorical {
			w = len(c.Categories)
		}
		g = append(g, Group{Name: c.Name, Lo: j, Hi: j + w})
		j += w
	}
	return g
}

// Contribution is one raw feature's share of a row's error.
type Contribution struct {
	Feature string  `json:"feature"`
	Share   float64 `json:"share"` // fraction of the row's total error, 0..1
}

// Attribute folds a row's per-feature errors into its raw columns and
// returns the k largest shares (all when k ≤ 0), largest first; ties keep
// column order. An infinite error takes the whole share (split among the
// features that have one), so shares are always numbers.
func Attribute(errs []float32, groups []Group, k int) []Contribution {
	var total float64
	inf := 0
	for _, v := range errs {
		if math.IsInf(float64(v), 0) || v != v {
			inf++
			continue
		}
		total += float64(v)
	}
	// the k largest shares, kept in order as they come (a stable
	// descending sort would give the same: ties keep their feature order),
	// or all of them sorted when k does not cut
	all := k <= 0 || k >= len(groups)
	var out []Contribution
	if all {
		out = make([]Contribution, 0, len(groups))
	} else {
		out = make([]Contribution, 0, k)
	}
	for _, g := range groups {
		var s float64
		for _, v := range errs[g.Lo:g.Hi] {
			switch {
			case inf > 0:
				if math.IsInf(float64(v), 0) || v != v {
					s += 1 / float64(inf)
				}
			default:
				s += float64(v)
			}
		}
		share := s
		if inf == 0 {
			share = 0
			if total > 0 && !math.IsInf(total, 0) {
				share = s / total
			}
		}
		c := Contribution{Feature: g.Name, Share: share}
		if all {
			out = append(out, c)
			continue
		}
		if len(out) == k && !(share > out[k-1].Share) {
			continue
		}
		pos := len(out)
		for pos > 0 && share > out[pos-1].Share {
			pos--
		}
		if len(out) < k {
			out = append(out, Contribution{})
		}
		copy(out[pos+1:], out[pos:len(out)-1])
		out[pos] = c
	}
	if all {
		sort.SliceStable(out, func(a, b int) bool { return out[a].Share > out[b].Share })
	}
	return out
}
