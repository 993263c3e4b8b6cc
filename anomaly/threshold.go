package anomaly

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Threshold methods.
const (
	MethodFAR           = "far"           // the score a fraction q of normal rows exceed, robust to a few anomalies among the scores
	MethodContamination = "contamination" // the (1-p) quantile of the scores
	MethodSigma         = "sigma"         // mean + k·std
	MethodMAD           = "mad"           // median + k·1.4826·MAD
	MethodPOT           = "pot"           // peaks over threshold (GPD tail) for false-alarm rate q
	MethodF1            = "f1"            // best F1 on labelled validation rows
	MethodValue         = "value"         // a given score
)

// DefaultSpec is the threshold used when none is asked for: the score
// that 1 % of normal rows exceed, estimated from the held-out validation
// rows' scores by FARQuantile, which sets aside a few gross outliers (the
// anomalies unlabelled data may hold). It states the false-alarm rate it
// aims for; on held-out normal rows it flagged 1.35 % on the demo's
// transactions, 1.17 % on NSL-KDD and 0.5–2 % on 27 of 51 sets in all,
// where the former default mad:3.5 flagged 1.5–28 % (docs/RESULTS.md,
// "The default threshold: what it promises", says which sets miss and
// why).
const DefaultSpec = "far:0.01"

// Spec is a parsed threshold request such as "far:0.01".
type Spec struct {
	Method string
	Param  float64
}

func (s Spec) String() string {
	if s.Method == MethodF1 {
		return s.Method
	}
	return s.Method + ":" + strconv.FormatFloat(s.Param, 'g', -1, 64)
}

// ErrSpec is wrapped by ParseSpec's errors.
var ErrSpec = errors.New("anomaly: bad threshold")

const specHelp = "want far:0.01, contamination:0.05, sigma:3, mad:3.5, pot:0.001, f1 or value:X"

// ParseSpec parses "far:Q", "contamination:P", "sigma:K", "mad:K",
// "pot:Q", "f1" or "value:X". A bare method takes its usual parameter (far
// 0.01, contamination 0.05, sigma 3, mad 3.5, pot 0.01).
func ParseSpec(s string) (Spec, error) {
	s = strings.TrimSpace(s)
	method, arg, hasArg := strings.Cut(s, ":")
	method = strings.ToLower(strings.TrimSpace(method))
	var sp Spec
	sp.Method = method
	defaults := map[string]float64{MethodFAR: 0.01, MethodContamination: 0.05, MethodSigma: 3, MethodMAD: 3.5, MethodPOT: 0.01}
	switch method {
	case MethodF1:
		if hasArg {
			return sp, fmt.Errorf("%w %q: f1 takes no value; %s", ErrSpec, s, specHelp)
		}
		return sp, nil
	case MethodFAR, MethodContamination, MethodSigma, MethodMAD, MethodPOT, MethodValue:
	default:
		return sp, fmt.Errorf("%w %q: unknown method %q; %s", ErrSpec, s, method, specHelp)
	}
	if !hasArg {
		d, ok := defaults[method]
		if !ok {
			return sp, fmt.Errorf("%w %q: value needs a score, e.g. value:0.5", ErrSpec, s)
		}
		sp.Param = d
		return sp, nil
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(arg), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return sp, fmt.Errorf("%w %q: %q is not a number; %s", ErrSpec, s, arg, specHelp)
	}
	sp.Param = v
	switch method {
	case MethodFAR, MethodContamination, MethodPOT:
		if v <= 0 || v >= 1 {
			return sp, fmt.Errorf("%w %q: %s needs a fraction in (0, 1), e.g. %s:0.01", ErrSpec, s, method, method)
		}
	case MethodSigma, MethodMAD:
		if v < 0 {
			return sp, fmt.Errorf("%w %q: %s needs k ≥ 0, e.g. %s:3", ErrSpec, s, method, method)
		}
	}
	return sp, nil
}

