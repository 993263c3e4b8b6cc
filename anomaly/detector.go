package anomaly

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"slices"
	"sync"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/imagetask"
	"github.com/bottleneck-ml/bottleneck/tensor"
	"github.com/bottleneck-ml/bottleneck/zoo"
)

// Detector is a trained autoencoder with everything that turns it into an
// anomaly detector, kept together so that they cannot drift apart: the
// preprocessing of raw records, the score metric with the statistics it
// was fitted with, the threshold, and the window length of a time-series
// detector. It is what `bottleneck train` writes and `score`, `eval`,
// `serve` and `stream` read.
//
// A Detector is safe for concurrent use by many goroutines: every call
// runs on a copy of the model taken from an internal pool.
type Detector struct {
	model     *ae.Model // never run; workers clone it
	pre       *dataset.Preprocessor
	scoring   Scoring
	threshold *Threshold // nil: the model carries none
	// validation measures the detector on labelled held-out rows when
	// training had labels (nil otherwise)
	validation *Metrics
	window     int   // rows per window; 1 for row models
	rowShape   []int // per-sample shape the model scores
	groups     []Group
	version    string
	pool       *sync.Pool // of *worker, shared by copies made by WithThreshold
}

type worker struct {
	m       *ae.Model
	scorers map[int]*scorer // by batch size
}

// Result is the verdict on one row (or time step, or image).
type Result struct {
	Score   float64        `json:"score"`
	Anomaly bool           `json:"anomaly"`
	Top     []Contribution `json:"top,omitempty"`
	// MSE is the mean squared reconstruction error (in the model's
	// preprocessed space), whatever the score metric.
	MSE float64 `json:"-"`
	// Errors are the per-feature errors the score was made of (per pixel
	// and channel for images: a heat-map), with ScoreOptions.Errors.
	Errors []float32 `json:"-"`
}

// section is the detector's part of the model file.
type section struct {
	Scoring
	Threshold *Threshold `json:"threshold"`
	Window    int        `json:"window"`
	// Validation is the detector measured on held-out labelled rows at
	// training (absent without labels, and in older files).
	Validation *Metrics `json:"validation,omitempty"`
}

// metaKey is the model-file section of a detector; the first release wrote
// its threshold (with the score statistics inside) under "threshold".
const (
	metaKey       = "detector"
	metaKeyLegacy = "threshold"
)

// New makes a detector of a model and the detector section of its file
// (written by Train or the first release's `train`). A model without one —
// an image autoencoder, a shipped model — scores by mean squared error and
// has no threshold until WithThreshold gives it one.
func New(m *ae.Model) (*Detector, error) {
	if m == nil {
		return nil, errors.New("anomaly: no model")
	}
	d := &Detector{model: m, pre: m.Preprocess, scoring: Scoring{Metric: MetricMSE}, window: 1, pool: newPool()}
	if raw, ok := m.Meta[metaKey]; ok {
		var s section
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("anomaly: the model's detector record is damaged (%v); retrain it", err)
		}
		d.scoring, d.threshold, d.window, d.validation = s.Scoring, s.Threshold, max(s.Window, 1), s.Validation
	} else if raw, ok := m.Meta[metaKeyLegacy]; ok {
		// one object holding the threshold and the score statistics
		var t Threshold
		var sc Scoring
		if err := json.Unmarshal(raw, &t); err != nil {
			return nil, fmt.Errorf("anomaly: the model's threshold record is damaged (%v); retrain it", err)
		}
		if err := json.Unmarshal(raw, &sc); err != nil {
			return nil, fmt.Errorf("anomaly: the model's threshold record is damaged (%v); retrain it", err)
		}
		if sc.Metric == "" {
			sc.Metric = MetricMSE
		}
		t.Score = sc.Metric
		d.scoring, d.threshold = sc, &t
		// the first release did not store the window: it is the model's
		// input over the row width
		if d.pre != nil && d.pre.Dim() > 0 && m.Config.Input != nil {
			if in := tensor.Size(m.Config.Input); in%d.pre.Dim() == 0 {
				d.window = in / d.pre.Dim()
			}
		}
	}
	if d.threshold != nil {
		if math.IsNaN(d.threshold.Value) {
			return nil, errors.New("anomaly: the model's threshold is NaN; retrain it")
		}
		d.threshold.Score = d.scoring.Metric
	}
	if err := d.setup(); err != nil {
		return nil, err
	}
	return d, nil
}

