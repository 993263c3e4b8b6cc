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
	MethodContamination = "contamination" // the (1-p) quantile of the scores
	MethodSigma         = "sigma"         // mean + k·std
	MethodMAD           = "mad"           // median + k·1.4826·MAD
	MethodPOT           = "pot"           // peaks over threshold (GPD tail) for false-alarm rate q
	MethodF1            = "f1"            // best F1 on labelled validation rows
	MethodValue         = "value"         // a given score
)

// DefaultSpec is the threshold used when none is asked for: median +
// 3.5·(scaled MAD) of the held-out validation rows' scores. It needs no
// labelled anomalies and, being robust, is not dragged up by the heavy
// right tail of reconstruction errors the way mean + kσ and tail fits are;
// on NSL-KDD it gave F1 0.88 where pot:0.01 gave 0.32 (docs/RESULTS.md,
// "Choosing the defaults").
const DefaultSpec = "mad:3.5"

// Spec is a parsed threshold request such as "mad:3.5".
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

const specHelp = "want contamination:0.05, sigma:3, mad:3.5, pot:0.001, f1 or value:X"

// ParseSpec parses "contamination:P", "sigma:K", "mad:K", "pot:Q", "f1" or
// "value:X". A bare method takes its usual parameter (contamination 0.05,
// sigma 3, mad 3.5, pot 0.01).
func ParseSpec(s string) (Spec, error) {
	s = strings.TrimSpace(s)
	method, arg, hasArg := strings.Cut(s, ":")
	method = strings.ToLower(strings.TrimSpace(method))
	var sp Spec
	sp.Method = method
	defaults := map[string]float64{MethodContamination: 0.05, MethodSigma: 3, MethodMAD: 3.5, MethodPOT: 0.01}
	switch method {
	case MethodF1:
		if hasArg {
			return sp, fmt.Errorf("%w %q: f1 takes no value; %s", ErrSpec, s, specHelp)
		}
		return sp, nil
	case MethodContamination, MethodSigma, MethodMAD, MethodPOT, MethodValue:
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
	case MethodContamination, MethodPOT:
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
// meant for normal data is fitted on normal data. fittedOn describes the
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
			return nil, errors.New("anomaly: threshold f1 needs labelled anomalies among the validation rows, and there are none; use pot:0.01 or mad:3.5 for normal-only data")
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
