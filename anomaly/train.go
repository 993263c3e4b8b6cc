package anomaly

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/nn"
	"github.com/bottleneck-ml/bottleneck/tensor"
	"github.com/bottleneck-ml/bottleneck/train"
)

// TrainOptions configure Train. The zero value trains the default
// architecture for the data, with the default score and threshold.
type TrainOptions struct {
	// Hidden and Code are the dense architecture's widths (nil and 0:
	// DefaultArch of the input width); Variational makes it a VAE.
	// Activation defaults to relu (ImageActivation for a dense
	// autoencoder on images, see ImageDefaults), CodeActivation to identity, and
	// OutputActivation and Loss to sigmoid and bce for data in [0,1],
	// identity and mse otherwise.
	Hidden                                       []int
	Code                                         int
	Variational                                  bool
	Activation, CodeActivation, OutputActivation string
	Loss                                         string
	Dropout                                      float64
	Sparsity                                     string  // activity penalty on the code: "l1:λ" or "kl:ρ:β"
	Likelihood                                   string  // VAE: bernoulli or gaussian
	Beta                                         float64 // VAE: weight of the KL term (0: 1)
	Binarize                                     bool    // VAE: dynamic binarisation of [0,1] inputs
	// Config, when set, is the architecture itself (layer specs); the
	// width fields above are then ignored.
	Config *ae.Config

	Seed  uint64 // weights, split and shuffling
	Batch int    // rows per step (0: 128)
	// Val is the fraction of rows held out for validation and for fitting
	// the threshold (0: 0.1; negative: none, the threshold is fitted on
	// the training rows).
	Val float64
	// Window and Stride make a time-series detector: samples are windows
	// of Window consecutive rows every Stride rows (0: rows on their own).
	Window, Stride int
	// Fit configures the training loop (epochs, learning rate, schedule,
	// early stopping, checkpoint and resume, progress log). Its Seed is
	// Seed. Zero fields take defaults that depend on the data: images
	// ImageDefaults, rows filtered by a normal label NormalEpochs, train's
	// otherwise.
	Fit train.Options

	// Score is the score metric: mahal, mse, nmse or mae (default
	// DefaultMetric for tables and arrays, DefaultImageMetric for images).
	Score string
	// ScoreTrim is the fraction of training rows left out of mahal's
	// covariance refit: 0 is automatic (MahalTrim when the rows may hold
	// anomalies, none when the data was filtered to its normal label),
	// negative is none.
	ScoreTrim float64
	// Threshold is the threshold spec (default DefaultSpec), fitted on the
	// validation rows; f1 also uses Anomalies, labelled anomalous rows
	// preprocessed like ds (e.g. the training file's rows that the normal
	// filter left out).
	Threshold string
	Anomalies *dataset.Dataset

	// Log receives what training does (the model, windows, epochs, the
	// threshold); nil discards it.
	Log io.Writer
}

// The training defaults of a dense (not variational) autoencoder on
// images (pixels in [0,1], a sigmoid output and cross-entropy), chosen on
// MNIST 784-256-64-32 (docs/RESULTS.md, "MNIST, dense autoencoder"). With
// the table defaults (Adam at a constant 1e-3, 20 epochs) the test BCE is
// 0.0856, far from converged; a higher rate annealed to 0 by a cosine gets
// further per epoch, but kills ReLUs (up to 147 of the first layer's 256
// on one seed, BCE 0.081), which the leaky ReLU avoids: 0.0736 ± 0.0002
// over three seeds. Tables keep train's defaults, which the anomaly
// benchmarks were tuned with.
const (
	ImageEpochs     = 50
	ImageLR         = 5e-3
	ImageSchedule   = "cosine"
	ImageActivation = nn.ActLeakyReLU
)

// ImageDefaults fills the zero fields of o (Fit.Epochs, Fit.LR,
// Fit.Schedule, Activation) with the image defaults when o trains a dense
// autoencoder (not a VAE, no Config) on ds's images, and reports whether
// it filled any. Train calls it; a caller that wants to say what it chose
// (the CLI) may call it first.
func ImageDefaults(ds *dataset.Dataset, o *TrainOptions) bool {
	if ds == nil || ds.Pre == nil || ds.Pre.Kind != dataset.KindImage || o.Variational || o.Config != nil {
		return false
	}
	filled := false
	if o.Fit.Epochs <= 0 {
		o.Fit.Epochs, filled = ImageEpochs, true
	}
	if o.Fit.LR <= 0 {
		o.Fit.LR, filled = ImageLR, true
	}
	if o.Fit.Schedule == "" {
		o.Fit.Schedule, filled = ImageSchedule, true
	}
	if o.Activation == "" {
		o.Activation, filled = ImageActivation, true
	}
	return filled
}