// setup derives the row shape, attribution groups and version, and checks
// the score statistics against the model.
func (d *Detector) setup() error {
	m := d.model
	switch {
	case m.Config.Input == nil:
		d.rowShape = nil // pictures of any size
	case d.window > 1:
		if d.pre == nil || d.pre.Dim()*d.window != tensor.Size(m.Config.Input) {
			return fmt.Errorf("anomaly: the model reads windows of %d rows, which does not fit its %v input; the file is damaged", d.window, m.Config.Input)
		}
		d.rowShape = slices.Clone(m.Config.Input)
	default:
		d.rowShape = slices.Clone(m.Config.Input)
		if d.pre != nil && d.pre.Dim() != tensor.Size(m.Config.Input) {
			return fmt.Errorf("anomaly: the model's preprocessing gives %d values per row and the model takes %d; the file is damaged", d.pre.Dim(), tensor.Size(m.Config.Input))
		}
	}
	if d.rowShape != nil {
		cs, err := m.CodeShape(nil)
		if err != nil {
			return err
		}
		out, err := m.OutShape(d.rowShape)
		if err != nil {
			return err
		}
		if tensor.Size(out) != tensor.Size(d.rowShape) {
			return fmt.Errorf("anomaly: the model maps %v to %v; anomaly scores need an autoencoder that reconstructs its input", d.rowShape, out)
		}
		if err := d.scoring.check(tensor.Size(d.rowShape), tensor.Size(cs)); err != nil {
			return err
		}
		// a window's errors are spread back onto its time steps before
		// they are attributed: the groups are those of one row
		d.groups = Groups(d.pre, tensor.Size(d.rowShape)/d.window)
	} else if d.scoring.Metric != MetricMSE && d.scoring.Metric != MetricMAE {
		return fmt.Errorf("anomaly: score %s needs a model with a fixed input size", d.scoring.Metric)
	}
	d.version = d.hash()
	return nil
}

func (d *Detector) section() section {
	return section{Scoring: d.scoring, Threshold: d.threshold, Window: d.window, Validation: d.validation}
}

// hash is the detector's version: the detector's own section, as Save
// writes it, stands in for the file's, so that a detector keeps its
// version through Save and Open.
func (d *Detector) hash() string {
	sec, _ := json.Marshal(d.section())
	return version(d.model, sec)
}

