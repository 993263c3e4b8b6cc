package dataset

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Dataset is a loaded table or image set, preprocessed into float32 rows.
type Dataset struct {
	X        *tensor.Tensor // N × D, preprocessed (model space)
	Shape    []int          // per-sample shape: [D] for tables, [C,H,W] for images (e.g. [1,28,28])
	Labels   []string       // one per row ("" when absent); nil when the source has no labels
	IDs      []string       // the LoadOptions.ID column's values, one per row; nil without
	Features []string       // names of the D model-space columns (one-hot columns named "service=http")
	Pre      *Preprocessor  // the preprocessing that produced X (fitted on training data)
	Source   string         // file path
	// Warnings lists non-fatal findings, e.g. categories not seen in
	// training (encoded as all-zero one-hot) when applying a Preprocessor.
	Warnings []string
	// Unknown counts values per raw column name whose category was not seen
	// in training (LoadWith only).
	Unknown      map[string]int
	firstUnknown map[string]string // the first such value per column
}

// Len is the number of samples.
func (d *Dataset) Len() int { return d.X.Shape[0] }

// Dim is the number of model-space values per sample.
func (d *Dataset) Dim() int { return tensor.Size(d.Shape) }

// HasLabels reports whether the dataset carries labels.
func (d *Dataset) HasLabels() bool { return d.Labels != nil }

// Header choices for LoadOptions.Header. Do not modify them.
var (
	WithHeader = new(true)
	NoHeader   = new(false)
)

// LoadOptions controls Load and LoadWith. The zero value loads with format
// and header detection, no label, missing values as errors, scale "auto".
type LoadOptions struct {
	Format Format // "" = detect from the name, then from the content
	// CSV
	Header  *bool    // nil = auto-detect (first row has a non-numeric field in a column that is numeric below it); NoHeader forces false
	Columns []string // column names when the file has no header (or to override)
	Label   string   // label column: header name or 0-based index as text; "" none
	Drop    []string // columns to drop: names or 0-based indices
	Comma   rune     // 0 = detect among , ; \t, else whitespace; ' ' = runs of spaces/tabs (no quoting)
	// All formats
	Normal string // keep only rows whose label matches this (NormalMatch); "" keep all
	// ID names a CSV column (name or 0-based index) whose raw values are
	// returned in Dataset.IDs when data is read for a model (LoadWith), to
	// pass through to the output; the model uses the column as it was
	// trained to (as a feature only if it was one).
	ID      string
	Missing string // "error" (default) or "impute" (median for numeric, mode for categorical); "", "?", "NA", "NaN" count as missing
	Scale   string // "auto" (default), "standardize", "minmax", "none"
	MaxRows int    // read at most this many samples (before the Normal filter); 0 = all
	// LabelsPath names a labels file for IDX (a labels-idx1 file; default:
	// the sibling of the images file) or NPY (a .npy array; default none).
	LabelsPath string
}

func (o *LoadOptions) check(name string) error {
	switch o.Missing {
	case "", MissingError, MissingImpute:
	default:
		return fail(ErrOption, name, "missing-value policy %q unknown; pass --missing error or --missing impute", o.Missing)
	}
	switch o.Scale {
	case "", "auto", ScaleStandardize, ScaleMinMax, ScaleNone, ScaleUnit:
	default:
		return fail(ErrOption, name, "scale %q unknown; pass --scale auto, standardize, minmax or none", o.Scale)
	}
	switch o.Format {
	case "", FormatIDX, FormatCSV, FormatNPY, FormatNPZ:
	default:
		return fail(ErrOption, name, "format %q unknown; pass --format idx, csv, npy or npz", o.Format)
	}
	if o.MaxRows < 0 {
		return fail(ErrOption, name, "max rows %d is negative; pass 0 for all rows", o.MaxRows)
	}
	switch o.Comma {
	case 0, ',', ';', '\t', '|', ' ':
	default:
		if o.Comma == '"' || o.Comma == '\r' || o.Comma == '\n' {
			return fail(ErrOption, name, "delimiter %q is not allowed; pass , ; or tab", o.Comma)
		}
	}
	return nil
}

func (o *LoadOptions) missing() string {
	if o.Missing == "" {
		return MissingError
	}
	return o.Missing
}

// Load reads a training file and fits the preprocessing on it (after the
// Normal filter). See the package documentation for the choices made.
func Load(path string, opt LoadOptions) (*Dataset, error) {
	return LoadFS(osFS{}, path, opt)
}

