package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/internal/atomicfile"
)

type scoreOptions struct {
	model     string
	data      dataFlags
	output    string
	top       int
	threshold string
	batch     int
	window    windowFlags
	// conv image models (anomaly_image.go)
	heatmap    string
	heatmapTop int
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
for images and for models trained with --score mse. anomaly is 1 when the score is above the threshold stored
in the model (train --threshold), and the top features are the raw
columns with the largest share of the row's error (one-hot columns folded
back into their categorical column).

The output is CSV with a header and one row per input row, in input order:
row, score, anomaly, the label when the data has one, then top1, top1_share,
… topK, topK_share.

A convolutional image model (train --task reconstruct) scores each image
by its mean squared pixel error instead, decides by --threshold (default:
median + 3.5·MAD of the scored images, as conv model files carry no
threshold), and with --heatmap DIR draws the most anomalous images with
their per-pixel error laid over them in red.`,
		Example: `  bottleneck score -m kdd.safetensors --data KDDTest+.txt -o scores.csv --top 3
  bottleneck score -m kdd.safetensors --data new.csv --threshold value:0.8
  bottleneck score -m conv.safetensors --data t10k-images-idx3-ubyte.gz -o scores.csv --heatmap maps`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.data.warn = cmd.ErrOrStderr()
			return runScore(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.model, "model", "m", "", "model file (required)")
	o.data.add(f)
	f.StringVarP(&o.output, "output", "o", "", "CSV file to write (default: standard output)")
	f.IntVar(&o.top, "top", 3, "features to list per row, largest share of the error first (0: none)")
	f.StringVar(&o.threshold, "threshold", "", "override the model's threshold: value:X, or contamination:P of these rows' scores")
	f.IntVar(&o.batch, "batch", 256, "rows per forward pass")
	o.window.add(f)
	f.StringVar(&o.heatmap, "heatmap", "", "conv image models: folder for PNG heat-maps of the per-pixel error of the most anomalous images")
	f.IntVar(&o.heatmapTop, "heatmap-top", 16, "conv image models: how many of the most anomalous images get a heat-map")
	return cmd
}

// scored is one scoring pass over a data file.
type scored struct {
	scores []float64
	flags  []bool
	top    [][]anomaly.Contribution
	labels []string
	th     *anomaly.Threshold
}

// scoreRows scores ds with m, deciding by the model's threshold or by
// override (value:X or contamination:P over these scores).
func scoreRows(m *ae.Model, ds *dataset.Dataset, top, batch int, override string) (*scored, error) {
	sc, err := anomaly.NewScorer(m)
	if err != nil {
		return nil, err
	}
	sc.Batch = batch
	th, err := anomaly.Decode(m.Threshold)
	if err != nil {
		return nil, err
	}
	scores, errs := sc.Errors(ds.X)
	if override != "" {
		sp, err := anomaly.ParseSpec(override)
		if err != nil {
			return nil, usageError{fmt.Errorf("--threshold: %w", err)}
		}
		if sp.Method != anomaly.MethodValue && sp.Method != anomaly.MethodContamination {
			return nil, usagef("--threshold %s: scoring can override with value:X or contamination:P; choose %s thresholds at training (train --threshold)", override, sp.Method)
		}
		if th, err = anomaly.Fit(sp, scores, nil, "scored rows"); err != nil {
			return nil, err
		}
		th.Score = sc.Metric
	}
	if th == nil {
		return nil, fmt.Errorf("%s has no anomaly threshold (it was trained before thresholds existed); retrain it, or pass --threshold value:X", "the model")
	}
	pre, err := preprocessor(m)
	if err != nil {
		return nil, err
	}
	groups := anomaly.Groups(pre)
	res := &scored{scores: scores, flags: make([]bool, len(scores)), labels: ds.Labels, th: th}
	if top > 0 {
		res.top = make([][]anomaly.Contribution, len(scores))
	}
	for i, s := range scores {
		res.flags[i] = th.IsAnomaly(s)
		if top > 0 {
			res.top[i] = anomaly.Attribute(errs.Row(i), groups, top)
		}
	}
	return res, nil
}

func runScore(ctx context.Context, o *scoreOptions, stdout, stderr io.Writer) error {
	if o.top < 0 {
		return usagef("--top %d must be 0 or more", o.top)
	}
	if isConvModel(o.model) {
		return runScoreImages(o, stdout, stderr)
	}
	m, err := loadModel(o.model)
	if err != nil {
		return err
	}
	if pre, err := preprocessor(m); err == nil {
		if size, err := modelWindow(m, pre); o.window.on() || (err == nil && size > 1) {
			return runScoreWindows(o, m, stdout, stderr)
		}
	}
	ds, err := loadForModel(m, &o.data)
	if err != nil {
		return err
	}
	res, err := scoreRows(m, ds, o.top, max(1, o.batch), o.threshold)
	if err != nil {
		return err
	}
	flagged := 0
	for _, f := range res.flags {
		if f {
			flagged++
		}
	}
	fmt.Fprintf(stderr, "scored %d rows: %d anomalous (%.2f%%) at %s\n", len(res.scores), flagged, 100*float64(flagged)/float64(max(1, len(res.scores))), res.th.Describe())
	write := func(w io.Writer) error { return writeScores(w, res, o.top) }
	if o.output == "" {
		return write(stdout)
	}
	if err := atomicfile.WriteFile(o.output, write, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s\n", o.output)
	return nil
}

func writeScores(w io.Writer, res *scored, top int) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("row,score,anomaly")
	if res.labels != nil {
		bw.WriteString(",label")
	}
	for k := 1; k <= top; k++ {
		fmt.Fprintf(bw, ",top%d,top%d_share", k, k)
	}
	bw.WriteByte('\n')
	buf := make([]byte, 0, 64)
	for i, s := range res.scores {
		buf = strconv.AppendInt(buf[:0], int64(i), 10)
		buf = append(buf, ',')
		buf = strconv.AppendFloat(buf, s, 'g', 8, 64)
		if res.flags[i] {
			buf = append(buf, ",1"...)
		} else {
			buf = append(buf, ",0"...)
		}
		bw.Write(buf)
		if res.labels != nil {
			bw.WriteByte(',')
			bw.WriteString(csvField(res.labels[i]))
		}
		for k := 0; k < top; k++ {
			if res.top != nil && k < len(res.top[i]) {
				c := res.top[i][k]
				fmt.Fprintf(bw, ",%s,%.4f", csvField(c.Feature), c.Share)
			} else {
				bw.WriteString(",,")
			}
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}
