package anomaly

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Score metrics: how a row's per-feature reconstruction errors become one
// score.
const (
	MetricMSE = "mse" // mean of squared errors (the default; docs/RESULTS.md compares)
	MetricMAE = "mae" // mean of absolute errors
	// MetricNMSE divides each feature's squared error by that feature's
	// mean squared error on the training rows before averaging, so that
	// features the model always reconstructs poorly do not dominate.
	MetricNMSE = "nmse"
)

// Metrics lists the score metrics for help texts.
const Metrics = "mahal, mse, nmse or mae"

// Scorer computes reconstruction-error scores with a model. It is not safe
// for concurrent use (the model keeps activation buffers); give each
// goroutine its own Scorer over its own ae.Model.Clone.
type Scorer struct {
	Model  *ae.Model
	Metric string // MetricMSE (default) or MetricMAE
	Batch  int    // rows per forward pass; 0 means 256
	// Scale holds per-feature divisors of the squared errors (MetricNMSE).
	Scale []float64
	// Mahal holds the training statistics of MetricMahal.
	Mahal *MahalStats
}

// NewScorer returns a scorer for m using the metric its threshold was
// fitted with (mse when it has none).
func NewScorer(m *ae.Model) (*Scorer, error) {
	s := &Scorer{Model: m, Metric: MetricMSE}
	t, err := Decode(m.Threshold)
	if err != nil {
		return nil, err
	}
	if t != nil {
		s.Metric = t.Score
		s.Scale = t.FeatureScale
		s.Mahal = t.Mahal
	}
	switch s.Metric {
	case MetricMahal:
		st := s.Mahal
		d, k := m.Config.Input(), m.Config.Code
		if st == nil || len(st.CodeMean) != k || len(st.CodeInv) != k*k || len(st.ErrMean) != d ||
			(len(st.ErrInv) != d*d && len(st.ErrVar) != d) || !(st.CodeMAD > 0) || !(st.ErrMAD > 0) {
			return nil, fmt.Errorf("anomaly: the model's threshold uses score mahal but its statistics do not fit a %d-feature model with a %d-wide code; the file is damaged, retrain it", d, k)
		}
	case MetricNMSE:
		if len(s.Scale) != m.Config.Input() {
			return nil, fmt.Errorf("anomaly: the model's threshold uses score nmse with %d feature scales for %d features; the file is damaged, retrain it", len(s.Scale), m.Config.Input())
		}
	case MetricMSE, MetricMAE:
	default:
		return nil, fmt.Errorf("anomaly: the model's threshold uses score %q, which this version does not know; retrain with --threshold", s.Metric)
	}
	return s, nil
}

func (s *Scorer) batch() int {
	if s.Batch <= 0 {
		return 256
	}
	return s.Batch
}

// Score returns one score per row of x (N × the model's input shape).
func (s *Scorer) Score(x *tensor.Tensor) []float64 {
	scores := make([]float64, x.Rows())
	s.run(x, func(i int, _ []float32, v float64) { scores[i] = v })
	return scores
}

// Errors returns the scores and every row's per-feature errors (squared or
// absolute, by the metric; squared for mahal) as an N × D tensor.
func (s *Scorer) Errors(x *tensor.Tensor) ([]float64, *tensor.Tensor) {
	n := x.Rows()
	d := tensor.Size(x.Shape[1:])
	scores := make([]float64, n)
	errs := tensor.New(n, d)
	s.run(x, func(i int, e []float32, v float64) {
		scores[i] = v
		copy(errs.Row(i), e)
	})
	return scores, errs
}

func (s *Scorer) reduce(e []float32) float64 {
	var sum float64
	for _, v := range e {
		sum += float64(v)
	}
	return sum / float64(max(1, len(e)))
}

