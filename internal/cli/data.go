package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
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
	warn     io.Writer // where data warnings go (unknown categories); nil drops them
}

func (d *dataFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&d.path, "data", "", "data file: .csv/.txt, MNIST-style IDX (*-idx3-ubyte[.gz]), .npy or .npz (required)")
	fs.StringVar(&d.format, "format", "", "data format when the file name does not tell: idx, csv, npy or npz")
	fs.StringVar(&d.label, "label", "", "CSV: label column (name or 0-based index), kept out of the features")
	fs.StringSliceVar(&d.drop, "drop", nil, "CSV: columns to ignore (names or 0-based indices, comma-separated)")
	fs.BoolVar(&d.noHeader, "no-header", false, "CSV: the first row is data, not column names")
	fs.StringVar(&d.columns, "columns", "", "CSV: column names, comma-separated or a file (one per line, or kddcup.names style)")
	fs.StringVar(&d.normal, "normal", "", "keep only rows whose label equals this value (needs --label, or the label of IDX/NPZ data)")
	fs.StringVar(&d.missing, "missing", "error", "CSV: what to do with missing values: error, or impute (median/mode of the training data)")
	fs.IntVar(&d.maxRows, "max-rows", 0, "read at most this many rows (0 = all)")
	fs.StringVar(&d.scale, "scale", "auto", "numeric scaling fitted on the training data: auto (standardize; NPY data already in [0,1] kept as is), standardize, minmax or none (ignored when a model's own scaling applies)")
}

func (d *dataFlags) options() (dataset.LoadOptions, error) {
	if d.path == "" {
		return dataset.LoadOptions{}, usagef("--data is required: pass the data file to read")
	}
	opt := dataset.LoadOptions{
		Format:  dataset.Format(strings.ToLower(d.format)),
		Label:   d.label,
		Drop:    d.drop,
		Normal:  d.normal,
		Missing: d.missing,
		MaxRows: d.maxRows,
		Scale:   d.scale,
	}
	switch d.missing {
	case "error", "impute":
	default:
		return opt, usagef("--missing %q: want error or impute", d.missing)
	}
	if d.noHeader {
		f := false
		opt.Header = &f
	}
	if d.columns != "" {
		names, err := columnNames(d.columns)
		if err != nil {
			return opt, err
		}
		opt.Columns = names
	}
	return opt, nil
}

// columnNames reads --columns: a comma-separated list in which an item
// naming an existing file is replaced by the names read from it, so
// "kddcup.names,label,difficulty" extends a names file with two columns.
func columnNames(s string) ([]string, error) {
	var names []string
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, usagef("--columns %q: empty name", s)
		}
		if st, err := os.Stat(item); err == nil && !st.IsDir() {
			fromFile, err := dataset.ReadColumnNames(item)
			if err != nil {
				return nil, err
			}
			names = append(names, fromFile...)
			continue
		}
		names = append(names, item)
	}
	if len(names) == 1 {
		return nil, usagef("--columns %q: no such file, and not a comma-separated list of names", s)
	}
	return names, nil
}

// preprocessor returns the preprocessing stored in a model file.
func preprocessor(m *ae.Model) (*dataset.Preprocessor, error) {
	if len(m.Preprocess) == 0 {
		return nil, fmt.Errorf("model has no preprocessing record; retrain it with 'bottleneck train'")
	}
	var p dataset.Preprocessor
	if err := json.Unmarshal(m.Preprocess, &p); err != nil {
		return nil, fmt.Errorf("model's preprocessing record is damaged: %v", err)
	}
	return &p, nil
}

// loadForModel reads data for an existing model, applying the model's own
// preprocessing (label and dropped columns remembered from training).
func loadForModel(m *ae.Model, d *dataFlags) (*dataset.Dataset, error) {
	opt, err := d.options()
	if err != nil {
		return nil, err
	}
	pre, err := preprocessor(m)
	if err != nil {
		return nil, err
	}
	ds, err := dataset.LoadWith(d.path, pre, opt)
	if err != nil {
		return nil, err
	}
	if d.warn != nil {
		for _, w := range ds.Warnings {
			fmt.Fprintf(d.warn, "warning: %s\n", w)
		}
	}
	if ds.X.Cols() != m.Config.Input() {
		return nil, fmt.Errorf("%s: %d features per row after preprocessing, the model expects %d; pass data laid out like the training file", d.path, ds.X.Cols(), m.Config.Input())
	}
	return ds, nil
}

// loadModel loads a model file, with an error that says what to pass.
func loadModel(path string) (*ae.Model, error) {
	if path == "" {
		return nil, usagef("-m/--model is required: pass a model file written by 'bottleneck train'")
	}
	return loadModelOrZoo(path) // cmd_models.go: a file, else a shipped model's name
}

// preSummary describes a preprocessing record in one line.
func preSummary(p *dataset.Preprocessor) string {
	switch p.Kind {
	case dataset.KindImage:
		return fmt.Sprintf("%s images %v, pixels scaled %s", p.Format, p.InputShape, p.Scale)
	}
	var num, cat, oneHot int
	for _, c := range p.Columns {
		if c.Role != dataset.RoleFeature {
			continue
		}
		if c.Type == dataset.TypeCategorical {
			cat++
			oneHot += len(c.Categories)
		} else {
			num++
		}
	}
	s := fmt.Sprintf("%s %s: %d numeric columns (%s)", p.Format, p.Kind, num, p.Scale)
	if cat > 0 {
		s += fmt.Sprintf(", %d categorical → %d one-hot", cat, oneHot)
	}
	if p.Label != "" {
		s += fmt.Sprintf(", label %q", p.Label)
	}
	if len(p.Drop) > 0 {
		s += fmt.Sprintf(", dropped %v", p.Drop)
	}
	if p.Normal != "" {
		s += fmt.Sprintf(", trained on %s=%q", p.Label, p.Normal)
	}
	if p.Missing == dataset.MissingImpute {
		s += ", missing imputed"
	}
	return s
}
