package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/imagetask"
	"github.com/bottleneck-ml/bottleneck/internal/atomicfile"
	"github.com/bottleneck-ml/bottleneck/internal/report"
)

type scoreOptions struct {
	model      string
	data       dataFlags
	output     string
	top        int
	threshold  string
	batch      int
	window     int
	stride     int
	heatmap    string
	heatmapTop int
	json       bool
	id         string
	precision  precisionFlag
}

func newScoreCommand(g *globalOptions) *cobra.Command {
	o := &scoreOptions{}
	cmd := &cobra.Command{
		Use:   "score -m MODEL --data PATH [-o scores.csv]",
		Short: "Score every row of a data file for anomalies: reconstruction error, decision, top features",
		Long: `Score every row of a data file with a model, in the model's preprocessed
space (higher is more anomalous): by default for tables the Mahalanobis
distances of the row's code and of its reconstruction error from the
training rows', robustly standardised and added; the mean squared error
for images and for models trained with --score mse. anomaly is 1 when the
score is above the threshold stored in the model (train --threshold), and
the top features are the raw columns with the largest share of the row's
error (one-hot columns folded back into their categorical column). A
time-series model scores every time step from the windows covering it.

Tables (CSV, gzipped or not, and NPY) are read, scored and written --batch
rows at a time, so memory stays bounded whatever the file's size;
--threshold contamination:P reads the file twice, keeping only the scores
(8 bytes a row) in between. Time series and --normal load the file whole.

The output is CSV with a header and one row per input row, in input order:
row, score, anomaly, the label when the data has one, the id (--id), then
top1, top1_share, … topK, topK_share; with --json, one JSON object per
line. A score that is not a finite number (a value so far out of range
that the reconstruction error overflows) is written as +Inf and flagged.

A convolutional image model (train --task reconstruct) scores each image
by its mean squared pixel error instead, decides by --threshold (default:
far:0.01 fitted on the scored images, the error that 1 % of normal images
exceed with gross outliers set aside, as image model files carry no
threshold), and with --heatmap DIR draws the most anomalous images with
their per-pixel error laid over them in red.`,
		Example: `  bottleneck score -m kdd.safetensors --data KDDTest+.txt -o scores.csv --top 3
  bottleneck score -m kdd.safetensors --data new.csv --threshold value:0.8
  bottleneck score -m conv.safetensors --data t10k-images-idx3-ubyte.gz -o scores.csv --heatmap maps`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.data.warn = cmd.ErrOrStderr()
			info := cmd.ErrOrStderr()
			if g.quiet {
				info = io.Discard
			}
			return runScore(cmd.Context(), o, cmd.OutOrStdout(), info)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.model, "model", "m", "", "model file (required)")
	o.data.add(f)
	f.StringVarP(&o.output, "output", "o", "", "file to write (default, or -: standard output)")
	f.BoolVar(&o.json, "json", false, "write JSON lines instead of CSV: {\"row\", \"score\", \"anomaly\", \"label\", \"id\", \"top\": [{\"feature\", \"share\"}]}")
	f.StringVar(&o.id, "id", "", "CSV: a column (name or 0-based index) whose values are copied to the output as the row's id")
	f.IntVar(&o.top, "top", 3, "features to list per row, largest share of the error first (0: none)")
	f.StringVar(&o.threshold, "threshold", "", "override the model's threshold: value:X, or contamination:P of these rows' scores")
	f.IntVar(&o.batch, "batch", 256, "rows per forward pass")
	f.IntVar(&o.window, "window", 0, "time series: the model's window length (checked; taken from the model when 0)")
	f.IntVar(&o.stride, "stride", 1, "time series: rows between the starts of consecutive windows")
	f.StringVar(&o.heatmap, "heatmap", "", "image models: folder for PNG heat-maps of the per-pixel error of the most anomalous images")
	f.IntVar(&o.heatmapTop, "heatmap-top", 16, "image models: how many of the most anomalous images get a heat-map")
	o.precision.add(f)
	return cmd
}

// scored is one scoring pass over a data file.
type scored struct {
	res    []anomaly.Result
	labels []string
	ids    []string // --id values
	names  []string // image files
	th     *anomaly.Threshold
}

