package cli

import (
	"fmt"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
)

// thresholdSpec parses train's --threshold ("" is the default).
func thresholdSpec(s string) (anomaly.Spec, error) {
	if s == "" {
		s = anomaly.DefaultSpec
	}
	sp, err := anomaly.ParseSpec(s)
	if err != nil {
		return sp, usageError{fmt.Errorf("--threshold: %w", err)}
	}
	return sp, nil
}

// autoArch fills the architecture left to the defaults (--hidden auto,
// --code 0) from the input width.
func autoArch(o *trainOptions, hidden []int, d int) ([]int, int) {
	h, c := anomaly.DefaultArch(d)
	if hidden == nil {
		hidden = h
	}
	code := o.code
	if code <= 0 {
		code = c
	}
	return hidden, code
}

// minThresholdRows is the fewest rows a threshold is fitted on without a
// warning: a median and MAD of fewer scores say little.
const minThresholdRows = 30

// fitThreshold scores the held-out validation rows (the training rows when
// there are none) and stores the threshold asked for by --threshold in the
// model. For f1 the labelled anomalies come from the training file's rows
// that --normal left out, or from the validation rows' own labels.
func fitThreshold(o *trainOptions, m *ae.Model, all, trainDS, valDS *dataset.Dataset, logf func(string, ...any)) error {
	spec, err := thresholdSpec(o.threshold)
	if err != nil {
		return err
	}
	rows, fittedOn := valDS, "validation rows"
	if rows == nil || rows.Len() == 0 {
		rows, fittedOn = trainDS, "training rows"
	}
	if rows.Len() < minThresholdRows {
		logf("warning: the threshold is fitted on only %d %s; it will be unreliable. Train on more rows or raise --val\n", rows.Len(), fittedOn)
	}
	metric := o.score
	if metric == "" {
		metric = anomaly.DefaultMetric
		if all.Pre != nil && all.Pre.Kind == dataset.KindImage {
			metric = anomaly.DefaultImageMetric
		}
	}
	sc := &anomaly.Scorer{Model: m, Metric: metric}
	switch metric {
	case anomaly.MetricMSE, anomaly.MetricMAE:
	case anomaly.MetricNMSE:
		sc.FitScale(trainDS.X)
	case anomaly.MetricMahal:
		// Rows chosen by --normal are clean; all rows may hold anomalies.
		trim := o.scoreTrim
		if trim < 0 {
			trim = anomaly.MahalTrim
			if o.data.normal != "" {
				trim = 0
			}
		}
		if trim >= 0.9 {
			return usagef("--score-trim %v: leave out less than 0.9 of the rows", trim)
		}
		sc.FitMahal(trainDS.X, trim)
	default:
		return usagef("--score %q: want %s", metric, anomaly.Metrics)
	}
	scores := sc.Score(rows.X)
	var labels []bool
	if spec.Method == anomaly.MethodF1 {
		normal := o.data.normal
		if normal == "" || all.Labels == nil {
			return usagef("--threshold f1 needs labelled data: pass --label COL (CSV) and --normal VALUE, the label of normal rows")
		}
		labels = make([]bool, rows.Len())
		for i, l := range rows.Labels {
			labels[i] = l != normal
		}
		// Rows filtered out by --normal were never trained on: they are
		// the labelled anomalies to choose the threshold with.
		opt, err := o.data.options()
		if err != nil {
			return err
		}
		opt.Normal = ""
		full, err := dataset.LoadWith(o.data.path, all.Pre, opt)
		if err != nil {
			return err
		}
		var idx []int
		for i, l := range full.Labels {
			if l != normal {
				idx = append(idx, i)
			}
		}
		if len(idx) > 0 {
			scores = append(scores, sc.Score(full.Subset(idx).X)...)
			for range idx {
				labels = append(labels, true)
			}
			fittedOn = fmt.Sprintf("validation rows + %d anomalous rows of the training file", len(idx))
		}
	}
	th, err := anomaly.Fit(spec, scores, labels, fittedOn)
	if err != nil {
		return err
	}
	th.Score, th.FeatureScale, th.Mahal = metric, sc.Scale, sc.Mahal
	m.Threshold = th.Marshal()
	logf("threshold: %s\n", th.Describe())
	return nil
}
