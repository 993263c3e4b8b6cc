package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"

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

The output is CSV with a header and one row per input row, in input order:
row, score, anomaly, the label when the data has one, the id (--id), then
top1, top1_share, … topK, topK_share; with --json, one JSON object per
line. A score that is not a finite number (a value so far out of range
that the reconstruction error overflows) is written as +Inf and flagged.

A convolutional image model (train --task reconstruct) scores each image
by its mean squared pixel error instead, decides by --threshold (default:
median + 3.5·MAD of the scored images, as image model files carry no
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
	if o.window > 0 && o.window != det.Window() {
		return usagef("--window %d: the model was trained on windows of %d rows; pass --window %d", o.window, det.Window(), det.Window())
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
	fmt.Fprintf(stderr, "scored %d %s: %d anomalous (%.2f%%) at %s\n", len(s.res), what, flagged, 100*float64(flagged)/float64(max(1, len(s.res))), s.th.Describe())
	top := o.top
	if images != nil {
		top = 0 // a pixel's share says little; --heatmap draws them
	}
	write := func(w io.Writer) error {
		if o.json {
			return writeScoresJSON(w, s, top)
		}
		return writeScores(w, s, top)
	}
	if o.output == "" {
		if err := write(stdout); err != nil {
			return err
		}
	} else {
		if err := atomicfile.WriteFile(o.output, write, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %s\n", o.output)
	}
	if o.heatmap != "" {
		return writeHeatmaps(o, det, s, images, stderr)
	}
	return nil
}

// decide applies --threshold (value:X or contamination:P over these
// scores) or the model's threshold; def is the spec used when the model has
// none and no flag is given ("" refuses).
func decide(det *anomaly.Detector, res []anomaly.Result, flag, def, fittedOn string) (*anomaly.Threshold, error) {
	spec := flag
	if spec == "" && det.Threshold() != nil {
		return det.Threshold(), nil
	}
	if spec == "" {
		spec = def
	}
	if spec == "" {
		return nil, fmt.Errorf("the model has no anomaly threshold; retrain it, or pass --threshold value:X")
	}
	sp, err := anomaly.ParseSpec(spec)
	if err != nil {
		return nil, usageError{fmt.Errorf("--threshold: %w", err)}
	}
	if flag != "" && sp.Method != anomaly.MethodValue && sp.Method != anomaly.MethodContamination && def == "" {
		return nil, usagef("--threshold %s: scoring can override with value:X or contamination:P; choose %s thresholds at training (train --threshold)", flag, sp.Method)
	}
	if sp.Method == anomaly.MethodF1 {
		return nil, usagef("--threshold f1 needs labelled validation rows; pass value:X, contamination:P, mad:K, sigma:K or pot:Q")
	}
	return anomaly.Rethreshold(res, sp, det.Scoring().Metric, fittedOn)
}

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
	th, err := decide(det, res, o.threshold, "", "scored rows")
	if err != nil {
		return nil, err
	}
	if o.id != "" && ds.IDs == nil {
		return nil, usagef("--id %s: ids come from a CSV column; %s is not a CSV file", o.id, o.data.path)
	}
	return &scored{res: res, labels: ds.Labels, ids: ds.IDs, th: th}, nil
}

// scoreImages scores the images of an IDX file or a folder with an image
// autoencoder.
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
		files, err := imageio.List(o.data.path)
		if err != nil {
			return nil, nil, err
		}
		if len(files) == 0 {
			return nil, nil, usagef("--data %s: no images (.png, .jpg, .bmp) there", o.data.path)
		}
		for _, f := range files {
			img, err := imagetask.ReadImage(f)
			if err != nil {
				return nil, nil, err
			}
			if c := m.Config.InChannels(); img.C != c {
				if c == 1 {
					img = imageio.RGBToGrey(img)
				} else {
					img = imageio.GreyToRGB(img)
				}
			}
			images = append(images, img)
		}
		s.names = files
	} else {
		ds, err := loadData(m, &o.data, 1)
		if err != nil {
			return nil, nil, err
		}
		if len(ds.Shape) != 3 {
			return nil, nil, usagef("--data %s: samples have shape %v; want images", o.data.path, ds.Shape)
		}
		c, h, w := ds.Shape[0], ds.Shape[1], ds.Shape[2]
		for i := range ds.Len() {
			images = append(images, &imageio.Image{C: c, H: h, W: w, Pix: ds.X.Row(i)})
		}
		s.labels = ds.Labels
	}
	for i, img := range images {
		r, err := det.ScoreImage(img, imagetask.Options{})
		if err != nil {
			return nil, nil, fmt.Errorf("image %d: %w", i, err)
		}
		s.res = append(s.res, r.Result)
	}
	// image model files carry no threshold: decide by --threshold, else by
	// median + 3.5·MAD of these images' scores (the table default)
	th, err := decide(det, s.res, o.threshold, anomaly.DefaultSpec, "scored images")
	if err != nil {
		return nil, nil, err
	}
	s.th = th
	return s, images, nil
}