// LoadFS is Load reading from fsys (e.g. fstest.MapFS in tests).
func LoadFS(fsys fs.FS, name string, opt LoadOptions) (*Dataset, error) {
	return load(fsys, name, nil, opt)
}

// LoadWith loads another file with an already fitted Preprocessor (the one
// stored in a model file): same columns, same scaling, same one-hot
// categories. Label and drop columns are remembered in pre, so opt need not
// repeat them; opt.Normal, opt.MaxRows, opt.Header, opt.Columns, opt.Comma
// and opt.Missing still apply. Unknown categories encode as all-zero one-hot
// and are counted in Dataset.Unknown and Dataset.Warnings; feature columns
// absent from the file are an error naming them.
func LoadWith(path string, pre *Preprocessor, opt LoadOptions) (*Dataset, error) {
	return LoadWithFS(osFS{}, path, pre, opt)
}

// LoadWithFS is LoadWith reading from fsys.
func LoadWithFS(fsys fs.FS, name string, pre *Preprocessor, opt LoadOptions) (*Dataset, error) {
	if pre == nil {
		return nil, fail(ErrOption, name, "no preprocessor given; load the model first")
	}
	return load(fsys, name, pre, opt)
}

func load(fsys fs.FS, name string, pre *Preprocessor, opt LoadOptions) (*Dataset, error) {
	if err := opt.check(name); err != nil {
		return nil, err
	}
	format := opt.Format
	var detectErr error
	if format == "" {
		format, detectErr = DetectFormat(name)
	}
	df, err := openData(fsys, name)
	if err != nil {
		return nil, err
	}
	defer df.Close()
	if format == "" {
		head, _ := df.r.Peek(512)
		if format = sniff(head); format == "" {
			return nil, detectErr
		}
	}
	if pre != nil {
		want := pre.Format
		if want == FormatNPZ {
			want = FormatNPY
		}
		got := format
		if got == FormatNPZ {
			got = FormatNPY
		}
		if want != got {
			return nil, fail(ErrFormat, name, "is %s data but the model was trained on %s (%s); pass a %s file", format, pre.Format, pre.Kind, pre.Format)
		}
	}
	var ds *Dataset
	switch format {
	case FormatCSV:
		ds, err = loadCSV(name, df, pre, opt)
	case FormatIDX:
		ds, err = loadIDX(fsys, name, df, pre, opt)
	case FormatNPY:
		ds, err = loadNPY(fsys, name, df, pre, opt)
	case FormatNPZ:
		ds, err = loadNPZ(name, df, pre, opt)
	}
	if err != nil {
		return nil, err
	}
	ds.Source = name
	return ds, nil
}

// selectRows applies opt.MaxRows and then opt.Normal to a file of n
// samples: the labels cut to the rows read, and the indices of the samples
// to keep.
func selectRows(name string, n int, labels []string, opt LoadOptions) ([]string, []int, error) {
	if opt.MaxRows > 0 && n > opt.MaxRows {
		n = opt.MaxRows
		if labels != nil {
			labels = labels[:n]
		}
	}
	if opt.Normal != "" {
		rows, err := normalRows(name, labels, opt.Normal)
		return labels, rows, err
	}
	rows := make([]int, n)
	for i := range rows {
		rows[i] = i
	}
	return labels, rows, nil
}

// normalRows returns the indices of labels equal to normal, or an error
// listing the labels present when none match.
func normalRows(name string, labels []string, normal string) ([]int, error) {
	if labels == nil {
		return nil, fail(ErrOption, name, "--normal %q needs labels, and this file has none; pass --label (CSV) or a labels file", normal)
	}
	var keep []int
	isNormal := NormalMatch(normal)
	for i, l := range labels {
		if isNormal(l) {
			keep = append(keep, i)
		}
	}
	if len(keep) == 0 {
		what := fmt.Sprintf("label %q", normal)
		if strings.ContainsAny(normal, "!,") {
			what = fmt.Sprintf("a label that --normal %q keeps", normal)
		}
		return nil, fail(ErrOption, name, "no row has %s (labels seen: %s); pass one of them as --normal, a comma-separated list of them, or !LABEL for every label but LABEL", what, someLabels(labels, 10))
	}
	return keep, nil
}