// Stats summarise the scores a threshold was fitted on.
type Stats struct {
	Mean   float64 `json:"mean"`
	Std    float64 `json:"std"`
	Median float64 `json:"median"`
	MAD    float64 `json:"mad"` // median absolute deviation (unscaled)
	P99    float64 `json:"p99"`
	Max    float64 `json:"max"`
}

// Threshold is a fitted decision rule: a row is anomalous when its score is
// above Value. It is stored in the model file with how it was chosen.
type Threshold struct {
	Score    string  `json:"score"`          // the scorer metric the value is in (mahal, mse, nmse, mae)
	Method   string  `json:"method"`         // one of the Method constants
	Param    float64 `json:"param"`          // the method's parameter (p, k, q, the value)
	Value    float64 `json:"value"`          // score > Value is anomalous
	FittedOn string  `json:"fitted_on"`      // which rows, e.g. "validation rows (normal)"
	Rows     int     `json:"rows"`           // how many scores it was fitted on
	Stats    Stats   `json:"stats"`          // of those scores
	F1       float64 `json:"f1,omitempty"`   // best-F1 method: F1 on the fitting rows
	Note     string  `json:"note,omitempty"` // e.g. a fallback taken
}

// IsAnomaly reports whether score is above the threshold (NaN is).
func (t *Threshold) IsAnomaly(score float64) bool { return clean(score) > t.Value }

// Describe is a one-line account of the threshold.
func (t *Threshold) Describe() string {
	s := fmt.Sprintf("%s score > %.6g (%s", t.Score, t.Value, Spec{t.Method, t.Param})
	if t.Rows > 0 {
		s += fmt.Sprintf(", fitted on %d %s", t.Rows, t.FittedOn)
	}
	if t.Method == MethodF1 {
		s += fmt.Sprintf(", F1 %.3f there", t.F1)
	}
	s += ")"
	if t.Note != "" {
		s += "; " + t.Note
	}
	return s
}

// Summarize computes Stats of scores.
func Summarize(scores []float64) Stats {
	if len(scores) == 0 {
		return Stats{}
	}
	s := make([]float64, len(scores))
	for i, v := range scores {
		s[i] = clean(v)
	}
	slices.Sort(s)
	var st Stats
	var sum float64
	for _, v := range s {
		sum += v
	}
	st.Mean = sum / float64(len(s))
	var ss float64
	for _, v := range s {
		ss += (v - st.Mean) * (v - st.Mean)
	}
	st.Std = math.Sqrt(ss / float64(len(s)))
	st.Median = quantileSorted(s, 0.5)
	dev := make([]float64, len(s))
	for i, v := range s {
		dev[i] = math.Abs(v - st.Median)
	}
	slices.Sort(dev)
	st.MAD = quantileSorted(dev, 0.5)
	st.P99 = quantileSorted(s, 0.99)
	st.Max = s[len(s)-1]
	return st
}