func writeScores(w io.Writer, s *scored, top int) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("row,score,anomaly")
	if s.labels != nil {
		bw.WriteString(",label")
	}
	if s.names != nil {
		bw.WriteString(",file")
	}
	if s.ids != nil {
		bw.WriteString(",id")
	}
	for k := 1; k <= top; k++ {
		fmt.Fprintf(bw, ",top%d,top%d_share", k, k)
	}
	bw.WriteByte('\n')
	buf := make([]byte, 0, 64)
	for i, r := range s.res {
		buf = strconv.AppendInt(buf[:0], int64(i), 10)
		buf = append(buf, ',')
		buf = strconv.AppendFloat(buf, r.Score, 'g', 8, 64)
		if r.Anomaly {
			buf = append(buf, ",1"...)
		} else {
			buf = append(buf, ",0"...)
		}
		bw.Write(buf)
		if s.labels != nil {
			bw.WriteString("," + dataset.CSVField(s.labels[i]))
		}
		if s.names != nil {
			bw.WriteString("," + dataset.CSVField(s.names[i]))
		}
		if s.ids != nil {
			bw.WriteString("," + dataset.CSVField(s.ids[i]))
		}
		for k := 0; k < top; k++ {
			if k < len(r.Top) {
				fmt.Fprintf(bw, ",%s,%.4f", dataset.CSVField(r.Top[k].Feature), r.Top[k].Share)
			} else {
				bw.WriteString(",,")
			}
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// scoreLine is one row of score --json.
type scoreLine struct {
	Row     int                    `json:"row"`
	Score   any                    `json:"score"` // a number, or "+Inf"/"NaN" (JSON has none)
	Anomaly bool                   `json:"anomaly"`
	Label   *string                `json:"label,omitempty"`
	File    string                 `json:"file,omitempty"`
	ID      *string                `json:"id,omitempty"`
	Top     []anomaly.Contribution `json:"top,omitempty"`
}

func writeScoresJSON(w io.Writer, s *scored, top int) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for i, r := range s.res {
		l := scoreLine{Row: i, Score: r.Score, Anomaly: r.Anomaly}
		if math.IsNaN(r.Score) || math.IsInf(r.Score, 0) {
			l.Score = strconv.FormatFloat(r.Score, 'g', -1, 64)
		}
		if s.labels != nil {
			l.Label = &s.labels[i]
		}
		if s.names != nil {
			l.File = s.names[i]
		}
		if s.ids != nil {
			l.ID = &s.ids[i]
		}
		if top > 0 {
			l.Top = r.Top[:min(top, len(r.Top))]
		}
		if err := enc.Encode(l); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// byScore returns the row indices by descending score.
func byScore(res []anomaly.Result) []int {
	idx := make([]int, len(res))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return res[idx[a]].Score > res[idx[b]].Score })
	return idx
}

// writeHeatmaps draws the --heatmap-top highest-scoring images: input,
// reconstruction, and the per-pixel error in red (full red at the largest
// pixel error among the images drawn, so maps compare).
func writeHeatmaps(o *scoreOptions, det *anomaly.Detector, s *scored, images []*imageio.Image, stderr io.Writer) error {
	if images == nil {
		return usagef("--heatmap is for image models")
	}
	if err := os.MkdirAll(o.heatmap, 0o755); err != nil {
		return err
	}
	order := byScore(s.res)[:min(max(o.heatmapTop, 0), len(images))]
	rs := make([]*anomaly.ImageResult, len(order))
	var peak float32
	for k, i := range order {
		r, err := det.ScoreImage(images[i], imagetask.Options{})
		if err != nil {
			return err
		}
		rs[k] = r
		for _, v := range r.Heat {
			peak = max(peak, v)
		}
	}
	for k, i := range order {
		name := filepath.Join(o.heatmap, fmt.Sprintf("rank%03d-row%d.png", k+1, i))
		if err := report.Heatmap(name, images[i], rs[k].Reconstruction, rs[k].Heat, peak); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "wrote %d heat-maps to %s (input | reconstruction | error in red), most anomalous first\n", len(order), o.heatmap)
	return nil
}
