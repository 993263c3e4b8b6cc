package anomaly

import (
	"math"
	"slices"

	"github.com/bottleneck-ml/bottleneck/tensor"
)

// MetricMahal scores a row by how unusual both its code and its
// reconstruction error are, relative to the training rows:
//
//	score = (Dz − median Dz)/MAD Dz + (De − median De)/MAD De
//
// where Dz is the squared Mahalanobis distance of the row's code from the
// training codes and De that of its signed residual x̂ − x from the
// training residuals (medians and MADs over the training rows). A linear
// autoencoder scored this way is PCA's full Mahalanobis score; the MSE
// score is De with an identity covariance and no code term. It was the
// best of the scores tried on the ODDS sets (docs/RESULTS.md, "Choosing
// the defaults").
const MetricMahal = "mahal"

// MaxFullCov is the widest input whose residual gets a full covariance;
// wider inputs use its diagonal (a per-feature variance), which keeps the
// model file small (d² numbers) and the fit cheap.
const MaxFullCov = 300

// maxMahalRows bounds the rows the statistics are fitted on (an even
// stride through the training rows).
const maxMahalRows = 20000

// MahalStats are the training statistics of MetricMahal.
type MahalStats struct {
	CodeMean []float64 `json:"code_mean"`
	CodeInv  []float32 `json:"code_inv"` // k×k inverse covariance (ridged)
	ErrMean  []float64 `json:"err_mean"`
	ErrInv   []float32 `json:"err_inv,omitempty"` // d×d inverse covariance, d ≤ MaxFullCov
	ErrVar   []float64 `json:"err_var,omitempty"` // per-feature variance, d > MaxFullCov
	CodeMed  float64   `json:"code_median"`
	CodeMAD  float64   `json:"code_mad"`
	ErrMed   float64   `json:"err_median"`
	ErrMAD   float64   `json:"err_mad"`
}

// combine turns the two squared distances into the score.
func (m *MahalStats) combine(dz, de float64) float64 {
	return (dz-m.CodeMed)/m.CodeMAD + (de-m.ErrMed)/m.ErrMAD
}

// distances returns the squared Mahalanobis distances of a code and a
// residual; tmp needs max(len(code), len(resid)) values.
func (m *MahalStats) distances(code, resid []float32, tmp []float64) (dz, de float64) {
	dz = quad(code, m.CodeMean, m.CodeInv, tmp)
	if m.ErrInv != nil {
		de = quad(resid, m.ErrMean, m.ErrInv, tmp)
	} else {
		for j, v := range resid {
			c := float64(v) - m.ErrMean[j]
			de += c * c / m.ErrVar[j]
		}
	}
	return dz, de
}

// quad is (v−mu)ᵀ inv (v−mu).
func quad(v []float32, mu []float64, inv []float32, tmp []float64) float64 {
	k := len(v)
	c := tmp[:k]
	for j := range c {
		c[j] = float64(v[j]) - mu[j]
	}
	var s float64
	for a := 0; a < k; a++ {
		row := inv[a*k : (a+1)*k]
		var r float64
		for b, w := range row {
			r += float64(w) * c[b]
		}
		s += c[a] * r
	}
	return s
}

// MahalTrim is the fraction of training rows left out of the second fit of
// each covariance when the training rows may hold anomalies (unsupervised
// training): the rows farthest from the first fit, a reweighting step as
// in robust covariance estimators, so that anomalies among the training
// rows do not widen the covariance that should flag them. Measured on the
// ODDS sets (mean ROC-AUC 0.795 → 0.812 at 0.2; 0.1: 0.808, 0.3: 0.813),
// then, with the OAS shrinkage and the statistics fitted on all rows, on
// the 28 ADBench sets (5 seeds; 0.1: 0.7997, 0.25: 0.8066, 0.3: 0.8058,
// 0.4: 0.8050) with ODDS unchanged (0.8156, 0.8188, 0.8194, 0.8152):
// docs/RESULTS.md, "Choosing the defaults".
const MahalTrim = 0.25

