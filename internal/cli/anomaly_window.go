package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/pflag"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/internal/atomicfile"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// windowFlags turn a time series (one row per time step, in file order)
// into sliding windows of N consecutive rows, each flattened into one
// sample of N×D values.
type windowFlags struct {
	size   int
	stride int
}

func (w *windowFlags) add(fs *pflag.FlagSet) {
	fs.IntVar(&w.size, "window", 0, "time series: score sliding windows of this many consecutive rows (0 = rows on their own)")
	fs.IntVar(&w.stride, "stride", 1, "time series: rows between the starts of consecutive windows")
}

func (w *windowFlags) on() bool { return w.size > 0 }

func (w *windowFlags) check() error {
	if w.size < 0 {
		return usagef("--window %d must be 0 (off) or more", w.size)
	}
	if w.on() && w.stride < 1 {
		return usagef("--stride %d must be at least 1", w.stride)
	}
	return nil
}

// windowed turns ds (T rows × D) into windows of size rows every stride
// rows: a (W × size·D) dataset and the first row of each window. A window
// is labelled with the first label in it that differs from normal, else
// with normal (so a window holding any anomalous step is anomalous). The
// last window is aligned to the end so every row is covered.
func windowed(ds *dataset.Dataset, size, stride int, normal string) (*dataset.Dataset, []int, error) {
	t, d := ds.Len(), ds.Dim()
	if t < size {
		return nil, nil, fmt.Errorf("%s: %d rows, fewer than one window of %d; pass a smaller --window or more data", ds.Source, t, size)
	}
	var starts []int
	for s := 0; s+size <= t; s += stride {
		starts = append(starts, s)
	}
	if last := t - size; starts[len(starts)-1] != last {
		starts = append(starts, last)
	}
	x := tensor.New(len(starts), size*d)
	var labels []string
	if ds.Labels != nil {
		labels = make([]string, len(starts))
	}
	for k, s := range starts {
		copy(x.Row(k), ds.X.Data[s*d:(s+size)*d])
		if labels != nil {
			labels[k] = normal
			for _, l := range ds.Labels[s : s+size] {
				if l != normal {
					labels[k] = l
					break
				}
			}
		}
	}
	feats := make([]string, 0, size*d)
	for i := 0; i < size; i++ {
		for _, f := range ds.Features {
			feats = append(feats, "t"+strconv.Itoa(i)+":"+f)
		}
	}
	return &dataset.Dataset{X: x, Shape: []int{size * d}, Labels: labels, Features: feats, Pre: ds.Pre, Source: ds.Source, Warnings: ds.Warnings}, starts, nil
}

// pointScores spreads window scores (and per-feature errors, windows ×
// size·D) back onto the t rows: each row gets the mean score of the
// windows that cover it, and the mean of its own errors across them (t × D).
func pointScores(t, d, size int, starts []int, scores []float64, errs *tensor.Tensor) ([]float64, *tensor.Tensor) {
	sum := make([]float64, t)
	cnt := make([]int, t)
	var perr *tensor.Tensor
	if errs != nil {
		perr = tensor.New(t, d)
	}
	for k, s := range starts {
		for i := 0; i < size; i++ {
			sum[s+i] += scores[k]
			cnt[s+i]++
			if perr != nil {
				dst := perr.Row(s + i)
				src := errs.Row(k)[i*d : (i+1)*d]
				for j := range dst {
					dst[j] += src[j]
				}
			}
		}
	}
	for r := range sum {
		if cnt[r] > 0 {
			sum[r] /= float64(cnt[r])
			if perr != nil {
				for j := range perr.Row(r) {
					perr.Row(r)[j] /= float32(cnt[r])
				}
			}
		}
	}
	return sum, perr
}

// modelWindow is the window length a model was trained with: its input
// width over the preprocessed row width (1 for row models).
func modelWindow(m *ae.Model, pre *dataset.Preprocessor) (int, error) {
	in, d := m.Config.Input(), pre.Dim()
	if d <= 0 || in%d != 0 {
		return 0, fmt.Errorf("model input width %d is not a multiple of the row width %d; the model file is inconsistent", in, d)
	}
	return in / d, nil
}

// loadSeries reads data for a windowed model: rows preprocessed by the
// model, then the model's window (and --window must agree when given).
func loadSeries(m *ae.Model, d *dataFlags, w *windowFlags) (rows *dataset.Dataset, size int, err error) {
	pre, err := preprocessor(m)
	if err != nil {
		return nil, 0, err
	}
	size, err = modelWindow(m, pre)
	if err != nil {
		return nil, 0, err
	}
	if w.on() && w.size != size {
		return nil, 0, usagef("--window %d: the model was trained on windows of %d rows; pass --window %d", w.size, size, size)
	}
	opt, err := d.options()
	if err != nil {
		return nil, 0, err
	}
	rows, err = dataset.LoadWith(d.path, pre, opt)
	if err != nil {
		return nil, 0, err
	}
	if d.warn != nil {
		for _, s := range rows.Warnings {
			fmt.Fprintf(d.warn, "warning: %s\n", s)
		}
	}
	return rows, size, nil
}