// NormalEpochs is the default number of epochs (Fit.Epochs 0) when the
// training rows of a table or array were filtered to their normal label
// (--normal), instead of train's 20 (images keep theirs). Clean rows can be trained longer without learning to
// reconstruct anomalies, and it pays: NSL-KDD KDDTest+ ROC-AUC 0.9561 at
// 20 epochs, 0.9577 at 60, 0.9593 at 100 (5 seeds); on rows that may hold
// anomalies (ODDS, ADBench) longer training does not help or hurts
// (docs/RESULTS.md, "KDD Cup 99"), so they keep 20.
const NormalEpochs = 100

// minThresholdRows is the fewest rows a threshold is fitted on without a
// warning: a median and MAD of fewer scores say little.
const minThresholdRows = 30

// Train fits a detector on ds: an autoencoder trained on its rows (or
// windows), the score statistics of the training rows, and a threshold
// fitted on held-out rows. It is what `bottleneck train` does for data
// without --task. The model's training record says how it went
// (d.Model().Training).
func Train(ctx context.Context, ds *dataset.Dataset, o TrainOptions) (*Detector, error) {
	if ds == nil || ds.Len() == 0 {
		return nil, errors.New("anomaly: no training rows; check the data file and the --normal filter")
	}
	if o.Window <= 0 && ImageDefaults(ds, &o) {
		logf(o.Log, "image defaults: %d epochs, lr %g, schedule %s, activation %s\n", o.Fit.Epochs, o.Fit.LR, o.Fit.Schedule, o.Activation)
	}
	spec, err := ParseSpec(orDefault(o.Threshold, DefaultSpec))
	if err != nil {
		return nil, err
	}
	normal := ""
	if ds.Pre != nil {
		normal = ds.Pre.Normal
	}
	window := 1
	if o.Window > 0 {
		if ds.Pre != nil && ds.Pre.Kind == dataset.KindImage {
			return nil, errors.New("anomaly: windows are for time series in CSV/NPY files, not images")
		}
		window = o.Window
		if ds, err = windowDataset(ds, o.Window, max(o.Stride, 1), normal); err != nil {
			return nil, err
		}
		logf(o.Log, "windows: %d of %d rows every %d rows → %d samples × %d values\n", ds.Len(), o.Window, max(o.Stride, 1), ds.Len(), ds.Dim())
	}
	cfg, err := o.config(ds)
	if err != nil {
		return nil, err
	}
	m, err := ae.New(cfg, o.Seed)
	if err != nil {
		return nil, err
	}
	m.Preprocess = ds.Pre
	trainDS, valDS := ds, (*dataset.Dataset)(nil)
	val := o.Val
	if val == 0 {
		val = 0.1
	}
	if val >= 1 {
		return nil, fmt.Errorf("anomaly: validation fraction %v must be below 1", val)
	}
	if val > 0 {
		trainDS, valDS = dataset.Split(ds, val, o.Seed)
	}
	batch := o.Batch
	if batch <= 0 {
		batch = 128
	}
	batch = min(batch, trainDS.Len())
	fit := o.Fit
	fit.Seed = o.Seed
	if fit.Log == nil {
		fit.Log = o.Log
	}
	if fit.Epochs <= 0 && normal != "" && ds.Pre != nil && ds.Pre.Kind != dataset.KindImage {
		fit.Epochs = NormalEpochs
		logf(o.Log, "epochs: %d (rows filtered to label %q: clean rows train longer by default)\n", fit.Epochs, normal)
	}
	tr := train.NewRows(trainDS, train.RowsOptions{Batch: batch, Seed: o.Seed})
	var vs train.Source
	if valDS != nil && valDS.Len() > 0 {
		vs = train.NewRows(valDS, train.RowsOptions{Batch: batch, Ordered: true})
	}
	logf(o.Log, "model: %s, %s, %d parameters\n", cfg.Summary(), objective(cfg), m.NumParams())
	if _, err := train.Fit(ctx, m, tr, vs, fit); err != nil {
		return nil, err
	}
	d := &Detector{model: m, pre: ds.Pre, window: window}
	d.pool = newPool()
	co := CalibrateOptions{Score: o.Score, ScoreTrim: o.ScoreTrim, Anomalies: o.Anomalies, Log: o.Log}
	if err := d.fitThreshold(ds, trainDS, valDS, spec, normal, co); err != nil {
		return nil, err
	}
	if err := d.setup(); err != nil {
		return nil, err
	}
	d.pool = newPool()
	return d, nil
}