// version is the first 12 hex digits of the SHA-256 of a model's weights,
// statistics and metadata, with sec as its detector section.
func version(m *ae.Model, sec []byte) string {
	h := sha256.New()
	var b [4]byte
	write := func(ws []float32) {
		for _, w := range ws {
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(w))
			h.Write(b[:])
		}
	}
	write(m.Params.W)
	for _, p := range m.Buffers {
		write(p.W)
	}
	cfg, _ := json.Marshal(m.Config)
	h.Write(cfg)
	pre, _ := json.Marshal(m.Preprocess)
	h.Write(pre)
	meta := make(map[string][]byte, len(m.Meta)+1)
	for k, v := range m.Meta {
		if k != metaKeyLegacy {
			meta[k] = v
		}
	}
	meta[metaKey] = sec
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write(meta[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// Open reads a detector from a model file, or a shipped model by name
// (see package zoo) when no file of that name exists.
func Open(path string) (*Detector, error) {
	m, err := openModel(path)
	if err != nil {
		return nil, err
	}
	d, err := New(m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// openModel opens a model file or, when there is no such file, a shipped
// model of that name.
func openModel(path string) (*ae.Model, error) {
	if path == "" {
		return nil, errors.New("anomaly: no model file named; pass a model file written by 'bottleneck train' or a shipped model's name")
	}
	_, statErr := os.Stat(path)
	if statErr == nil || !errors.Is(statErr, fs.ErrNotExist) {
		return ae.Open(path)
	}
	m, err := zoo.Open(path)
	if errors.Is(err, zoo.ErrUnknown) {
		return nil, fmt.Errorf("model %s: no such file, and no shipped model of that name (%v); see 'bottleneck models'", path, zoo.Names())
	}
	return m, err
}

// Save writes the detector's model file atomically: the weights with the
// preprocessing, score statistics, threshold and window.
func (d *Detector) Save(path string) error {
	meta, err := d.Meta()
	if err != nil {
		return fmt.Errorf("anomaly: save %s: %w", path, err)
	}
	// save a copy: setting the detector's own model's Meta would race with
	// a Score cloning it
	c := d.model.Clone()
	c.Meta = meta
	return c.Save(path)
}

// Meta returns the metadata sections Save writes into the model file (a
// new map): the model's own, and the detector's score statistics,
// threshold and window. A model whose Meta is set to them opens as this
// detector (New), which is how an exported model file comes back.
func (d *Detector) Meta() (map[string]json.RawMessage, error) {
	m := d.model
	raw, err := json.Marshal(d.section())
	if err != nil {
		return nil, err
	}
	meta := make(map[string]json.RawMessage, len(m.Meta)+1)
	for k, v := range m.Meta {
		if k != metaKeyLegacy {
			meta[k] = v
		}
	}
	meta[metaKey] = raw
	return meta, nil
}

// Model is the detector's model. Do not run it: it may not be used
// concurrently with the detector's own copies; Clone it instead.
func (d *Detector) Model() *ae.Model { return d.model }

// Preprocessor is how raw records become model input (nil for models that
// read pixels or arrays as they are).
func (d *Detector) Preprocessor() *dataset.Preprocessor { return d.pre }

// Validation is the detector measured on labelled rows held out from
// training (the validation rows and the rows a normal filter kept out),
// at its threshold: nil when training had no labels.
func (d *Detector) Validation() *Metrics {
	if d.validation == nil {
		return nil
	}
	v := *d.validation
	return &v
}

// Threshold is a copy of the decision threshold, or nil when the detector
// has none.
func (d *Detector) Threshold() *Threshold {
	if d.threshold == nil {
		return nil
	}
	t := *d.threshold
	return &t
}

// Scoring is the score metric and its statistics.
func (d *Detector) Scoring() Scoring { return d.scoring }

// Window is the number of consecutive rows a time-series detector reads as
// one sample (1 for row detectors).
func (d *Detector) Window() int { return d.window }

// Version identifies the model: 12 hex digits of a hash of its weights and
// metadata.
func (d *Detector) Version() string { return d.version }

// WithThreshold returns a copy of the detector that decides by t (sharing
// the model and its pool); the score metric stays the detector's. Its
// Version covers t, as the model file it saves would.
func (d *Detector) WithThreshold(t *Threshold) *Detector {
	c := *d
	if t != nil {
		tt := *t
		tt.Score = d.scoring.Metric
		c.threshold = &tt
	} else {
		c.threshold = nil
	}
	if v := d.validation; v != nil {
		// the ranking metrics hold at any threshold, the decisions do not
		c.validation = &Metrics{ROCAUC: v.ROCAUC, PRAUC: v.PRAUC, PrecisionAtN: v.PrecisionAtN,
			Anomalies: v.Anomalies, Normal: v.Normal, Score: v.Score, NormalRows: v.NormalRows, MSENormal: v.MSENormal, MSEAnomalous: v.MSEAnomalous}
	}
	c.version = c.hash()
	return &c
}

// WithPrecision returns a copy of the detector whose model runs inference
// at p (ae.Model.SetPrecision: weights prepared once, int8 where the CPU
// has AVX512_VNNI), with a pool of its own, so that every score it gives
// comes from the prepared model; the detector itself is unchanged. It
// reports the precision in effect. At FP32 the scores are the detector's
// to the bit.
func (d *Detector) WithPrecision(p ae.Precision) (*Detector, ae.Precision, error) {
	m := d.model.Clone()
	got, err := m.SetPrecision(p)
	if err != nil {
		return nil, got, fmt.Errorf("anomaly: %w", err)
	}
	c := *d
	c.model, c.pool = m, newPool()
	return &c, got, nil
}

func newPool() *sync.Pool { return &sync.Pool{} }

func (d *Detector) get() *worker {
	if w, ok := d.pool.Get().(*worker); ok {
		return w
	}
	return &worker{m: d.model.Clone(), scorers: map[int]*scorer{}}
}

func (d *Detector) put(w *worker) {
	w.m.Forget()
	d.pool.Put(w)
}

func (w *worker) scorer(d *Detector, batch int, rowShape []int) (*scorer, error) {
	if s, ok := w.scorers[batch]; ok && slices.Equal(s.shape, rowShape) {
		return s, nil
	}
	s, err := newScorer(w.m, &d.scoring, batch, rowShape)
	if err != nil {
		return nil, err
	}
	s.shape = slices.Clone(rowShape)
	w.scorers[batch] = s
	return s, nil
}

// ScoreOptions tune Score.
type ScoreOptions struct {
	Top    int  // features listed per result, largest share first (0: 3; negative: none)
	Errors bool // keep each result's per-feature errors (Result.Errors)
	Batch  int  // rows per forward pass (0: 256)
	// Stride is the step between windows of a time-series detector
	// (0: 1; every row is covered either way).
	Stride int
}

func (o ScoreOptions) top() int {
	switch {
	case o.Top == 0:
		return 3
	case o.Top < 0:
		return 0
	}
	return o.Top
}

// Score scores the rows of x (N × the model's input shape, in the model's
// preprocessed space): one result per row, per time step of a series for a
// time-series detector, per image for an image model.
func (d *Detector) Score(x *tensor.Tensor) ([]Result, error) {
	return d.ScoreWith(x, ScoreOptions{})
}

// ScoreWith is Score with options.
func (d *Detector) ScoreWith(x *tensor.Tensor, o ScoreOptions) ([]Result, error) {
	if d.window > 1 {
		return d.scoreSeries(x, o)
	}
	shape := d.rowShape
	if shape == nil {
		if len(x.Shape) != 4 {
			return nil, fmt.Errorf("anomaly: input %v; this model scores images [N C H W]", x.Shape)
		}
		shape = x.Shape[1:]
	} else if len(x.Shape) < 2 || tensor.Size(x.Shape[1:]) != tensor.Size(shape) {
		return nil, fmt.Errorf("anomaly: input %v has %d values per row; the model takes %d (shape %v)", x.Shape, tensor.Size(x.Shape[1:]), tensor.Size(shape), shape)
	}
	w := d.get()
	defer d.put(w)
	s, err := w.scorer(d, o.Batch, shape)
	if err != nil {
		return nil, err
	}
	groups := d.groups
	if groups == nil {
		groups = Groups(nil, tensor.Size(shape))
	}
	top := o.top()
	res := make([]Result, x.Rows())
	err = s.run(tensor.From(x.Data, append([]int{x.Rows()}, shape...)...), func(i int, errs []float32, score, mse float64) {
		r := Result{Score: score, MSE: mse}
		if d.threshold != nil {
			r.Anomaly = d.threshold.IsAnomaly(score)
		}
		if top > 0 {
			r.Top = Attribute(errs, groups, top)
		}
		if o.Errors {
			r.Errors = slices.Clone(errs)
		}
		res[i] = r
	})
	return res, err
}

// ScoreRecords scores raw records (strings, as in a CSV file) whose fields
// header names, in any order; the label and dropped columns of the
// training file may be absent.
func (d *Detector) ScoreRecords(header []string, records [][]string) ([]Result, error) {
	if d.pre == nil || d.pre.Kind != dataset.KindTable {
		return nil, errors.New("anomaly: this model was not trained on a table; score tensors with Score")
	}
	x, err := d.pre.TransformTable(header, records)
	if err != nil {
		return nil, err
	}
	return d.Score(x)
}

// ImageResult is the verdict on one picture.
type ImageResult struct {
	Result
	Heat           []float32      // per-pixel squared error, averaged over channels (H×W)
	Reconstruction *imageio.Image // the model's output
}

// ScoreImage scores one picture with an image autoencoder, of any size for
// a fully convolutional one: its mean squared error, a heat-map of the
// per-pixel error, and the reconstruction.
func (d *Detector) ScoreImage(img *imageio.Image, o imagetask.Options) (*ImageResult, error) {
	w := d.get()
	defer d.put(w)
	out, err := imagetask.Run(w.m, img, o)
	if err != nil {
		return nil, err
	}
	if out.C != img.C {
		return nil, fmt.Errorf("anomaly: the model maps %d channels to %d; anomaly scores need an autoencoder that reconstructs its input", img.C, out.C)
	}
	hw := img.H * img.W
	heat := make([]float32, hw)
	var sum float64
	for c := range img.C {
		a, b := img.Plane(c), out.Plane(c)
		for p := range heat {
			e := float64(b[p] - a[p])
			heat[p] += float32(e * e / float64(img.C))
			sum += e * e
		}
	}
	score := sum / float64(img.C*hw)
	r := &ImageResult{Result: Result{Score: score, MSE: score}, Heat: heat, Reconstruction: out}
	if d.threshold != nil {
		r.Anomaly = d.threshold.IsAnomaly(score)
	}
	return r, nil
}

// Rethreshold fits a threshold by spec on the scores of results (value:X
// or contamination:P over them, say), sets their Anomaly flags by it and
// returns it.
func Rethreshold(results []Result, spec Spec, metric, fittedOn string) (*Threshold, error) {
	scores := make([]float64, len(results))
	for i, r := range results {
		scores[i] = r.Score
	}
	t, err := Fit(spec, scores, nil, fittedOn)
	if err != nil {
		return nil, err
	}
	t.Score = metric
	for i := range results {
		results[i].Anomaly = t.IsAnomaly(results[i].Score)
	}
	return t, nil
}

// Scores are the scores of results.
func Scores(results []Result) []float64 {
	s := make([]float64, len(results))
	for i, r := range results {
		s[i] = r.Score
	}
	return s
}