// Fit chooses a threshold by spec from scores. labels (true = anomaly) are
// needed for f1 only and may be nil otherwise; for the other methods rows
// labelled anomalous are left out when labels are given, so that a rule
// meant for normal data is fitted on normal data (and far, knowing the
// rows left are normal, sets no outliers aside). fittedOn describes the
// rows for the record.
func Fit(spec Spec, scores []float64, labels []bool, fittedOn string) (*Threshold, error) {
	if labels != nil && len(labels) != len(scores) {
		return nil, fmt.Errorf("anomaly: %d scores but %d labels", len(scores), len(labels))
	}
	t := &Threshold{Method: spec.Method, Param: spec.Param, FittedOn: fittedOn, Score: MetricMSE}
	if spec.Method == MethodValue {
		t.Value = spec.Param
		t.FittedOn = "given"
		return t, nil
	}
	if spec.Method == MethodF1 {
		if labels == nil {
			return nil, errors.New("anomaly: threshold f1 needs labelled rows; pass --label and --normal with data that holds anomalies")
		}
		thr, f1, ok := BestF1(scores, labels)
		if !ok {
			return nil, errors.New("anomaly: threshold f1 needs labelled anomalies among the validation rows, and there are none; use far:0.01 for normal-only data")
		}
		t.Value, t.F1, t.Rows = thr, f1, len(scores)
		t.Stats = Summarize(scores)
		return t, nil
	}
	normal := scores
	if labels != nil {
		normal = normal[:0:0]
		for i, s := range scores {
			if !labels[i] {
				normal = append(normal, s)
			}
		}
	}
	if len(normal) == 0 {
		return nil, errors.New("anomaly: no rows to fit the threshold on; pass more data or --threshold value:X")
	}
	st := Summarize(normal)
	t.Stats, t.Rows = st, len(normal)
	switch spec.Method {
	case MethodFAR:
		t.Value, t.Note = FARQuantile(normal, spec.Param, labels != nil)
	case MethodContamination:
		t.Value = Quantile(normal, 1-spec.Param)
	case MethodSigma:
		t.Value = st.Mean + spec.Param*st.Std
	case MethodMAD:
		t.Value = st.Median + spec.Param*1.4826*st.MAD
	case MethodPOT:
		v, note := POT(normal, spec.Param)
		t.Value, t.Note = v, note
	default:
		return nil, fmt.Errorf("%w: unknown method %q; %s", ErrSpec, spec.Method, specHelp)
	}
	if math.IsNaN(t.Value) || math.IsInf(t.Value, 0) {
		return nil, fmt.Errorf("anomaly: threshold %s came out as %v on these scores; pass --threshold value:X", spec, t.Value)
	}
	return t, nil
}

// POT returns the score exceeded with probability q under a generalised
// Pareto model of the tail (peaks over threshold, Siffer et al. 2017): the
// excesses over the 0.98 quantile t are fitted by probability-weighted
// moments (Hosking & Wallis 1987), and z = t + σ/ξ·((q·n/Nt)^(−ξ) − 1). With
// fewer than 10 excesses, or when q is not in the tail, it falls back to the
// empirical (1−q) quantile and says so in note.
func POT(scores []float64, q float64) (z float64, note string) {
	s := make([]float64, len(scores))
	for i, v := range scores {
		s[i] = clean(v)
	}
	slices.Sort(s)
	n := len(s)
	const level = 0.98
	t := quantileSorted(s, level)
	var ex []float64
	for _, v := range s {
		if v > t {
			ex = append(ex, v-t)
		}
	}
	if q >= 1-level || len(ex) < 10 {
		return quantileSorted(s, 1-q), fmt.Sprintf("empirical %.4g quantile (too few tail rows for a tail model: %d)", 1-q, len(ex))
	}
	// ex is ascending; PWM a0 = mean, a1 = mean(x·(1−p)), p = (i+0.65)/m.
	m := float64(len(ex))
	var a0, a1 float64
	for i, v := range ex {
		p := (float64(i) + 0.65) / m
		a0 += v
		a1 += v * (1 - p)
	}
	a0 /= m
	a1 /= m
	den := a0 - 2*a1
	if den <= 0 || a0 <= 0 {
		return quantileSorted(s, 1-q), "empirical quantile (tail fit degenerate)"
	}
	xi := 2 - a0/den
	sigma := 2 * a0 * a1 / den
	r := q * float64(n) / m
	if math.Abs(xi) < 1e-6 {
		z = t - sigma*math.Log(r)
	} else {
		z = t + sigma/xi*(math.Pow(r, -xi)-1)
	}
	if math.IsNaN(z) || math.IsInf(z, 0) || z < t {
		return quantileSorted(s, 1-q), "empirical quantile (tail fit degenerate)"
	}
	return z, fmt.Sprintf("GPD tail above %.4g: shape %.3f, scale %.4g, %d excesses", t, xi, sigma, len(ex))
}

// FAR rule constants (docs/RESULTS.md, "The default threshold: what it
// promises", says how they were chosen).
const (
	farOutlierMADs = 4    // a row above median + 4·(scaled MAD) of the log-scores is a gross outlier…
	farOutlierMax  = 0.02 // …when at most 2 % of the rows (or one row) are; more are the normal rows' tail
	farTailRows    = 5    // top rows the exponential tail above the top row is fitted to
)

