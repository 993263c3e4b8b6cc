package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
)

// AnomalyMetrics are eval's labelled detection metrics (anomaly = label
// other than the normal value).
type AnomalyMetrics struct {
	ROCAUC          float64  `json:"roc_auc"`
	PRAUC           float64  `json:"pr_auc"` // average precision
	PrecisionAtN    float64  `json:"precision_at_n"`
	Threshold       *float64 `json:"threshold"` // null when the model has none
	ThresholdMethod string   `json:"threshold_method,omitempty"`
	Precision       *float64 `json:"precision"`
	Recall          *float64 `json:"recall"`
	F1              *float64 `json:"f1"`
	FAR             *float64 `json:"far"` // false-alarm rate
	MAR             *float64 `json:"mar"` // missed-alarm rate
	Flagged         int      `json:"flagged"`
	Anomalies       int      `json:"anomalies"`
	Normal          string   `json:"normal"`
	Score           string   `json:"score"`
	MSENormal       float64  `json:"mse_normal"`
	MSEAnomalous    float64  `json:"mse_anomalous"`
}

// normalLabel picks the label of normal rows: --normal, else the one the
// model was trained on, else "0" for 0/1 labels; ok is false when it cannot
// tell (then no detection metrics are computed).
func normalLabel(flag string, pre *dataset.Preprocessor, labels []string) (string, bool) {
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

func someOf(labels []string) string {
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

// detection computes the metrics of scores against labels.
func detection(scores []float64, rowMSE []float64, labels []string, normal string, th *anomaly.Threshold) (*AnomalyMetrics, []bool, error) {
	y := make([]bool, len(labels))
	var pos int
	var seNorm, seAnom float64
	for i, l := range labels {
		y[i] = l != normal
		if y[i] {
			pos++
			seAnom += rowMSE[i]
		} else {
			seNorm += rowMSE[i]
		}
	}
	if pos == 0 || pos == len(y) {
		return nil, nil, fmt.Errorf("labels hold one class only (%d of %d rows anomalous with normal = %q; labels seen: %s); pass --normal with the label of normal rows and data that has both", pos, len(y), normal, someOf(labels))
	}
	r := &AnomalyMetrics{
		ROCAUC: anomaly.ROCAUC(scores, y), PRAUC: anomaly.AveragePrecision(scores, y),
		PrecisionAtN: anomaly.PrecisionAtN(scores, y, 0), Anomalies: pos, Normal: normal, Score: anomaly.MetricMSE,
		MSENormal: seNorm / float64(len(y)-pos), MSEAnomalous: seAnom / float64(pos),
	}
	if th != nil {
		r.Score = th.Score
		c := anomaly.AtThreshold(scores, y, th.Value)
		v, p, rc, f, far, mar := th.Value, c.Precision(), c.Recall(), c.F1(), c.FAR(), c.MAR()
		r.Threshold, r.Precision, r.Recall, r.F1, r.FAR, r.MAR = &v, &p, &rc, &f, &far, &mar
		r.ThresholdMethod = anomaly.Spec{Method: th.Method, Param: th.Param}.String()
		r.Flagged = c.TP + c.FP
	}
	return r, y, nil
}

// evalDetection adds detection metrics to an eval of a labelled dataset,
// and draws the report when reportDir is set.
func evalDetection(m *ae.Model, ds *dataset.Dataset, normalFlag, reportDir string, batch int, stderr io.Writer) (*AnomalyMetrics, error) {
	if ds.Labels == nil {
		if normalFlag != "" || reportDir != "" {
			return nil, usagef("%s has no labels; pass --label COL (CSV) or data with labels for detection metrics", ds.Source)
		}
		return nil, nil
	}
	normal, ok := normalLabel(normalFlag, ds.Pre, ds.Labels)
	if !ok {
		if reportDir != "" {
			return nil, usagef("cannot tell which label is normal (labels: %s); pass --normal VALUE", someOf(ds.Labels))
		}
		return nil, nil
	}
	sc, err := anomaly.NewScorer(m)
	if err != nil {
		return nil, err
	}
	sc.Batch = batch
	th, err := anomaly.Decode(m.Threshold)
	if err != nil {
		return nil, err
	}
	scores := sc.Score(ds.X)
	mse := scores
	if sc.Metric != anomaly.MetricMSE {
		mse = (&anomaly.Scorer{Model: m, Batch: batch}).Score(ds.X)
	}
	r, y, err := detection(scores, mse, ds.Labels, normal, th)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ds.Source, err)
	}
	if stderr == nil {
		stderr = io.Discard
	}
	if reportDir != "" {
		if err := writeDetectionReport(reportDir, scores, y, th, r); err != nil {
			return nil, err
		}
		fmt.Fprintf(stderr, "wrote %s/{roc,pr,scores}.png and metrics.json\n", reportDir)
	}
	return r, nil
}

func printDetection(w io.Writer, r *AnomalyMetrics) {
	fmt.Fprintf(w, "anomalies %d (label ≠ %q)\nroc_auc   %.4f\npr_auc    %.4f\nprec@n    %.4f\n", r.Anomalies, r.Normal, r.ROCAUC, r.PRAUC, r.PrecisionAtN)
	if r.Threshold != nil {
		fmt.Fprintf(w, "threshold %.6g (%s)\nflagged   %d\nprecision %.4f\nrecall    %.4f\nf1        %.4f\nfar       %.4f\nmar       %.4f\n",
			*r.Threshold, r.ThresholdMethod, r.Flagged, *r.Precision, *r.Recall, *r.F1, *r.FAR, *r.MAR)
	}
}