// NormalMatch returns whether a label is normal under spec: one label
// ("normal"), a comma-separated list of them ("normal,benign"), or, after a
// leading "!", every label except those ("!normal." for KDD Cup 99 under
// DAGMM's protocol, where the many attack labels are the normal class and
// "normal." the anomaly). A filter written as a list or a negation still
// tells the trainer that the rows it kept are clean, which the same rows
// filtered by hand would not.
func NormalMatch(spec string) func(label string) bool {
	neg := strings.HasPrefix(spec, "!")
	set := map[string]bool{}
	for _, l := range strings.Split(strings.TrimPrefix(spec, "!"), ",") {
		set[l] = true
	}
	return func(label string) bool { return set[label] != neg }
}

func someLabels(labels []string, k int) string {
	seen := map[string]bool{}
	var out []string
	for _, l := range labels {
		if !seen[l] {
			seen[l] = true
			out = append(out, fmt.Sprintf("%q", l))
		}
	}
	slices.Sort(out)
	if len(out) > k {
		out = append(out[:k], "…")
	}
	return strings.Join(out, ", ")
}

// Subset returns a new dataset holding copies of rows idx (in that order),
// sharing Pre, Shape and Features. It panics if an index is out of range.
func (d *Dataset) Subset(idx []int) *Dataset {
	x := tensor.New(append([]int{len(idx)}, d.Shape...)...)
	var labels []string
	if d.Labels != nil {
		labels = make([]string, len(idx))
	}
	for k, i := range idx {
		copy(x.Row(k), d.X.Row(i))
		if labels != nil {
			labels[k] = d.Labels[i]
		}
	}
	return &Dataset{X: x, Shape: d.Shape, Labels: labels, Features: d.Features, Pre: d.Pre, Source: d.Source}
}

// Split divides ds into a training and a validation part, deterministically
// for a given seed: round(valFrac·N) random rows (at least one when valFrac
// > 0 and N > 1, at most N-1 when valFrac < 1) go to val; both parts keep
// the original row order. valFrac is clamped to [0,1].
func Split(ds *Dataset, valFrac float64, seed uint64) (train, val *Dataset) {
	n := ds.Len()
	valFrac = min(max(valFrac, 0), 1)
	nv := int(valFrac*float64(n) + 0.5)
	if valFrac > 0 && nv == 0 && n > 1 {
		nv = 1
	}
	if valFrac < 1 && nv == n && n > 1 {
		nv = n - 1
	}
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	shuffle(rand.New(rand.NewPCG(seed, 0x5eed)), perm)
	vi, ti := perm[:nv], perm[nv:]
	slices.Sort(vi)
	slices.Sort(ti)
	return ds.Subset(ti), ds.Subset(vi)
}

// shuffle is Fisher–Yates with r (allocation-free).
func shuffle(r *rand.Rand, p []int) {
	for i := len(p) - 1; i > 0; i-- {
		j := r.IntN(i + 1)
		p[i], p[j] = p[j], p[i]
	}
}

// FromTensor makes a dataset of the rows of x ([N, D] raw numbers, for
// programs that hold their data in memory), fitting a per-column scaling
// (scale: auto, standardize, minmax or none) the way NPY arrays are read,
// so a model trained on it stores that preprocessing. NaN values are an
// error.
func FromTensor(name string, x *tensor.Tensor, scale string) (*Dataset, error) {
	if len(x.Shape) < 2 || x.Rows() == 0 {
		return nil, fail(ErrFormat, name, "tensor %v holds no rows", x.Shape)
	}
	n, d := x.Rows(), tensor.Size(x.Shape[1:])
	raw := make([]byte, 4*n*d)
	for i, v := range x.Data[:n*d] {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	a := &npyArray{shape: []int{n, d}, order: binary.LittleEndian, kind: 'f', size: 4, raw: raw, n: n * d}
	rows := make([]int, n)
	for i := range rows {
		rows[i] = i
	}
	pre := &Preprocessor{Kind: KindArray, Format: FormatNPY, InputShape: []int{d}, LabelIndex: -1, Missing: MissingError}
	if err := fitArray(name, pre, a, rows, d, scale); err != nil {
		return nil, err
	}
	t := tensor.New(n, d)
	for i := range n {
		if err := pre.TransformValues(x.Data[i*d:(i+1)*d], t.Row(i)); err != nil {
			return nil, fmt.Errorf("%s: row %d: %w", name, i, err)
		}
	}
	return &Dataset{X: t, Shape: []int{d}, Features: pre.Features(), Pre: pre, Source: name}, nil
}
