package anomaly

import (
	"context"

	"github.com/bottleneck-ml/bottleneck/dataset"
)

// FileOptions configure ScoreFile.
type FileOptions struct {
	ScoreOptions
	// Threshold overrides the detector's threshold: "" keeps it, value:X
	// decides by X, contamination:P by the (1-P) quantile of the scores of
	// the whole file (see ScoreThreshold).
	Threshold string
}

// FileSummary is what ScoreFile did.
type FileSummary struct {
	Threshold *Threshold // the threshold that decided
	Rows      int        // results handed to emit
	Anomalies int        // of them, those above the threshold
	// Warnings are the data warnings of the file (columns with categories
	// not seen in training), as far as it was read.
	Warnings []string
}

// ScoreFile scores a data file of any size in bounded memory and hands
// the results of each batch to emit in file order, as ScoreStream does,
// deciding by o.Threshold. open returns a new stream over the file (see
// dataset.OpenStream), once for each pass, and ScoreFile closes it. A
// threshold fitted on the scores takes a first pass that keeps the scores
// alone (FileThreshold), and the results are those Score gives the file
// read whole. The summary holds what was read also when err is not nil.
func (d *Detector) ScoreFile(ctx context.Context, open func() (*dataset.Stream, error), o FileOptions, emit func(res []Result, labels, ids []string) error) (FileSummary, error) {
	var sum FileSummary
	th, err := d.FileThreshold(ctx, open, o.Threshold, o.ScoreOptions)
	if err != nil {
		return sum, err
	}
	sum.Threshold = th
	s, err := open()
	if err != nil {
		return sum, err
	}
	defer s.Close()
	err = d.WithThreshold(th).ScoreStream(ctx, s, o.ScoreOptions, func(res []Result, labels, ids []string) error {
		for _, r := range res {
			if r.Anomaly {
				sum.Anomalies++
			}
		}
		sum.Rows += len(res)
		return emit(res, labels, ids)
	})
	sum.Warnings = s.Warnings
	return sum, err
}

// FileThreshold returns the threshold that decides when d scores a file
// with the override spec (ScoreThreshold(spec, "")). When it is fitted on
// the scores (contamination:P), open is called for a stream over the file
// and every row is scored, keeping the scores alone, 8 bytes a row; the
// stream is closed. ScoreFile calls it; call it yourself to learn of a
// bad spec or unreadable data before writing any output.
func (d *Detector) FileThreshold(ctx context.Context, open func() (*dataset.Stream, error), spec string, o ScoreOptions) (*Threshold, error) {
	th, sp, err := d.ScoreThreshold(spec, "")
	if err != nil || th != nil {
		return th, err
	}
	s, err := open()
	if err != nil {
		return nil, err
	}
	defer s.Close()
	o.Top = -1
	var scores []float64
	err = d.ScoreStream(ctx, s, o, func(res []Result, _, _ []string) error {
		scores = append(scores, Scores(res)...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if th, err = Fit(sp, scores, nil, "scored rows"); err != nil {
		return nil, err
	}
	th.Score = d.scoring.Metric
	return th, nil
}