// fitMahal fits the MetricMahal statistics with s's model on x (the
// training rows). trim is the fraction of rows left out of the second fit
// (MahalTrim for rows that may hold anomalies, 0 for rows known to be
// normal).
func fitMahal(s *scorer, x *tensor.Tensor, trim float64) (*MahalStats, error) {
	n := x.Rows()
	stride := max(1, (n+maxMahalRows-1)/maxMahalRows)
	idx := make([]int, 0, n/stride+1)
	for i := 0; i < n; i += stride {
		idx = append(idx, i)
	}
	d := tensor.Size(x.Shape[1:])
	sub := tensor.New(append([]int{len(idx)}, x.Shape[1:]...)...)
	for r, i := range idx {
		copy(sub.Data[r*d:(r+1)*d], x.Data[i*d:(i+1)*d])
	}
	k := s.codeSize
	full := d <= MaxFullCov
	tmp := make([]float64, max(k, d))
	fit := func(wz, we []float64) (*MahalStats, error) {
		zs := newMoments(k, true)
		es := newMoments(d, full)
		err := s.forward(sub, func(i int, code, resid []float32) {
			if wz == nil {
				zs.add(code, 1)
			} else {
				zs.add(code, wz[i])
			}
			if we == nil {
				es.add(resid, 1)
			} else {
				es.add(resid, we[i])
			}
		})
		if err != nil {
			return nil, err
		}
		st := &MahalStats{}
		st.CodeMean, st.CodeInv = zs.inverse()
		if full {
			st.ErrMean, st.ErrInv = es.inverse()
		} else {
			st.ErrMean, st.ErrVar = es.variances()
		}
		return st, nil
	}
	dists := func(st *MahalStats) (dz, de []float64, err error) {
		dz = make([]float64, 0, len(idx))
		de = make([]float64, 0, len(idx))
		err = s.forward(sub, func(_ int, code, resid []float32) {
			a, b := st.distances(code, resid, tmp)
			dz = append(dz, a)
			de = append(de, b)
		})
		return dz, de, err
	}
	st, err := fit(nil, nil)
	if err != nil {
		return nil, err
	}
	if trim > 0 && len(idx) >= 20 {
		dz, de, err := dists(st)
		if err != nil {
			return nil, err
		}
		if st, err = fit(weights(dz, 1-trim), weights(de, 1-trim)); err != nil {
			return nil, err
		}
	}
	// Robust location and scale of both distances over all the rows.
	dz, de, err := dists(st)
	if err != nil {
		return nil, err
	}
	st.CodeMed, st.CodeMAD = medMAD(dz)
	st.ErrMed, st.ErrMAD = medMAD(de)
	return st, nil
}

// weights gives the values at or under the q quantile of v weight 1 and
// the others 0. (Down-weighting them by cut/v instead was measured worse:
// ODDS mean 0.805 against 0.812.)
func weights(v []float64, q float64) []float64 {
	cut := Quantile(v, q)
	w := make([]float64, len(v))
	for i, x := range v {
		if x <= cut {
			w[i] = 1
		}
	}
	return w
}

// medMAD returns the median and the median absolute deviation (floored so
// that a constant distance cannot divide by zero).
func medMAD(v []float64) (float64, float64) {
	st := Summarize(v)
	mad := st.MAD
	if !(mad > 1e-12*max(1, math.Abs(st.Median))) {
		mad = max(st.Std, 1e-12*max(1, math.Abs(st.Median)), 1e-12)
	}
	return st.Median, mad
}

// moments accumulates the mean and (full or diagonal) covariance of
// vectors, shifted by the first vector for numerical stability.
type moments struct {
	d     int
	full  bool
	n     float64
	shift []float64
	sum   []float64
	cross []float64 // d×d (full) or d (diagonal)
	c     []float64
}

func newMoments(d int, full bool) *moments {
	m := &moments{d: d, full: full, sum: make([]float64, d), c: make([]float64, d)}
	if full {
		m.cross = make([]float64, d*d)
	} else {
		m.cross = make([]float64, d)
	}
	return m
}

func (m *moments) add(v []float32, w float64) {
	if w == 0 {
		return
	}
	if m.shift == nil {
		m.shift = make([]float64, m.d)
		for j, x := range v {
			m.shift[j] = float64(x)
		}
	}
	m.n += w
	c := m.c
	for j, x := range v {
		c[j] = float64(x) - m.shift[j]
		m.sum[j] += w * c[j]
	}
	if !m.full {
		for j, x := range c {
			m.cross[j] += w * x * x
		}
		return
	}
	for a, ca := range c {
		if ca == 0 {
			continue
		}
		row := m.cross[a*m.d : (a+1)*m.d]
		wa := w * ca
		for b, cb := range c {
			row[b] += wa * cb
		}
	}
}

func (m *moments) mean() ([]float64, []float64) {
	mu := make([]float64, m.d)
	cm := make([]float64, m.d) // mean of the shifted values
	for j := range mu {
		cm[j] = m.sum[j] / max(m.n, 1)
		mu[j] = cm[j] + m.shift[j]
	}
	return mu, cm
}