func runScore(ctx context.Context, o *scoreOptions, stdout, stderr io.Writer) error {
	if o.top < 0 || o.batch < 1 || o.stride < 1 || o.window < 0 {
		return usagef("--top and --window must be 0 or more, --batch and --stride at least 1")
	}
	if o.output == "-" {
		o.output = ""
	}
	if err := refuseOverwrite(o.output, o.data.path, o.model); err != nil {
		return err
	}
	det, err := openDetector(o.model)
	if err != nil {
		return err
	}
	if err := o.precision.apply(det.Model(), stderr); err != nil {
		return err
	}
	if o.window > 0 && o.window != det.Window() {
		return usagef("--window %d: the model was trained on windows of %d rows; pass --window %d", o.window, det.Window(), det.Window())
	}
	if det.Model().Preprocess != nil && det.Window() == 1 && o.data.normal == "" {
		return scoreStreamed(ctx, det, o, stdout, stderr)
	}
	var s *scored
	var images []*imageio.Image
	if det.Model().Preprocess == nil {
		s, images, err = scoreImages(det, o)
	} else {
		s, err = scoreRows(det, o)
	}
	if err != nil {
		return err
	}
	flagged := 0
	for _, r := range s.res {
		if r.Anomaly {
			flagged++
		}
	}
	what := "rows"
	switch {
	case det.Window() > 1:
		what = fmt.Sprintf("time steps with windows of %d (stride %d)", det.Window(), o.stride)
	case images != nil:
		what = "images"
	}
	printScored(stderr, len(s.res), flagged, what, s.th)
	top := o.top
	if images != nil {
		top = 0 // a pixel's share says little; --heatmap draws them
	}
	write := func(w io.Writer) error {
		rw := anomaly.NewResultWriter(w, o.json, top)
		if err := rw.Write(s.res, s.labels, s.names, s.ids); err != nil {
			return err
		}
		return rw.Flush()
	}
	if err := writeOutput(o.output, stdout, write); err != nil {
		return err
	}
	wrote(stderr, o.output)
	if o.heatmap == "" {
		return nil
	}
	if images == nil {
		return usagef("--heatmap is for image models")
	}
	n, err := report.Heatmaps(o.heatmap, det, images, s.res, o.heatmapTop)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %d heat-maps to %s (input | reconstruction | error in red), most anomalous first\n", n, o.heatmap)
	return nil
}

func printScored(stderr io.Writer, n, flagged int, what string, th *anomaly.Threshold) {
	fmt.Fprintf(stderr, "scored %d %s: %d anomalous (%.2f%%) at %s\n", n, what, flagged, 100*float64(flagged)/float64(max(1, n)), th.Describe())
}

// writeOutput runs write on standard output, or on the -o file, which
// appears complete or not at all.
func writeOutput(output string, stdout io.Writer, write func(io.Writer) error) error {
	if output == "" {
		return write(stdout)
	}
	return atomicfile.WriteFile(output, write, 0o644)
}

// wrote says that the -o file was written.
func wrote(stderr io.Writer, output string) {
	if output != "" {
		fmt.Fprintf(stderr, "wrote %s\n", output)
	}
}

// thresholdError maps the library's threshold errors to the command's
// messages: refused specs are usage errors (exit 2).
func thresholdError(err error) error {
	var se *anomaly.SpecError
	switch {
	case errors.As(err, &se):
		return usagef("--threshold %s", se.Msg)
	case errors.Is(err, anomaly.ErrSpec):
		return usageError{fmt.Errorf("--threshold: %w", err)}
	case errors.Is(err, anomaly.ErrNoThreshold):
		return errors.New("the model has no anomaly threshold; retrain it, or pass --threshold value:X")
	}
	return err
}

// scoreRows scores a time series (or rows filtered by --normal) loaded
// whole.
func scoreRows(det *anomaly.Detector, o *scoreOptions) (*scored, error) {
	o.data.id = o.id
	ds, err := loadData(det.Model(), &o.data, det.Window())
	if err != nil {
		return nil, err
	}
	top := o.top
	if top == 0 {
		top = -1
	}
	res, err := det.ScoreWith(ds.X, anomaly.ScoreOptions{Top: top, Batch: o.batch, Stride: o.stride})
	if err != nil {
		return nil, err
	}
	th, err := det.Decide(res, o.threshold, "", "scored rows")
	if err != nil {
		return nil, thresholdError(err)
	}
	if o.id != "" && ds.IDs == nil {
		return nil, usagef("--id %s: ids come from a CSV column; %s is not a CSV file", o.id, o.data.path)
	}
	return &scored{res: res, labels: ds.Labels, ids: ds.IDs, th: th}, nil
}

