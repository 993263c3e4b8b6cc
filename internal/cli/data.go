package cli

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/imagetask"
	"github.com/bottleneck-ml/bottleneck/internal/report"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// dataFlags are the flags that say where data is and how to read it; every
// command that reads data shares them.
type dataFlags struct {
	path     string
	format   string
	label    string
	drop     []string
	noHeader bool
	columns  string
	normal   string
	missing  string
	scale    string
	maxRows  int
	id       string    // score --id: a column passed through
	warn     io.Writer // where data warnings go (unknown categories); nil drops them
}

func (d *dataFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&d.path, "data", "", "data file: .csv/.txt, MNIST-style IDX (*-idx3-ubyte[.gz]), .npy or .npz, - for standard input, nats://HOST:PORT/SUBJECT or kafka://HOST:PORT/TOPIC for a sample of its --max-rows most recent messages (required)")
	fs.StringVar(&d.format, "format", "", "data format when the file name does not tell: idx, csv, npy or npz")
	fs.StringVar(&d.label, "label", "", "CSV: label column (name or 0-based index), kept out of the features")
	fs.StringSliceVar(&d.drop, "drop", nil, "CSV: columns to ignore (names or 0-based indices, comma-separated)")
	fs.BoolVar(&d.noHeader, "no-header", false, "CSV: the first row is data, not column names")
	fs.StringVar(&d.columns, "columns", "", "CSV: column names, comma-separated or a file (one per line, or kddcup.names style)")
	fs.StringVar(&d.normal, "normal", "", "keep only rows whose label is this value, one of a comma-separated list, or (after !) any but these, e.g. !normal. (needs --label, or the label of IDX/NPZ data)")
	fs.StringVar(&d.missing, "missing", "error", "CSV: what to do with missing values: error, or impute (median/mode of the training data)")
	fs.IntVar(&d.maxRows, "max-rows", 0, "read at most this many rows (0 = all)")
	fs.StringVar(&d.scale, "scale", "auto", "numeric scaling fitted on the training data: auto (standardize; NPY data already in [0,1] kept as is), standardize, minmax or none (ignored when a model's own scaling applies)")
}

func (d *dataFlags) options() (dataset.LoadOptions, error) {
	if d.path == "" {
		return dataset.LoadOptions{}, usagef("--data is required: pass the data file to read (- for standard input)")
	}
	if err := d.resolveStdin(); err != nil {
		return dataset.LoadOptions{}, err
	}
	if err := d.resolveStream(); err != nil {
		return dataset.LoadOptions{}, err
	}
	opt := dataset.LoadOptions{
		Format:  dataset.Format(strings.ToLower(d.format)),
		Label:   d.label,
		Drop:    d.drop,
		Normal:  d.normal,
		Missing: d.missing,
		MaxRows: d.maxRows,
		Scale:   d.scale,
		ID:      d.id,
	}
	switch d.missing {
	case "error", "impute":
	default:
		return opt, usagef("--missing %q: want error or impute", d.missing)
	}
	if d.noHeader {
		opt.Header = dataset.NoHeader
	}
	if d.columns != "" {
		names, err := dataset.ReadColumnNames(d.columns)
		if err != nil {
			return opt, usageError{fmt.Errorf("--columns: %w", err)}
		}
		opt.Columns = names
	}
	return opt, nil
}

// openDetector opens a model file or a shipped model as a detector.
func openDetector(path string) (*anomaly.Detector, error) {
	if path == "" {
		return nil, usagef("-m/--model is required: pass a model file written by 'bottleneck train' or a shipped model's name (see 'bottleneck models')")
	}
	return anomaly.Open(path)
}

// openModel opens a model file or a shipped model.
func openModel(path string) (*ae.Model, error) {
	d, err := openDetector(path)
	if err != nil {
		return nil, err
	}
	return d.Model(), nil
}

// loadData reads d for model m (ae.Model.LoadData), printing the data
// warnings. window is the rows a time-series model reads at once (1
// otherwise).
func loadData(m *ae.Model, d *dataFlags, window int) (*dataset.Dataset, error) {
	opt, err := d.options()
	if err != nil {
		return nil, err
	}
	ds, err := m.LoadData(d.path, opt, window)
	if errors.Is(err, ae.ErrNotPictures) {
		return nil, usagef("%v, or a folder of pictures where the command takes one", err)
	}
	if err != nil {
		return nil, err
	}
	if d.warn != nil {
		for _, w := range ds.Warnings {
			fmt.Fprintf(d.warn, "warning: %s\n", w)
		}
	}
	return ds, nil
}

func isPNG(path string) bool { return strings.EqualFold(filepath.Ext(path), ".png") }

// pictureShape is the [C,H,W] shape to draw samples of per-sample shape s.
func pictureShape(s []int) ([]int, error) {
	if p := imagetask.PictureShape(s); p != nil {
		return p, nil
	}
	return nil, usagef("the samples (shape %v) are not images; write .npy or .csv instead of .png", s)
}

// writeSamples writes rows of model-space samples x as a PNG grid (cols per
// row, default √n) or as .npy/.csv.
func writeSamples(path string, m *ae.Model, x *tensor.Tensor, cols int) error {
	flat := tensor.From(x.Data, x.Rows(), len(x.Data)/max(x.Rows(), 1))
	if !isPNG(path) {
		return dataset.WriteMatrix(path, flat, m.FeatureNames(flat.Cols()))
	}
	shape, err := pictureShape(x.Shape[1:])
	if err != nil {
		return err
	}
	return report.ImageGrid(path, report.Tiles(flat.Data, flat.Rows(), cols), shape, cols)
}