// variances returns the mean and per-feature variances (floored).
func (m *moments) variances() ([]float64, []float64) {
	mu, cm := m.mean()
	v := make([]float64, m.d)
	var tr float64
	for j := range v {
		v[j] = max(m.cross[j]/max(m.n, 1)-cm[j]*cm[j], 0)
		tr += v[j]
	}
	floor := max(1e-3*tr/float64(max(m.d, 1)), 1e-12)
	for j := range v {
		v[j] = max(v[j], floor)
	}
	return mu, v
}

// inverse returns the mean and the inverse of the covariance, shrunk
// towards a multiple of the identity by shrinkOAS, with a ridge of 1e-3 of
// its mean variance added to the diagonal.
func (m *moments) inverse() ([]float64, []float32) {
	mu, cm := m.mean()
	d := m.d
	cov := make([]float64, d*d)
	var tr float64
	for a := 0; a < d; a++ {
		for b := 0; b < d; b++ {
			cov[a*d+b] = m.cross[a*d+b]/max(m.n, 1) - cm[a]*cm[b]
		}
		tr += cov[a*d+a]
	}
	mv := tr / float64(max(d, 1))
	shrinkOAS(cov, d, m.n, mv)
	ridge := max(1e-3*mv, 1e-12)
	for a := 0; a < d; a++ {
		cov[a*d+a] += ridge
	}
	inv := invertSPD(cov, d)
	out := make([]float32, d*d)
	for i, v := range inv {
		out[i] = float32(v)
	}
	return mu, out
}

// shrinkOAS shrinks the d×d sample covariance cov of n rows, whose mean
// variance is mv, towards mv·I by the Oracle Approximating Shrinkage
// coefficient (Chen, Wiesel, Eldar and Hero, "Shrinkage algorithms for
// MMSE covariance estimation", IEEE Trans. Signal Process. 58(10), 2010,
// in the form scikit-learn's OAS uses). The code and error features of a
// small table are often nearly collinear, and a plain inverse then makes
// every row that leaves the fitted subspace look extreme; shrinking by how
// much the rows can support raised the ADBench 28-set mean ROC-AUC from
// 0.799 to 0.801 alone, and to 0.807 with the score statistics fitted on
// all rows and MahalTrim 0.25 (docs/RESULTS.md, "Choosing the defaults").
// It returns the coefficient: near 1 when n is small against d, near 0
// when the rows pin the covariance down.
func shrinkOAS(cov []float64, d int, n, mv float64) float64 {
	if d == 0 {
		return 0
	}
	var alpha float64 // mean of the squared entries
	for _, v := range cov {
		alpha += v * v
	}
	alpha /= float64(d * d)
	num := alpha + mv*mv
	den := (n + 1) * (alpha - mv*mv/float64(d))
	shrink := 1.0
	if den > 0 {
		shrink = min(num/den, 1)
	}
	for i := range cov {
		cov[i] *= 1 - shrink
	}
	for a := 0; a < d; a++ {
		cov[a*d+a] += shrink * mv
	}
	return shrink
}

// invertSPD inverts a symmetric positive-definite d×d matrix by Gauss-Jordan
// elimination with partial pivoting.
func invertSPD(a []float64, d int) []float64 {
	w := 2 * d
	m := make([]float64, d*w)
	for i := 0; i < d; i++ {
		copy(m[i*w:i*w+d], a[i*d:(i+1)*d])
		m[i*w+d+i] = 1
	}
	for c := 0; c < d; c++ {
		p := c
		for r := c + 1; r < d; r++ {
			if math.Abs(m[r*w+c]) > math.Abs(m[p*w+c]) {
				p = r
			}
		}
		if p != c {
			rc, rp := m[c*w:(c+1)*w], m[p*w:(p+1)*w]
			for j := range rc {
				rc[j], rp[j] = rp[j], rc[j]
			}
		}
		rc := m[c*w : (c+1)*w]
		pv := rc[c]
		if pv == 0 {
			pv = 1e-300
		}
		for j := range rc {
			rc[j] /= pv
		}
		for r := 0; r < d; r++ {
			if r == c {
				continue
			}
			rr := m[r*w : (r+1)*w]
			f := rr[c]
			if f == 0 {
				continue
			}
			for j := c; j < w; j++ {
				rr[j] -= f * rc[j]
			}
		}
	}
	out := make([]float64, d*d)
	for i := 0; i < d; i++ {
		copy(out[i*d:(i+1)*d], m[i*w+d:(i+1)*w])
	}
	// Symmetrise away rounding.
	for a := 0; a < d; a++ {
		for b := a + 1; b < d; b++ {
			v := (out[a*d+b] + out[b*d+a]) / 2
			out[a*d+b], out[b*d+a] = v, v
		}
	}
	return slices.Clip(out)
}
