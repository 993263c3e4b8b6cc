package anomaly

import (
	"fmt"
	"io"
	"strings"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
)

// Card describes a detector for people: what `bottleneck inspect` prints
// and the web page's model card shows. Its JSON holds the records
// themselves (config, preprocessing, threshold, training) beside Facts,
// the same account as lines of text.
type Card struct {
	FormatVersion int                   `json:"format_version"`
	Version       string                `json:"version"`
	Config        ae.Config             `json:"config"`
	Parameters    int                   `json:"parameters"`
	Preprocess    *dataset.Preprocessor `json:"preprocess"`
	Training      *ae.Record            `json:"training"`
	Score         string                `json:"score,omitempty"` // with a threshold only
	Threshold     *Threshold            `json:"threshold,omitempty"`
	Validation    *Metrics              `json:"validation,omitempty"`
	Window        int                   `json:"window,omitempty"` // time-series detectors
	Facts         []Fact                `json:"facts"`
}

// Fact is one line of a Card's account: a name and its value, at a level
// (0: a heading such as "architecture"; 1: a detail under it; 2: one
// parameter tensor).
type Fact struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Level int    `json:"level,omitempty"`
}

// maxListedTensors is how many parameter tensors a card lists one by one.
const maxListedTensors = 24

// Card returns the detector's card.
func (d *Detector) Card() *Card {
	m := d.model
	c := &Card{FormatVersion: ae.FormatVersion, Version: d.version, Config: m.Config, Parameters: m.NumParams(),
		Preprocess: m.Preprocess, Training: m.Training, Validation: d.Validation()}
	if th := d.Threshold(); th != nil {
		c.Threshold, c.Score = th, d.scoring.Metric
	}
	if d.window > 1 {
		c.Window = d.window
	}
	c.Facts = d.facts()
	return c
}

func (d *Detector) facts() []Fact {
	m := d.model
	c := m.Config
	var f []Fact
	add := func(level int, name, format string, args ...any) {
		f = append(f, Fact{Name: name, Value: fmt.Sprintf(format, args...), Level: level})
	}
	kind := map[string]string{"dense": "dense autoencoder", "vae": "variational dense autoencoder", "conv": "convolutional model", "conv-vae": "convolutional VAE"}[c.Kind()]
	if c.Task != "" {
		kind += ", task " + c.Task
	}
	add(0, "architecture", "%s", kind)
	if w, ok := strings.CutPrefix(strings.TrimPrefix(c.Summary(), "variational "), "dense "); ok {
		chain := strings.Split(w, " → ")
		mid := len(chain) / 2
		add(1, "encoder", "%s", strings.Join(chain[:mid+1], " → "))
		add(1, "decoder", "%s", strings.Join(chain[mid:], " → "))
	}
	add(1, "layers", "%s | %s", strings.Join(c.Encoder, ","), strings.Join(c.Decoder, ","))
	if c.Input != nil {
		add(1, "input", "%v (code %d)", c.Input, m.CodeSize())
	} else {
		add(1, "input", "%d channels, any size that is a multiple of %d", c.Channels, c.Multiple())
	}
	if c.Residual {
		add(1, "residual", "output = input + network")
	}
	add(1, "loss", "%s", c.Loss)
	if c.Variational {
		add(1, "vae", "likelihood %s, β %g, binarised inputs %v", c.Likelihood, c.Beta, c.Binarize)
	}
	for _, kv := range [][2]string{{"sparsity", c.Sparsity}, {"noise", c.Noise}, {"color", c.Color}} {
		if kv[1] != "" {
			add(1, kv[0], "%s", kv[1])
		}
	}
	if len(c.Scales) > 0 {
		add(1, "scales", "%v", c.Scales)
	}
	add(0, "parameters", "%d in %d tensors", m.NumParams(), len(m.Params.Params))
	if len(m.Params.Params) <= maxListedTensors {
		for _, p := range m.Params.Params {
			add(2, p.Name, "%v", p.Shape)
		}
	}
	add(0, "preprocess", "%s", m.Preprocess.Describe())
	if d.window > 1 {
		add(0, "window", "%d rows per sample (a time-series detector)", d.window)
	}
	if th := d.threshold; th != nil {
		add(0, "threshold", "%s", th.Describe())
	}
	if v := d.validation; v != nil {
		s := fmt.Sprintf("ROC-AUC %.4f, average precision %.4f on %d normal and %d anomalous held-out rows", v.ROCAUC, v.PRAUC, v.NormalRows, v.Anomalies)
		if v.Recall != nil {
			s += fmt.Sprintf("; at the threshold precision %.3f, recall %.3f, false alarms %.2f%%", *v.Precision, *v.Recall, 100**v.FAR)
		}
		add(0, "validation", "%s", s)
	}
	if r := m.Training; r != nil {
		s := fmt.Sprintf("%d/%d epochs (%s)", r.Epochs, r.MaxEpochs, r.Stopped)
		if r.BestEpoch > 0 {
			s += fmt.Sprintf(", best epoch %d", r.BestEpoch)
		}
		if r.Steps > 0 && r.Patch > 0 {
			s += fmt.Sprintf(" of %d steps, patch %d", r.Steps, r.Patch)
		}
		optimizer := r.Optimizer
		if optimizer == "" {
			optimizer = "none"
		}
		add(0, "training", "%s, batch %d, %s lr %g (%s), seed %d", s, r.Batch, optimizer, r.LR, r.Schedule, r.Seed)
		best := r.Epochs
		if r.BestEpoch > 0 {
			best = r.BestEpoch
		}
		if best > 0 && best <= len(r.TrainLoss) {
			s := fmt.Sprintf("train %.6f", r.TrainLoss[best-1])
			if best <= len(r.ValLoss) {
				s += fmt.Sprintf(", val %.6f", r.ValLoss[best-1])
			}
			add(1, "loss", "%s", s)
		}
		if n := len(r.Val); n > 0 {
			add(1, "val", "%s", r.Val[n-1])
		}
		if r.TrainRows > 0 {
			add(1, "rows", "%d train, %d validation", r.TrainRows, r.ValRows)
		}
		add(1, "time", "%.1fs (%.0f samples/s), finished %s", r.Seconds, r.SamplesPerSec, r.Finished.Format("2006-01-02 15:04 UTC"))
		if r.Command != "" {
			add(1, "command", "%s", r.Command)
		}
		// a fine-tuned model: the trainings it started from, latest first
		for p := r.Init; p != nil; p = p.Init {
			s := fmt.Sprintf("a model trained %d epochs (%s loss, lr %g, %.1fs)", p.Epochs, p.Loss, p.LR, p.Seconds)
			if p.Command != "" {
				s += ": " + p.Command
			}
			add(1, "started from", "%s", s)
		}
	}
	return f
}

// WriteText writes the card's facts as `bottleneck inspect` prints them:
// names in a column, details indented under their heading.
func (c *Card) WriteText(w io.Writer) error {
	for _, f := range c.Facts {
		var err error
		switch f.Level {
		case 0:
			_, err = fmt.Fprintf(w, "%-12s %s\n", f.Name, f.Value)
		case 1:
			_, err = fmt.Fprintf(w, "  %-10s %s\n", f.Name, f.Value)
		default:
			_, err = fmt.Fprintf(w, "  %-22s %s\n", f.Name, f.Value)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