// scoreStreamed scores a table (or the rows of a dense model) --batch rows
// at a time as it reads them (anomaly.Detector.ScoreFile), writing each
// batch before reading the next; --threshold contamination:P is fitted in
// a first pass, before the output is started.
func scoreStreamed(ctx context.Context, det *anomaly.Detector, o *scoreOptions, stdout, stderr io.Writer) error {
	if o.heatmap != "" {
		return usagef("--heatmap is for image models")
	}
	o.data.id = o.id
	if err := o.data.resolveStdin(); err != nil { // read twice
		return err
	}
	open := func() (*dataset.Stream, error) {
		opt, err := o.data.options()
		if err != nil {
			return nil, err
		}
		s, err := dataset.OpenStream(o.data.path, det.Preprocessor(), opt, o.batch)
		if err == nil && o.id != "" && det.Preprocessor().Kind != dataset.KindTable {
			s.Close()
			err = usagef("--id %s: ids come from a CSV column; %s is not a CSV file", o.id, o.data.path)
		}
		if err != nil {
			return nil, err
		}
		return s.ReadAhead(2), nil // parse the next batches while this one is scored
	}
	so := anomaly.ScoreOptions{Top: o.top, Batch: o.batch}
	if o.top == 0 {
		so.Top = -1
	}
	th, err := det.FileThreshold(ctx, open, o.threshold, so)
	if err != nil {
		return thresholdError(err)
	}
	var sum anomaly.FileSummary
	err = writeOutput(o.output, stdout, func(w io.Writer) error {
		rw := anomaly.NewResultWriter(w, o.json, o.top)
		var err error
		sum, err = det.WithThreshold(th).ScoreFile(ctx, open, anomaly.FileOptions{ScoreOptions: so}, func(res []anomaly.Result, labels, ids []string) error {
			return rw.Write(res, labels, nil, ids)
		})
		if err == nil {
			err = rw.Flush()
		}
		return err
	})
	for _, w := range sum.Warnings {
		if o.data.warn != nil {
			fmt.Fprintf(o.data.warn, "warning: %s\n", w)
		}
	}
	if err != nil {
		return err
	}
	printScored(stderr, sum.Rows, sum.Anomalies, "rows", th)
	wrote(stderr, o.output)
	return nil
}

// scoreImages scores the images of an IDX file or a folder with an image
// autoencoder, deciding by --threshold, else by anomaly.DefaultSpec fitted
// on their scores (image model files carry no threshold).
func scoreImages(det *anomaly.Detector, o *scoreOptions) (*scored, []*imageio.Image, error) {
	m := det.Model()
	if m.OutChannels() != m.Config.InChannels() {
		return nil, nil, usagef("model %s maps %d channels to %d (task %s); anomaly scores need an autoencoder that reconstructs its input (train --task reconstruct)", o.model, m.Config.InChannels(), m.OutChannels(), m.Config.Task)
	}
	if o.data.path == "" {
		return nil, nil, usagef("--data is required: an IDX file or a folder of images")
	}
	s := &scored{}
	var images []*imageio.Image
	if st, err := os.Stat(o.data.path); err == nil && st.IsDir() {
		if images, s.names, err = imagetask.ReadFolder(o.data.path, m.Config.InChannels()); err != nil {
			return nil, nil, err
		}
	} else {
		ds, err := loadData(m, &o.data, 1)
		if err != nil {
			return nil, nil, err
		}
		if len(ds.Shape) != 3 {
			return nil, nil, usagef("--data %s: samples have shape %v; want images", o.data.path, ds.Shape)
		}
		for i := range ds.Len() {
			images = append(images, &imageio.Image{C: ds.Shape[0], H: ds.Shape[1], W: ds.Shape[2], Pix: ds.X.Row(i)})
		}
		s.labels = ds.Labels
	}
	var err error
	if s.res, s.th, err = det.ScoreImages(images, o.threshold); err != nil {
		return nil, nil, thresholdError(err)
	}
	return s, images, nil
}
