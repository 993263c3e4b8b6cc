package anomaly

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
)

// Metrics measure a detector against labels (anomaly = a label other than
// the normal one): the ranking quality of its scores, and its decisions at
// its threshold (nil fields when it has none).
type Metrics struct {
	ROCAUC          float64  `json:"roc_auc"`
	PRAUC           float64  `json:"pr_auc"` // average precision
	PrecisionAtN    float64  `json:"precision_at_n"`
	Threshold       *float64 `json:"threshold"`
	ThresholdMethod string   `json:"threshold_method,omitempty"`
	Precision       *float64 `json:"precision"`
	Recall          *float64 `json:"recall"`
	F1              *float64 `json:"f1"`
	FAR             *float64 `json:"far"` // false-alarm rate
	MAR             *float64 `json:"mar"` // missed-alarm rate
	Flagged         int      `json:"flagged"`
	NormalRows      int      `json:"normal_rows,omitempty"` // rows labelled normal
	Anomalies       int      `json:"anomalies"`
	Normal          string   `json:"normal"`
	Score           string   `json:"score"`
	MSENormal       float64  `json:"mse_normal"`
	MSEAnomalous    float64  `json:"mse_anomalous"`
}

// Evaluate scores the labelled rows of ds (a time series, for a
// time-series detector) and measures the detector against their labels.
// normal is the label of normal rows; "" takes the one the detector was
// trained on, or 0 for 0/1 labels. It also returns the results and which
// rows are anomalous by label, for reports.
func Evaluate(d *Detector, ds *dataset.Dataset, normal string) (*Metrics, []Result, []bool, error) {
	if ds.Labels == nil {
		return nil, nil, nil, fmt.Errorf("anomaly: %s has no labels; pass --label COL (CSV) or data with labels", ds.Source)
	}
	nl, ok := NormalLabel(normal, ds.Pre, ds.Labels)
	if !ok {
		return nil, nil, nil, fmt.Errorf("anomaly: cannot tell which label is normal (labels: %s); pass --normal VALUE", SomeLabels(ds.Labels))
	}
	res, err := d.ScoreWith(ds.X, ScoreOptions{Top: -1})
	if err != nil {
		return nil, nil, nil, err
	}
	m, y, err := Measure(res, ds.Labels, nl, d.threshold)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", ds.Source, err)
	}
	return m, res, y, nil
}

// EvaluateOptions configure EvaluateWith.
type EvaluateOptions struct {
	// Normal is the label of normal rows; "" picks it as NormalLabel does.
	Normal string
	Batch  int // rows per forward pass (0: 256)
}

// Evaluation is what EvaluateWith measures: the reconstruction error, and
// with labels the detection metrics. Its JSON is one flat object (the
// keys of ae.Eval, then those of Metrics when there are some).
type Evaluation struct {
	// Eval is the mean reconstruction error per element over the rows,
	// or over the time steps of a time-series detector.
	ae.Eval
	// Metrics measure the detector against the labels; nil when ds has no
	// labels or the normal label cannot be told (see NormalLabel).
	*Metrics
	// Results are the scores behind Metrics and Anomalous, the labels as
	// anomalous or not: what a report draws. Nil without Metrics, except
	// for a time-series detector.
	Results   []Result `json:"-"`
	Anomalous []bool   `json:"-"`
}

// EvaluateWith measures d on ds the way `bottleneck eval` does: the mean
// reconstruction error of the rows (MSE, and BCE for a sigmoid output on
// [0,1] data), per time step for a time-series detector, and, when ds has
// labels and the normal one can be told (o.Normal, or NormalLabel's
// guess), the detection metrics at d's threshold. Unlike Evaluate,
// unlabelled data is no error: the result then has no Metrics. It is safe
// for concurrent use, as d is.
func EvaluateWith(d *Detector, ds *dataset.Dataset, o EvaluateOptions) (*Evaluation, error) {
	batch := o.Batch
	if batch <= 0 {
		batch = 256
	}
	score := func() ([]Result, error) { return d.ScoreWith(ds.X, ScoreOptions{Top: -1, Batch: batch}) }
	ev := &Evaluation{}
	var err error
	if d.window > 1 {
		// a time-series detector is measured per time step
		if ev.Results, err = score(); err != nil {
			return nil, err
		}
		ev.Rows, ev.Features = ds.Len(), ds.Dim()
		for _, r := range ev.Results {
			ev.MSE += r.MSE / float64(len(ev.Results))
		}
	} else {
		w := d.get()
		ev.Eval, err = w.m.Evaluate(ds.X, batch)
		d.put(w)
		if err != nil {
			return nil, err
		}
	}
	nl, ok := NormalLabel(o.Normal, ds.Pre, ds.Labels)
	if ds.Labels == nil || !ok {
		return ev, nil
	}
	if ev.Results == nil {
		if ev.Results, err = score(); err != nil {
			return nil, err
		}
	}
	if ev.Metrics, ev.Anomalous, err = Measure(ev.Results, ds.Labels, nl, d.threshold); err != nil {
		return nil, fmt.Errorf("%s: %w", ds.Source, err)
	}
	return ev, nil
}

