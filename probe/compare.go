package probe

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Set is one labelled set of rows for Compare: the inputs, the code a
// model gave each row and the rows' labels.
type Set struct {
	// X holds the inputs, one row per sample; an image set [N, C, H, W]
	// is read as N rows of C·H·W values.
	X *tensor.Tensor
	// Codes holds the code of every row of X, N rows (e.g. from
	// latent.Codes; a VAE's mean code).
	Codes  *tensor.Tensor
	Labels []string
}

// CompareInput is what Compare measures: a training set the probes are
// fitted on and a test set they are scored on.
type CompareInput struct {
	Train, Test Set
}

// CompareOptions configure Compare. The zero value fits the probe on the
// codes alone with Fit's defaults.
type CompareOptions struct {
	L2      float64 // λ of every probe (0: Fit's default 1e-4)
	MaxIter int     // L-BFGS iterations of every probe (0: Fit's default 300)
	// Baselines also probes the inputs' first K principal components (PCA
	// fitted on the training inputs, K the code's width) and the raw
	// inputs: the linear baselines a learned code should beat.
	Baselines bool
	// Progress, when set, is called after each probe is scored with its
	// name ("code", "pca" or "raw") and score, so a caller can report
	// partial results of a long comparison.
	Progress func(name string, s *Score)
}

// Score is the result of one probe.
type Score struct {
	Features int     `json:"features"`
	Accuracy float64 `json:"accuracy"` // on the test set
	TrainAcc float64 `json:"train_accuracy"`
	Iter     int     `json:"iterations"` // L-BFGS iterations run
	Seconds  float64 `json:"seconds"`    // wall-clock time of the fit and scoring (PCA: with PCA's fit)
	// Explained is the fraction of variance PCA keeps (PCA only).
	Explained float64 `json:"explained_variance,omitempty"`
}

// Report is Compare's result: how much of the label a code holds, beside
// the baselines.
type Report struct {
	Accuracy  float64 `json:"accuracy"` // the code's probe, Code.Accuracy
	Code      Score   `json:"code"`
	PCA       *Score  `json:"pca,omitempty"` // nil without Baselines
	Raw       *Score  `json:"raw,omitempty"` // nil without Baselines
	TrainRows int     `json:"train_rows"`
	TestRows  int     `json:"test_rows"`
	Classes   int     `json:"classes"` // distinct training labels
	L2        float64 `json:"l2"`      // CompareOptions.L2 as given
}

// Compare measures a representation by linear probes: it fits a softmax
// regression (Fit) on the training codes and scores its accuracy on the
// test codes, and with Baselines does the same on PCA of the inputs with
// as many components as the code has, and on the raw inputs. A code worth
// having beats PCA of its width; the raw inputs show what a linear model
// reaches without any code. ctx is checked between the probes.
func Compare(ctx context.Context, in CompareInput, o CompareOptions) (*Report, error) {
	tr, err := in.Train.flat("training")
	if err != nil {
		return nil, err
	}
	te, err := in.Test.flat("test")
	if err != nil {
		return nil, err
	}
	opt := Options{L2: o.L2, MaxIter: o.MaxIter}
	progress := func(name string, s *Score) {
		if o.Progress != nil {
			o.Progress(name, s)
		}
	}
	rep := &Report{TrainRows: tr.X.Rows(), TestRows: te.X.Rows(), L2: o.L2}
	sc, classes, err := score(ctx, tr.Codes, tr.Labels, te.Codes, te.Labels, opt)
	if err != nil {
		return nil, err
	}
	rep.Code, rep.Accuracy, rep.Classes = *sc, sc.Accuracy, classes
	progress("code", sc)
	if !o.Baselines {
		return rep, nil
	}
	start := time.Now()
	pca, err := FitPCA(tr.X, min(tr.Codes.Cols(), tr.X.Cols()))
	if err != nil {
		return nil, err
	}
	pTr, _ := pca.Transform(tr.X)
	pTe, err := pca.Transform(te.X)
	if err != nil {
		return nil, err
	}
	ps, _, err := score(ctx, pTr, tr.Labels, pTe, te.Labels, opt)
	if err != nil {
		return nil, err
	}
	ps.Explained = pca.Explained()
	ps.Seconds = time.Since(start).Seconds()
	rep.PCA = ps
	progress("pca", ps)
	if rep.Raw, _, err = score(ctx, tr.X, tr.Labels, te.X, te.Labels, opt); err != nil {
		return nil, err
	}
	progress("raw", rep.Raw)
	return rep, nil
}

// flat checks s and returns it with inputs and codes as N × D matrices.
func (s Set) flat(name string) (Set, error) {
	if s.X == nil || s.Codes == nil {
		return s, fmt.Errorf("probe: %s set: inputs or codes missing; pass both, the codes from the model's encoder", name)
	}
	n := s.X.Rows()
	if s.Codes.Rows() != n || len(s.Labels) != n {
		return s, fmt.Errorf("%w: %s set has %d rows, %d codes and %d labels; pass one code and one label per row", ErrLabels, name, n, s.Codes.Rows(), len(s.Labels))
	}
	if n == 0 {
		return s, fmt.Errorf("probe: %s set has no rows", name)
	}
	s.X = tensor.From(s.X.Data, n, len(s.X.Data)/n)
	s.Codes = tensor.From(s.Codes.Data, n, len(s.Codes.Data)/n)
	return s, nil
}

// score fits a probe on (xtr, ltr), scores it on (xte, lte) and returns
// the score and the number of classes.
func score(ctx context.Context, xtr *tensor.Tensor, ltr []string, xte *tensor.Tensor, lte []string, opt Options) (*Score, int, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	start := time.Now()
	s, err := Fit(xtr, ltr, opt)
	if err != nil {
		return nil, 0, err
	}
	acc, err := s.Accuracy(xte, lte)
	if err != nil {
		return nil, 0, err
	}
	tacc, _ := s.Accuracy(xtr, ltr)
	return &Score{Features: xtr.Cols(), Accuracy: acc, TrainAcc: tacc, Iter: s.Iter, Seconds: time.Since(start).Seconds()}, len(s.Classes), nil
}

// WriteText writes the report as a table, as `bottleneck probe` prints it:
// features, dimensions, test and training accuracy of the code's probe and
// of the baselines.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "linear probe: softmax regression (L2 %g) fitted on %d rows, scored on %d rows, %d classes\n", r.L2, r.TrainRows, r.TestRows, r.Classes)
	fmt.Fprintf(&b, "%-10s %9s %9s %10s\n", "features", "dims", "accuracy", "train acc")
	fmt.Fprintf(&b, "%-10s %9d %9.4f %10.4f\n", "code", r.Code.Features, r.Code.Accuracy, r.Code.TrainAcc)
	if r.PCA != nil {
		fmt.Fprintf(&b, "%-10s %9d %9.4f %10.4f   (%.1f%% of the variance)\n", "pca", r.PCA.Features, r.PCA.Accuracy, r.PCA.TrainAcc, 100*r.PCA.Explained)
	}
	if r.Raw != nil {
		fmt.Fprintf(&b, "%-10s %9d %9.4f %10.4f\n", "raw", r.Raw.Features, r.Raw.Accuracy, r.Raw.TrainAcc)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