// run reconstructs x batch by batch and calls fn with each row's
// per-feature errors (valid during the call only) and its score.
func (s *Scorer) run(x *tensor.Tensor, fn func(row int, errs []float32, score float64)) {
	d := s.Model.Config.Input()
	e := make([]float32, d)
	abs := s.Metric == MetricMAE
	scale := s.Scale
	if s.Metric != MetricNMSE {
		scale = nil
	}
	mahal := s.Mahal
	if s.Metric != MetricMahal {
		mahal = nil
	}
	var tmp []float64
	if mahal != nil {
		tmp = make([]float64, max(d, s.Model.Config.Code))
	}
	s.forward(x, func(row int, code, resid []float32) {
		for j, diff := range resid {
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
			score = mahal.combine(mahal.distances(code, resid, tmp))
		} else {
			score = s.reduce(e)
		}
		fn(row, e, score)
	})
}

// forward encodes and decodes x batch by batch and calls fn with each
// row's code and signed residual x̂ − x (valid during the call only).
func (s *Scorer) forward(x *tensor.Tensor, fn func(row int, code, resid []float32)) {
	n := x.Rows()
	shape := s.Model.Config.InputShape
	d := tensor.Size(shape)
	if tensor.Size(x.Shape[1:]) != d {
		panic(fmt.Sprintf("anomaly: data has %d values per row, the model expects %d", tensor.Size(x.Shape[1:]), d))
	}
	r := make([]float32, d)
	b := s.batch()
	for lo := 0; lo < n; lo += b {
		hi := min(lo+b, n)
		in := tensor.From(x.Data[lo*d:hi*d], append([]int{hi - lo}, shape...)...)
		z := s.Model.Encode(in)
		k := tensor.Size(z.Shape[1:])
		codes := append([]float32(nil), z.Data[:(hi-lo)*k]...)
		out := s.Model.Decode(z)
		for i := 0; i < hi-lo; i++ {
			xi, oi := in.Data[i*d:(i+1)*d], out.Data[i*d:(i+1)*d]
			for j := range r {
				r[j] = oi[j] - xi[j]
			}
			fn(lo+i, codes[i*k:(i+1)*k], r)
		}
	}
}

// Group is a raw input column and the model-space columns [Lo, Hi) it
// became: one for a number, one per category for a one-hot column, one per
// pixel for images.
type Group struct {
	Name   string
	Lo, Hi int
}

// Groups maps model-space columns back to raw columns.
func Groups(pre *dataset.Preprocessor) []Group {
	if pre == nil || pre.Kind == dataset.KindImage {
		d := 0
		if pre != nil {
			d = pre.Dim()
		}
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
// column order.
func Attribute(errs []float32, groups []Group, k int) []Contribution {
	var total float64
	for _, v := range errs {
		total += float64(v)
	}
	out := make([]Contribution, len(groups))
	for i, g := range groups {
		var s float64
		for _, v := range errs[g.Lo:g.Hi] {
			s += float64(v)
		}
		share := 0.0
		if total > 0 {
			share = s / total
		}
		out[i] = Contribution{Feature: g.Name, Share: share}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Share > out[b].Share })
	if k > 0 && k < len(out) {
		out = slices.Clip(out[:k])
	}
	return out
}

// FitScale sets Scale to the per-feature mean squared errors on x (the
// training rows), with a floor of 1e-6 of their overall mean so that a
// perfectly reconstructed feature cannot blow up.
func (s *Scorer) FitScale(x *tensor.Tensor) {
	d := tensor.Size(x.Shape[1:])
	sum := make([]float64, d)
	saved := s.Metric
	s.Metric, s.Scale = MetricMSE, nil
	s.run(x, func(_ int, e []float32, _ float64) {
		for j, v := range e {
			sum[j] += float64(v)
		}
	})
	s.Metric = saved
	var all float64
	for j := range sum {
		sum[j] /= float64(max(1, x.Rows()))
		all += sum[j]
	}
	floor := max(1e-6*all/float64(max(1, d)), 1e-12)
	for j := range sum {
		sum[j] = max(sum[j], floor)
	}
	s.Scale = sum
}