// scoreSeries scores every row of a time series with a windowed model:
// windows every stride rows, per-point scores and errors from the windows
// covering each row.
func scoreSeries(m *ae.Model, rows *dataset.Dataset, size, stride, top, batch int, override string) (*scored, error) {
	win, starts, err := windowed(rows, size, stride, "")
	if err != nil {
		return nil, err
	}
	win.Labels = nil
	sc, err := anomaly.NewScorer(m)
	if err != nil {
		return nil, err
	}
	sc.Batch = batch
	ws, werrs := sc.Errors(win.X)
	scores, perr := pointScores(rows.Len(), rows.Dim(), size, starts, ws, werrs)
	th, err := anomaly.Decode(m.Threshold)
	if err != nil {
		return nil, err
	}
	if override != "" {
		sp, err := anomaly.ParseSpec(override)
		if err != nil {
			return nil, usageError{fmt.Errorf("--threshold: %w", err)}
		}
		if sp.Method != anomaly.MethodValue && sp.Method != anomaly.MethodContamination {
			return nil, usagef("--threshold %s: scoring can override with value:X or contamination:P", override)
		}
		if th, err = anomaly.Fit(sp, scores, nil, "scored rows"); err != nil {
			return nil, err
		}
	}
	if th == nil {
		return nil, fmt.Errorf("the model has no anomaly threshold; retrain it, or pass --threshold value:X")
	}
	groups := anomaly.Groups(rows.Pre)
	res := &scored{scores: scores, flags: make([]bool, len(scores)), labels: rows.Labels, th: th}
	if top > 0 {
		res.top = make([][]anomaly.Contribution, len(scores))
	}
	for i, s := range scores {
		res.flags[i] = th.IsAnomaly(s)
		if top > 0 {
			res.top[i] = anomaly.Attribute(perr.Row(i), groups, top)
		}
	}
	return res, nil
}

func runScoreWindows(o *scoreOptions, m *ae.Model, stdout, stderr io.Writer) error {
	if err := o.window.check(); err != nil {
		return err
	}
	rows, size, err := loadSeries(m, &o.data, &o.window)
	if err != nil {
		return err
	}
	res, err := scoreSeries(m, rows, size, o.window.stride, o.top, max(1, o.batch), o.threshold)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "scored %d time steps with windows of %d (stride %d) at %s\n", len(res.scores), size, o.window.stride, res.th.Describe())
	write := func(w io.Writer) error { return writeScores(w, res, o.top) }
	if o.output == "" {
		return write(stdout)
	}
	return atomicfile.WriteFile(o.output, write, 0o644)
}

// trainWindows turns the training rows into windows when --window is set.
func trainWindows(o *trainOptions, ds *dataset.Dataset, logf func(string, ...any)) (*dataset.Dataset, error) {
	if err := o.window.check(); err != nil {
		return nil, err
	}
	if !o.window.on() {
		return ds, nil
	}
	if ds.Pre.Kind == dataset.KindImage {
		return nil, usagef("--window is for time series in CSV/NPY files, not images")
	}
	win, _, err := windowed(ds, o.window.size, o.window.stride, o.data.normal)
	if err != nil {
		return nil, err
	}
	logf("windows: %d of %d rows every %d rows → %d samples × %d values\n", win.Len(), o.window.size, o.window.stride, win.Len(), win.Dim())
	return win, nil
}

// evalSeries evaluates a windowed model per time step; done is false for
// row models (eval goes on as usual).
func evalSeries(o *evalOptions, m *ae.Model, normal string, stdout io.Writer) (done bool, err error) {
	pre, err := preprocessor(m)
	if err != nil {
		return false, nil
	}
	size, err := modelWindow(m, pre)
	if err != nil || size <= 1 {
		return false, nil
	}
	rows, _, err := loadSeries(m, &o.data, &windowFlags{})
	if err != nil {
		return true, err
	}
	res, err := scoreSeries(m, rows, size, 1, 0, max(1, o.batch), "")
	if err != nil {
		return true, err
	}
	out := EvalResult{Rows: rows.Len(), Features: rows.Dim()}
	mse := res.scores
	if res.th.Score != anomaly.MetricMSE {
		// The per-point mean squared error, for the mse keys.
		win, starts, err := windowed(rows, size, 1, "")
		if err != nil {
			return true, err
		}
		ws := (&anomaly.Scorer{Model: m, Batch: max(1, o.batch)}).Score(win.X)
		mse, _ = pointScores(rows.Len(), rows.Dim(), size, starts, ws, nil)
	}
	for _, s := range mse {
		out.MSE += s / float64(len(mse))
	}
	if rows.Labels != nil {
		nl, ok := normalLabel(normal, pre, rows.Labels)
		if !ok {
			return true, usagef("cannot tell which label is normal (labels: %s); pass --normal VALUE", someOf(rows.Labels))
		}
		det, y, err := detection(res.scores, mse, rows.Labels, nl, res.th)
		if err != nil {
			return true, fmt.Errorf("%s: %w", o.data.path, err)
		}
		out.AnomalyMetrics = det
		if o.report != "" {
			if err := writeDetectionReport(o.report, res.scores, y, res.th, det); err != nil {
				return true, err
			}
		}
	}
	if o.json {
		b, err := json.Marshal(out)
		if err != nil {
			return true, err
		}
		fmt.Fprintln(stdout, string(b))
		return true, nil
	}
	fmt.Fprintf(stdout, "rows      %d (time steps, windows of %d)\nfeatures  %d\nmse       %.6f\n", out.Rows, size, out.Features, out.MSE)
	if out.AnomalyMetrics != nil {
		printDetection(stdout, out.AnomalyMetrics)
	}
	return true, nil
}