// LabelledAnomalies returns the rows of ds whose label is not normal (nil
// when there are none, or no labels): for a detector trained on the
// normal rows of a labelled file, the rows it never saw, to fit an f1
// threshold with (TrainOptions.Anomalies) or to measure it on.
func LabelledAnomalies(ds *dataset.Dataset, normal string) *dataset.Dataset {
	var idx []int
	isNormal := dataset.NormalMatch(normal)
	for i, l := range ds.Labels {
		if !isNormal(l) {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil
	}
	return ds.Subset(idx)
}

// Measure computes the metrics of results against labels (anomalous =
// label ≠ normal) at threshold th (nil: ranking metrics only), and returns
// which rows are anomalous.
func Measure(res []Result, labels []string, normal string, th *Threshold) (*Metrics, []bool, error) {
	if len(res) != len(labels) {
		return nil, nil, fmt.Errorf("%d results for %d labels", len(res), len(labels))
	}
	y := make([]bool, len(labels))
	scores := make([]float64, len(res))
	mse := make([]float64, len(res))
	isNormal := dataset.NormalMatch(normal)
	for i, l := range labels {
		y[i] = !isNormal(l)
		scores[i], mse[i] = res[i].Score, res[i].MSE
	}
	r := measure(scores, mse, y, normal, th)
	if r == nil {
		pos := 0
		for _, a := range y {
			if a {
				pos++
			}
		}
		return nil, nil, fmt.Errorf("labels hold one class only (%d of %d rows anomalous with normal = %q; labels seen: %s); pass --normal with the label of normal rows and data that has both", pos, len(y), normal, SomeLabels(labels))
	}
	return r, y, nil
}

// measure computes the metrics of scores (with their rows' squared
// errors mse) against y (true = anomalous) at th (nil: ranking only); nil
// when y holds one class only.
func measure(scores, mse []float64, y []bool, normal string, th *Threshold) *Metrics {
	var pos int
	var seNorm, seAnom float64
	for i, a := range y {
		if a {
			pos++
			seAnom += mse[i]
		} else {
			seNorm += mse[i]
		}
	}
	if pos == 0 || pos == len(y) {
		return nil
	}
	r := &Metrics{
		ROCAUC: ROCAUC(scores, y), PRAUC: AveragePrecision(scores, y),
		PrecisionAtN: PrecisionAtN(scores, y, 0), NormalRows: len(y) - pos, Anomalies: pos, Normal: normal, Score: MetricMSE,
		MSENormal: seNorm / float64(len(y)-pos), MSEAnomalous: seAnom / float64(pos),
	}
	if th != nil {
		r.Score = th.Score
		c := AtThreshold(scores, y, th.Value)
		v, p, rc, f, far, mar := th.Value, c.Precision(), c.Recall(), c.F1(), c.FAR(), c.MAR()
		r.Threshold, r.Precision, r.Recall, r.F1, r.FAR, r.MAR = &v, &p, &rc, &f, &far, &mar
		r.ThresholdMethod = Spec{Method: th.Method, Param: th.Param}.String()
		r.Flagged = c.TP + c.FP
	}
	return r
}

// NormalLabel picks the label of normal rows: flag when given, else the one
// the data was filtered to at training (pre.Normal), else "0" for 0/1
// labels or "normal"; ok is false when it cannot tell.
func NormalLabel(flag string, pre *dataset.Preprocessor, labels []string) (string, bool) {
	if flag != "" {
		return flag, true
	}
	if pre != nil && pre.Normal != "" {
		return pre.Normal, true
	}
	seen := map[string]bool{}
	for _, l := range labels {
		seen[l] = true
		if len(seen) > 2 {
			return "", false
		}
	}
	for _, pair := range [][2]string{{"0", "1"}, {"0.0", "1.0"}, {"normal", ""}} {
		ok := seen[pair[0]]
		for l := range seen {
			ok = ok && (l == pair[0] || l == pair[1] || pair[1] == "")
		}
		if ok {
			return pair[0], true
		}
	}
	return "", false
}

// SomeLabels lists up to 8 distinct labels, quoted and sorted, for
// messages.
func SomeLabels(labels []string) string {
	seen := map[string]bool{}
	var out []string
	for _, l := range labels {
		if !seen[l] && len(out) < 8 {
			seen[l] = true
			out = append(out, fmt.Sprintf("%q", l))
		}
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// WriteText writes the evaluation as `bottleneck eval` prints it: rows,
// features and errors, then with labels the ranking metrics and the
// decisions at the threshold. window > 1 says the rows are the time steps
// of windows of that many rows.
func (e *Evaluation) WriteText(w io.Writer, window int) error {
	var b strings.Builder
	steps := ""
	if window > 1 {
		steps = fmt.Sprintf(" (time steps, windows of %d)", window)
	}
	fmt.Fprintf(&b, "rows      %d%s\nfeatures  %d\nmse       %.6f\n", e.Rows, steps, e.Features, e.MSE)
	if e.BCE != nil {
		fmt.Fprintf(&b, "bce       %.6f\n", *e.BCE)
	}
	if r := e.Metrics; r != nil {
		fmt.Fprintf(&b, "anomalies %d (label ≠ %q)\nroc_auc   %.4f\npr_auc    %.4f\nprec@n    %.4f\n", r.Anomalies, r.Normal, r.ROCAUC, r.PRAUC, r.PrecisionAtN)
		if r.Threshold != nil {
			fmt.Fprintf(&b, "threshold %.6g (%s)\nflagged   %d\nprecision %.4f\nrecall    %.4f\nf1        %.4f\nfar       %.4f\nmar       %.4f\n",
				*r.Threshold, r.ThresholdMethod, r.Flagged, *r.Precision, *r.Recall, *r.F1, *r.FAR, *r.MAR)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