// CalibrateOptions configure Calibrate; the fields mean what TrainOptions'
// fields of the same names do. The zero value fits the default score on
// nine tenths of the rows and the default threshold on the other tenth.
type CalibrateOptions struct {
	Score     string  // mahal, mse, nmse or mae ("": the default for the data)
	ScoreTrim float64 // mahal's covariance refit (0: automatic)
	Threshold string  // threshold spec ("": DefaultSpec)
	// Val is the fraction of rows held out for the threshold (0: 0.1;
	// negative: none, the threshold is fitted on the statistics' rows).
	Val       float64
	Seed      uint64           // the split
	Anomalies *dataset.Dataset // labelled anomalous rows for f1
	Log       io.Writer        // where the threshold is reported; nil discards it
}

// Calibrate makes a detector of a model trained elsewhere, without
// changing its weights: the model takes ds's preprocessing (ds.Pre), the
// score statistics are fitted on ds's rows and the threshold on rows held
// out from them, as Train does after training. It is how a model imported
// from another framework comes to score, serve and stream. ds must hold
// samples of the model's input size; m becomes the detector's (do not run
// it afterwards; Clone it).
func Calibrate(m *ae.Model, ds *dataset.Dataset, o CalibrateOptions) (*Detector, error) {
	if m == nil {
		return nil, errors.New("anomaly: no model")
	}
	if ds == nil || ds.Len() == 0 {
		return nil, errors.New("anomaly: no rows to calibrate on; check the data file and the --normal filter")
	}
	in := m.Config.Input
	if in == nil {
		return nil, errors.New("anomaly: a model of any image size scores pictures by their mean squared error and has no statistics to fit; give it a threshold with WithThreshold")
	}
	if ds.Dim() != tensor.Size(in) {
		return nil, fmt.Errorf("anomaly: %s has %d values per row after preprocessing, the model takes %d (shape %v); pass data laid out like the model's training data", ds.Source, ds.Dim(), tensor.Size(in), in)
	}
	spec, err := ParseSpec(orDefault(o.Threshold, DefaultSpec))
	if err != nil {
		return nil, err
	}
	if o.Val >= 1 {
		return nil, fmt.Errorf("anomaly: validation fraction %v must be below 1", o.Val)
	}
	ds = &dataset.Dataset{X: tensor.From(ds.X.Data, append([]int{ds.Len()}, in...)...), Shape: slices.Clone(in),
		Labels: ds.Labels, Features: ds.Features, Pre: ds.Pre, Source: ds.Source}
	trainDS, valDS := ds, (*dataset.Dataset)(nil)
	val := o.Val
	if val == 0 {
		val = 0.1
	}
	if val > 0 && ds.Len() > 1 {
		trainDS, valDS = dataset.Split(ds, val, o.Seed)
	}
	normal := ""
	if ds.Pre != nil {
		normal = ds.Pre.Normal
	}
	m.Preprocess = ds.Pre
	d := &Detector{model: m, pre: ds.Pre, window: 1, pool: newPool()}
	if err := d.fitThreshold(ds, trainDS, valDS, spec, normal, o); err != nil {
		return nil, err
	}
	if err := d.setup(); err != nil {
		return nil, err
	}
	d.pool = newPool()
	return d, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

// objective describes a config's output and loss for the log.
func objective(c ae.Config) string {
	if c.Variational {
		return fmt.Sprintf("%s likelihood, β %g", c.Likelihood, c.Beta)
	}
	return c.Loss + " loss"
}

// config builds the architecture for the dataset.
func (o *TrainOptions) config(ds *dataset.Dataset) (ae.Config, error) {
	if o.Config != nil {
		return *o.Config, nil
	}
	hidden, code := DefaultArch(ds.Dim())
	if o.Hidden != nil {
		hidden = o.Hidden
	}
	if o.Code > 0 {
		code = o.Code
	}
	unit := ds.Pre != nil && ds.Pre.OutputInUnitRange()
	cfg, err := ae.DenseConfig(ds.Shape, unit, ae.Dense{
		Hidden: hidden, Code: code, Activation: o.Activation, CodeActivation: o.CodeActivation,
		Output: o.OutputActivation, Dropout: o.Dropout, Variational: o.Variational, Likelihood: o.Likelihood, Loss: o.Loss,
	})
	if err != nil {
		return cfg, err
	}
	cfg.Sparsity = o.Sparsity
	if o.Variational {
		if o.Beta > 0 {
			cfg.Beta = o.Beta
		}
		cfg.Binarize = o.Binarize
	}
	return cfg, cfg.Validate()
}

// fitThreshold fits the score statistics (on all rows for mahal when the
// rows may hold anomalies, else on the training rows) and the threshold on
// the validation rows (the training rows when there are none). For f1 the
// labelled anomalies are the validation rows' own anomalous labels and
// o.Anomalies.
func (d *Detector) fitThreshold(all, trainDS, valDS *dataset.Dataset, spec Spec, normal string, o CalibrateOptions) error {
	rows, fittedOn := valDS, "validation rows"
	if rows == nil || rows.Len() == 0 {
		rows, fittedOn = trainDS, "training rows"
	}
	if rows.Len() < minThresholdRows {
		logf(o.Log, "warning: the threshold is fitted on only %d %s; it will be unreliable. Train on more rows or raise --val\n", rows.Len(), fittedOn)
	}
	metric := o.Score
	if metric == "" {
		metric = DefaultMetric
		if all.Pre != nil && all.Pre.Kind == dataset.KindImage {
			metric = DefaultImageMetric
		}
	}
	s, err := newScorer(d.model, &d.scoring, 256, all.Shape)
	if err != nil {
		return err
	}
	d.scoring = Scoring{Metric: MetricMSE}
	s.sc = &d.scoring
	switch metric {
	case MetricMSE, MetricMAE:
	case MetricNMSE:
		if d.scoring.FeatureScale, err = fitScale(s, trainDS.X); err != nil {
			return err
		}
	case MetricMahal:
		trim := o.ScoreTrim
		switch {
		case trim == 0 && normal != "":
			trim = 0 // rows chosen by their normal label are clean
		case trim == 0:
			trim = MahalTrim
		case trim < 0:
			trim = 0
		}
		if trim >= 0.9 {
			return fmt.Errorf("anomaly: score trim %v: leave out less than 0.9 of the rows", trim)
		}
		// Rows that may hold anomalies: the statistics are fitted on
		// every row, the validation rows included. The model never
		// trained on those, so they are the part of the sample whose
		// codes and errors look like the rows it will score, and a
		// covariance of 10 % more rows is steadier (ADBench 28-set mean
		// 0.8014 → 0.8037 with the OAS shrinkage). Rows known to be clean
		// (a normal label) keep the validation rows out, so that the
		// threshold is fitted on scores the statistics have not seen: in
		// sample they read low and the threshold flags more normal rows
		// (SKAB, mad:3.5: F1 0.7655 → 0.7476, false alarms 28.7 → 33.0 %).
		// docs/RESULTS.md, "Choosing the defaults".
		statRows := trainDS
		if normal == "" {
			statRows = all
		}
		if d.scoring.Mahal, err = fitMahal(s, statRows.X, trim); err != nil {
			return err
		}
	default:
		return fmt.Errorf("anomaly: score %q; want %s", metric, MetricNames)
	}
	d.scoring.Metric = metric
	var scores, mses []float64
	err = s.run(rows.X, func(_ int, _ []float32, score, mse float64) {
		scores = append(scores, score)
		mses = append(mses, mse)
	})
	if err != nil {
		return err
	}
	// labelled rows for f1 and for the validation metrics: the rows'
	// own labels and the anomalous rows a normal filter kept out
	var y []bool
	var anomScores, anomMSE []float64
	if normal != "" && rows.Labels != nil {
		y = make([]bool, rows.Len())
		isNormal := dataset.NormalMatch(normal)
		for i, l := range rows.Labels {
			y[i] = !isNormal(l)
		}
		if a := o.Anomalies; a != nil && a.Len() > 0 {
			err := s.run(a.X, func(_ int, _ []float32, score, mse float64) {
				anomScores = append(anomScores, score)
				anomMSE = append(anomMSE, mse)
			})
			if err != nil {
				return err
			}
		}
	}
	var labels []bool
	if spec.Method == MethodFAR && y != nil {
		labels = y // rows chosen by their normal label: far need not guess which are anomalies
	}
	if spec.Method == MethodF1 {
		if y == nil {
			return errors.New("anomaly: threshold f1 needs labelled data: pass --label COL (CSV) and --normal VALUE, the label of normal rows")
		}
		labels = slices.Clone(y)
		if len(anomScores) > 0 {
			scores = append(scores, anomScores...)
			mses = append(mses, anomMSE...)
			for range anomScores {
				labels = append(labels, true)
			}
			fittedOn = fmt.Sprintf("validation rows + %d anomalous rows of the training file", len(anomScores))
		}
	}
	th, err := Fit(spec, scores, labels, fittedOn)
	if err != nil {
		return err
	}
	th.Score = metric
	d.threshold = th
	logf(o.Log, "threshold: %s\n", th.Describe())
	if y != nil {
		if spec.Method != MethodF1 {
			scores, mses = append(scores, anomScores...), append(mses, anomMSE...)
			for range anomScores {
				y = append(y, true)
			}
		} else {
			y = labels
		}
		if v := measure(scores, mses, y, normal, th); v != nil {
			d.validation = v
			logf(o.Log, "validation: ROC-AUC %.4f, average precision %.4f; at the threshold precision %.3f, recall %.3f (%d normal rows, %d anomalous)\n",
				v.ROCAUC, v.PRAUC, *v.Precision, *v.Recall, v.NormalRows, v.Anomalies)
		}
	}
	return nil
}