// FARQuantile returns the score that a fraction q of normal rows exceed,
// estimated from the scores of rows that are mostly normal but, when the
// data's anomalies are not labelled, may hold some; labelled says they are
// known to be normal (chosen by their label), and then none is set aside.
// note says what it did beyond a plain quantile, or is empty.
//
// Why it works: reconstruction-error scores are skewed with a heavy right
// tail, so the rule looks at log-scores u = log(s − m0), m0 the smallest
// score (mahal scores are centred on the training median and can be
// negative; measured from their minimum, scores of every kind are on one
// footing, and the threshold follows a shift or a scaling of the scores).
// Unlabelled anomalies that the model tells apart sit far out in that tail
// and drag a plain quantile up, so that it flags fewer normal rows than
// promised. Unless the rows are labelled normal, those more than 4 scaled
// MADs above the median log-score are therefore set aside as gross
// outliers (like the mahal score's --score-trim), but only when they are at
// most 2 % of the rows (or a single row): more rows than that beyond the
// cut are not a few strays but the normal rows' own heavy tail (or a
// second mode of them), and setting them aside would flag too many normal
// rows. The threshold is the (1−q) quantile of the rows kept, at the Hazen
// plotting position (i−½)/n, so that on clean rows new normal rows exceed
// it a fraction q of the time; with too few rows for that (n·q < ½: under
// 50 rows for q = 0.01) it extrapolates above the top row with an
// exponential tail of the log-scores (a Pareto tail of the scores) fitted
// to the top 5 rows.
//
// What it cannot do: anomalies that blend into the normal rows' tail look
// like normal rows. With many of them (tens of per cent of the rows) the
// threshold lands high and flags fewer normal rows than q; with few rows
// (tens) the quantile is a guess. docs/RESULTS.md ("The default
// threshold: what it promises") has the measurements behind the constants.
func FARQuantile(scores []float64, q float64, labelled bool) (z float64, note string) {
	n := len(scores)
	if n == 0 {
		return math.NaN(), ""
	}
	s := make([]float64, n)
	for i, v := range scores {
		s[i] = clean(v)
	}
	slices.Sort(s)
	m0 := s[0]
	eps := quantileSorted(s, 0.5) - m0 // a scale for log(0): a billionth of the median
	if eps <= 0 {
		eps = s[n-1] - m0
	}
	if eps <= 0 {
		return s[n-1], "" // all scores equal
	}
	eps *= 1e-9
	u := make([]float64, n)
	for i, v := range s {
		u[i] = math.Log(v - m0 + eps)
	}
	med := quantileSorted(u, 0.5)
	dev := make([]float64, n)
	for i, v := range u {
		dev[i] = math.Abs(v - med)
	}
	slices.Sort(dev)
	cut := med + farOutlierMADs*1.4826*quantileSorted(dev, 0.5)
	keep := n
	for keep > 0 && u[keep-1] > cut {
		keep--
	}
	if out := n - keep; !labelled && out > 0 && float64(out) <= max(1, farOutlierMax*float64(n)) {
		u = u[:keep]
		note = fmt.Sprintf("%d outlying rows set aside (score > %.4g)", out, math.Exp(cut)-eps+m0)
	}
	m := len(u)
	var t float64
	if pos := (1-q)*float64(m) - 0.5; pos <= float64(m-1) {
		lo := int(math.Floor(max(pos, 0)))
		hi := min(lo+1, m-1)
		f := max(pos, 0) - float64(lo)
		t = u[lo] + f*(u[hi]-u[lo])
	} else {
		k := min(farTailRows, m-2) // above the bottom row, which sits at log(eps)
		t = u[m-1]
		if k > 0 {
			var beta float64
			for _, v := range u[m-k:] {
				beta += v - u[m-k-1]
			}
			beta /= float64(k)
			t += beta * math.Log(0.5/(float64(m)*q))
		}
		if note != "" {
			note += "; "
		}
		note += fmt.Sprintf("extrapolated above the top of %d rows", m)
	}
	return math.Exp(t) - eps + m0, note
}
