package anomaly

import (
	"math"
	"slices"
	"sort"
)

// The metrics below take scores (higher = more anomalous) and labels (true =
// anomaly). A NaN score counts as the most anomalous value. They follow
// scikit-learn's definitions (roc_auc_score, average_precision_score,
// precision_recall_fscore_support) and are checked against it in
// testdata/sklearn.

// order returns the row indices sorted by descending score (NaN first),
// ties in index order.
func order(scores []float64) []int {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	key := func(i int) float64 {
		if v := scores[i]; v == v {
			return v
		}
		return math.Inf(1)
	}
	sort.SliceStable(idx, func(a, b int) bool { return key(idx[a]) > key(idx[b]) })
	return idx
}

func clean(v float64) float64 {
	if v != v {
		return math.Inf(1)
	}
	return v
}

func counts(labels []bool) (pos, neg int) {
	for _, l := range labels {
		if l {
			pos++
		} else {
			neg++
		}
	}
	return pos, neg
}

// ROCAUC is the area under the ROC curve (ties count one half, as the
// trapezoidal rule gives). It is NaN when labels hold one class only.
func ROCAUC(scores []float64, labels []bool) float64 {
	checkLen(scores, labels)
	pos, neg := counts(labels)
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	idx := order(scores)
	// Walk from the lowest score up, giving tied groups their mean rank.
	var rankSum float64
	n := len(idx)
	for i := n - 1; i >= 0; {
		j := i
		for j > 0 && clean(scores[idx[j-1]]) == clean(scores[idx[i]]) {
			j--
		}
		// ascending ranks of this group: n-i .. n-j (1-based)
		lo, hi := float64(n-i), float64(n-j)
		mean := (lo + hi) / 2
		for k := j; k <= i; k++ {
			if labels[idx[k]] {
				rankSum += mean
			}
		}
		i = j - 1
	}
	p, q := float64(pos), float64(neg)
	return (rankSum - p*(p+1)/2) / (p * q)
}

// Curve is a sequence of operating points, one per distinct score, from
// the highest threshold down.
type Curve struct {
	Thresholds []float64 // the score at which the point's rows start being flagged
	FPR, TPR   []float64 // ROC
	Precision  []float64 // PR (recall = TPR)
}

// Curves computes the ROC and PR operating points.
func Curves(scores []float64, labels []bool) Curve {
	checkLen(scores, labels)
	pos, neg := counts(labels)
	idx := order(scores)
	var c Curve
	tp, fp := 0, 0
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && clean(scores[idx[j]]) == clean(scores[idx[i]]) {
			if labels[idx[j]] {
				tp++
			} else {
				fp++
			}
			j++
		}
		c.Thresholds = append(c.Thresholds, clean(scores[idx[i]]))
		c.FPR = append(c.FPR, ratio(fp, neg))
		c.TPR = append(c.TPR, ratio(tp, pos))
		c.Precision = append(c.Precision, ratio(tp, tp+fp))
		i = j
	}
	return c
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// AveragePrecision is the area under the precision-recall curve as
// scikit-learn's average_precision_score computes it: Σ (Rₙ − Rₙ₋₁)·Pₙ over
// the distinct thresholds. NaN without anomalies.
func AveragePrecision(scores []float64, labels []bool) float64 {
	pos, _ := counts(labels)
	if pos == 0 {
		return math.NaN()
	}
	c := Curves(scores, labels)
	var ap, prev float64
	for i := range c.TPR {
		ap += (c.TPR[i] - prev) * c.Precision[i]
		prev = c.TPR[i]
	}
	return ap
}

// Confusion counts decisions against labels.
type Confusion struct {
	TP, FP, TN, FN int
}

// AtThreshold flags scores above thr (score > thr) and counts the outcome.
func AtThreshold(scores []float64, labels []bool, thr float64) Confusion {
	checkLen(scores, labels)
	var c Confusion
	for i, s := range scores {
		flag := clean(s) > thr
		switch {
		case flag && labels[i]:
			c.TP++
		case flag:
			c.FP++
		case labels[i]:
			c.FN++
		default:
			c.TN++
		}
	}
	return c
}

// Precision is TP/(TP+FP), 0 when nothing is flagged (scikit-learn's
// zero_division=0).
func (c Confusion) Precision() float64 { return ratio(c.TP, c.TP+c.FP) }

// Recall is TP/(TP+FN), 0 without anomalies.
func (c Confusion) Recall() float64 { return ratio(c.TP, c.TP+c.FN) }

// F1 is the harmonic mean of precision and recall, 0 when both are 0.
func (c Confusion) F1() float64 { return ratio(2*c.TP, 2*c.TP+c.FP+c.FN) }

// FAR is the false-alarm rate FP/(FP+TN).
func (c Confusion) FAR() float64 { return ratio(c.FP, c.FP+c.TN) }

// MAR is the missed-alarm rate FN/(FN+TP).
func (c Confusion) MAR() float64 { return ratio(c.FN, c.FN+c.TP) }

// PrecisionAtN is the fraction of anomalies among the n highest scores; n ≤
// 0 means the number of anomalies (PyOD's precision_n_scores). Ties at the
// cut are broken by row order.
func PrecisionAtN(scores []float64, labels []bool, n int) float64 {
	checkLen(scores, labels)
	if n <= 0 {
		n, _ = counts(labels)
	}
	n = min(n, len(scores))
	if n == 0 {
		return math.NaN()
	}
	idx := order(scores)
	hit := 0
	for _, i := range idx[:n] {
		if labels[i] {
			hit++
		}
	}
	return float64(hit) / float64(n)
}

// BestF1 returns the threshold that maximises F1 on labelled scores: the
// midpoint between the lowest flagged score and the next lower one, so
// that new data just below the cut is not flagged by rounding. ok is false
// without anomalies.
func BestF1(scores []float64, labels []bool) (thr, f1 float64, ok bool) {
	pos, _ := counts(labels)
	if pos == 0 {
		return 0, 0, false
	}
	c := Curves(scores, labels)
	best := -1
	for i := range c.TPR {
		p := c.Precision[i]
		if p == 0 {
			continue
		}
		f := 2 * p * c.TPR[i] / (p + c.TPR[i])
		if f > f1 {
			f1, best = f, i
		}
	}
	if best < 0 {
		return 0, 0, false
	}
	cut := c.Thresholds[best]
	if best+1 < len(c.Thresholds) {
		lower := c.Thresholds[best+1]
		thr = lower + (cut-lower)/2
		if thr >= cut || math.IsInf(thr, 0) {
			thr = math.Nextafter(cut, math.Inf(-1))
		}
	} else {
		thr = math.Nextafter(cut, math.Inf(-1))
	}
	return thr, f1, true
}

func checkLen(scores []float64, labels []bool) {
	if len(scores) != len(labels) {
		panic("anomaly: scores and labels differ in length")
	}
}

// Quantile is the q-quantile (0..1) of values with linear interpolation
// (NumPy's default); NaN for no values.
func Quantile(values []float64, q float64) float64 {
	if len(values) == 0 {
		return math.NaN()
	}
	s := slices.Clone(values)
	slices.Sort(s)
	return quantileSorted(s, q)
}

func quantileSorted(s []float64, q float64) float64 {
	q = min(max(q, 0), 1)
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(s)-1)
	f := pos - float64(lo)
	return s[lo] + f*(s[hi]-s[lo])
}
