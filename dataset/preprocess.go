package dataset

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Kinds of Preprocessor.
const (
	KindImage = "image" // IDX images: pixel scaling only
	KindTable = "table" // CSV: typed columns, one-hot, per-column scaling
	KindArray = "array" // NPY/NPZ: numeric columns, per-column scaling
)

// Scale names as stored in a fitted Preprocessor ("auto" is resolved at fit
// time to one of these).
const (
	ScaleUnit        = "unit"        // images: pixel / 255
	ScaleStandardize = "standardize" // (x - mean) / std, std 0 → 1
	ScaleMinMax      = "minmax"      // (x - min) / (max - min), range 0 → 1
	ScaleNone        = "none"        // values as they are
)

// Column roles and types.
const (
	RoleFeature = "feature"
	RoleLabel   = "label"
	RoleDrop    = "drop"

	TypeNumeric     = "numeric"
	TypeCategorical = "categorical"
)

// Missing-value policies.
const (
	MissingError  = "error"
	MissingImpute = "impute"
)

// ColumnSpec describes one raw input column (in file order) and how it maps
// to model space. A numeric feature becomes one model column
// (x - Center) / Spread; a categorical feature becomes one model column per
// training category (one-hot, sorted); label and dropped columns none.
type ColumnSpec struct {
	Name       string   `json:"name"`
	Role       string   `json:"role"`
	Type       string   `json:"type,omitempty"`
	Categories []string `json:"categories,omitempty"`
	Center     float64  `json:"center"`
	Spread     float64  `json:"spread"`
	Min        float64  `json:"min"`
	Max        float64  `json:"max"`
	Fill       float64  `json:"fill"`           // numeric impute value (training median)
	Mode       string   `json:"mode,omitempty"` // categorical impute value (training mode)
}

// Preprocessor is the fitted mapping from raw input to model space. It is
// JSON-serialisable and is stored inside model files so that scoring applies
// exactly the training preprocessing.
type Preprocessor struct {
	Kind       string       `json:"kind"`
	Format     Format       `json:"format"`
	InputShape []int        `json:"input_shape"` // per-sample model-space shape
	Scale      string       `json:"scale"`       // resolved: unit, standardize, minmax, none
	Columns    []ColumnSpec `json:"columns,omitempty"`
	Label      string       `json:"label,omitempty"`
	LabelIndex int          `json:"label_index"` // -1 when there is no label column
	Drop       []string     `json:"drop,omitempty"`
	Header     bool         `json:"header"`
	Comma      string       `json:"comma,omitempty"`
	Missing    string       `json:"missing"`
	Normal     string       `json:"normal,omitempty"` // the label kept for training, if any
}

// Dim is the number of model-space values per sample.
func (p *Preprocessor) Dim() int { return tensor.Size(p.InputShape) }

// Features names the model-space columns: the column name for numeric
// columns, "name=category" for one-hot columns, the flat index for images.
func (p *Preprocessor) Features() []string {
	if p.Kind == KindImage {
		names := make([]string, p.Dim())
		for i := range names {
			names[i] = strconv.Itoa(i)
		}
		return names
	}
	var names []string
	for _, c := range p.Columns {
		switch {
		case c.Role != RoleFeature:
		case c.Type == TypeCategorical:
			for _, cat := range c.Categories {
				names = append(names, c.Name+"="+cat)
			}
		default:
			names = append(names, c.Name)
		}
	}
	return names
}

// FeatureColumns names the raw feature columns (label and dropped columns
// excluded), in file order: the columns InverseRecord returns.
func (p *Preprocessor) FeatureColumns() []string {
	var names []string
	for _, c := range p.Columns {
		if c.Role == RoleFeature {
			names = append(names, c.Name)
		}
	}
	return names
}

// OutputInUnitRange reports whether every model-space value of the training
// data lies in [0,1]: images scaled by 1/255, min-max scaling, one-hot
// columns, and unscaled columns whose training range is inside [0,1]. A model
// may then use a sigmoid output. Data scored later can still leave the range
// (values beyond the training min/max).
func (p *Preprocessor) OutputInUnitRange() bool {
	switch p.Kind {
	case KindImage:
		return p.Scale == ScaleUnit
	case KindTable, KindArray:
		for _, c := range p.Columns {
			if c.Role != RoleFeature || c.Type == TypeCategorical {
				continue
			}
			switch p.Scale {
			case ScaleMinMax:
			case ScaleNone:
				if c.Min < 0 || c.Max > 1 {
					return false
				}
			default:
				return false
			}
		}
		return true
	}
	return false
}

// Inverse maps a model-space sample x back to the original numeric space
// into dst (both of length Dim): numeric columns get x·Spread + Center,
// images x·255 (when scaled by 1/255). One-hot columns are copied unchanged:
// they are scores per category, not values (InverseRecord picks the
// category). Imputed values cannot be told apart from real ones.
func (p *Preprocessor) Inverse(x []float32, dst []float32) {
	d := p.Dim()
	if len(x) != d || len(dst) != d {
		panic(fmt.Sprintf("dataset: Inverse: len(x) %d, len(dst) %d, want %d", len(x), len(dst), d))
	}
	if p.Kind == KindImage {
		s := float32(1)
		if p.Scale == ScaleUnit {
			s = 255
		}
		for i, v := range x {
			dst[i] = v * s
		}
		return
	}
	j := 0
	for i := range p.Columns {
		c := &p.Columns[i]
		switch {
		case c.Role != RoleFeature:
		case c.Type == TypeCategorical:
			copy(dst[j:j+len(c.Categories)], x[j:j+len(c.Categories)])
			j += len(c.Categories)
		default:
			dst[j] = float32(float64(x[j])*c.Spread + c.Center)
			j++
		}
	}
}

// InverseRecord maps a model-space sample back to one text value per raw
// feature column (FeatureColumns order): numbers for numeric columns, the
// highest-scoring category for one-hot columns (its score is lost). For
// images it formats the pixel values. Used to write reconstructions as CSV.
func (p *Preprocessor) InverseRecord(x []float32) []string {
	raw := make([]float32, p.Dim())
	p.Inverse(x, raw)
	if p.Kind == KindImage {
		out := make([]string, len(raw))
		for i, v := range raw {
			out[i] = strconv.FormatFloat(float64(v), 'g', 6, 32)
		}
		return out
	}
	var out []string
	j := 0
	for i := range p.Columns {
		c := &p.Columns[i]
		switch {
		case c.Role != RoleFeature:
		case c.Type == TypeCategorical:
			best, bi := float32(math.Inf(-1)), -1
			for k := range c.Categories {
				if raw[j+k] > best {
					best, bi = raw[j+k], k
				}
			}
			if bi < 0 {
				out = append(out, "")
			} else {
				out = append(out, c.Categories[bi])
			}
			j += len(c.Categories)
		default:
			out = append(out, strconv.FormatFloat(float64(raw[j]), 'g', 7, 32))
			j++
		}
	}
	return out
}

// isMissing reports whether a (trimmed) field counts as missing.
func isMissing(s string) bool {
	switch s {
	case "", "?":
		return true
	}
	return len(s) <= 3 && (strings.EqualFold(s, "na") || strings.EqualFold(s, "nan") || strings.EqualFold(s, "n/a"))
}

// parseNumber parses a finite float.
func parseNumber(s string) (float64, bool) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, false
	}
	return v, true
}

// cellError is a failure on one value; the caller adds the file and row.
type cellError struct {
	col   int // index into Columns
	value string
	kind  error
}

// encodeTable writes the model-space encoding of rec (one string per entry
// of p.Columns, already trimmed) into dst (len Dim). present reports whether
// the column exists in the input at all (nil: all present). unknown counts
// unseen categories per column (may be nil).
func (p *Preprocessor) encodeTable(rec []string, dst []float32, missing string, unknown []int) *cellError {
	j := 0
	for i := range p.Columns {
		c := &p.Columns[i]
		if c.Role != RoleFeature {
			continue
		}
		s := rec[i]
		if c.Type == TypeCategorical {
			w := dst[j : j+len(c.Categories)]
			clear(w)
			if isMissing(s) {
				if missing != MissingImpute {
					return &cellError{col: i, value: s, kind: ErrMissing}
				}
				s = c.Mode
			}
			if k, ok := slices.BinarySearch(c.Categories, s); ok {
				w[k] = 1
			} else if unknown != nil {
				unknown[i]++
			}
			j += len(c.Categories)
			continue
		}
		var v float64
		if isMissing(s) {
			if missing != MissingImpute {
				return &cellError{col: i, value: s, kind: ErrMissing}
			}
			v = c.Fill
		} else if f, ok := parseNumber(s); ok {
			v = f
		} else if missing == MissingImpute {
			v = c.Fill
		} else {
			return &cellError{col: i, value: s, kind: ErrValue}
		}
		m := float32((v - c.Center) / c.Spread)
		if math.IsInf(float64(m), 0) || m != m {
			return &cellError{col: i, value: s, kind: errRange}
		}
		dst[j] = m
		j++
	}
	return nil
}

// errRange marks a value whose model-space image overflows float32.
var errRange = fmt.Errorf("%w: out of range", ErrValue)

// cellMessage formats a cellError as "<where>, column "x": ...; fix".
func (p *Preprocessor) cellMessage(e *cellError) (kind error, msg string) {
	name := p.Columns[e.col].Name
	if e.kind == errRange {
		return ErrValue, fmt.Sprintf("column %q: %q is out of float32 range after scaling; fix the value or pass --scale standardize", name, e.value)
	}
	if e.kind == ErrMissing {
		return ErrMissing, fmt.Sprintf("column %q: value is missing (%q); fix the value or pass --missing impute", name, e.value)
	}
	return ErrValue, fmt.Sprintf("column %q: %q is not a number; fix the value or pass --missing impute", name, e.value)
}

// TransformRecords encodes CSV-like records (strings, in the original column
// order of the training file) into an N×D tensor. A record holds either every
// original column or every column but the label. Unknown categories encode
// as all-zero one-hot; missing values follow the fitted missing policy.
func (p *Preprocessor) TransformRecords(records [][]string) (*tensor.Tensor, error) {
	if p.Kind != KindTable {
		return nil, fail(ErrOption, "records", "the preprocessor is for %s data, not CSV records; send numeric arrays", p.Kind)
	}
	x := tensor.New(append([]int{len(records)}, p.InputShape...)...)
	full := len(p.Columns)
	noLabel := full
	if p.LabelIndex >= 0 {
		noLabel = full - 1
	}
	rec := make([]string, full)
	for r, in := range records {
		switch len(in) {
		case full:
			for i, s := range in {
				rec[i] = cleanField(s)
			}
		case noLabel:
			k := 0
			for i := range rec {
				if i == p.LabelIndex {
					rec[i] = ""
					continue
				}
				rec[i] = cleanField(in[k])
				k++
			}
		default:
			return nil, fail(ErrFieldCount, "records", "record %d has %d fields, want %d (all columns) or %d (without the label column); send the columns in training order", r, len(in), full, noLabel)
		}
		if e := p.encodeTable(rec, x.Row(r), p.Missing, nil); e != nil {
			kind, msg := p.cellMessage(e)
			return nil, fail(kind, "records", "record %d, %s", r, msg)
		}
	}
	return x, nil
}

// TransformRow encodes one record given as column name → value. Feature
// columns absent from the map count as missing; label and dropped columns
// are ignored; names not in the training file are an error.
func (p *Preprocessor) TransformRow(row map[string]string) ([]float32, error) {
	if p.Kind != KindTable {
		return nil, fail(ErrOption, "row", "the preprocessor is for %s data, not named columns; send numeric arrays", p.Kind)
	}
	rec := make([]string, len(p.Columns))
	known := 0
	for i, c := range p.Columns {
		if v, ok := row[c.Name]; ok {
			rec[i] = cleanField(v)
			known++
		}
	}
	if known != len(row) {
		var extra []string
		for k := range row {
			if p.columnIndex(k) < 0 {
				extra = append(extra, k)
			}
		}
		slices.Sort(extra)
		return nil, fail(ErrColumn, "row", "unknown columns %q; the model was trained on %s", extra, strings.Join(p.FeatureColumns(), ", "))
	}
	dst := make([]float32, p.Dim())
	if e := p.encodeTable(rec, dst, p.Missing, nil); e != nil {
		kind, msg := p.cellMessage(e)
		return nil, fail(kind, "row", "%s", msg)
	}
	return dst, nil
}

// TransformTable encodes records whose fields are named by header, in any
// order: label and dropped columns may be absent (and are ignored), an
// absent feature column counts as missing in every record, and a name the
// model does not know is an error. It is TransformRow for many records,
// resolving the header once.
func (p *Preprocessor) TransformTable(header []string, records [][]string) (*tensor.Tensor, error) {
	if p.Kind != KindTable {
		return nil, fail(ErrOption, "records", "the preprocessor is for %s data, not named columns; send numeric arrays", p.Kind)
	}
	pos := make([]int, len(p.Columns)) // field index of each column, -1 absent
	for i := range pos {
		pos[i] = -1
	}
	var unknown []string
	for j, h := range header {
		i := p.columnIndex(strings.TrimSpace(h))
		if i < 0 {
			unknown = append(unknown, h)
			continue
		}
		if pos[i] >= 0 {
			return nil, fail(ErrColumn, "records", "column %q appears twice in the header", h)
		}
		pos[i] = j
	}
	if len(unknown) > 0 {
		return nil, fail(ErrColumn, "records", "unknown columns %q; the model was trained on %s", unknown, strings.Join(p.FeatureColumns(), ", "))
	}
	x := tensor.New(append([]int{len(records)}, p.InputShape...)...)
	rec := make([]string, len(p.Columns))
	for r, in := range records {
		if len(in) != len(header) {
			return nil, fail(ErrFieldCount, "records", "record %d has %d fields, the header names %d", r, len(in), len(header))
		}
		for i, j := range pos {
			rec[i] = ""
			if j >= 0 {
				rec[i] = cleanField(in[j])
			}
		}
		if e := p.encodeTable(rec, x.Row(r), p.Missing, nil); e != nil {
			kind, msg := p.cellMessage(e)
			return nil, fail(kind, "records", "record %d, %s", r, msg)
		}
	}
	return x, nil
}

func (p *Preprocessor) columnIndex(name string) int {
	for i, c := range p.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// TransformValues encodes one sample of raw numbers (pixel values 0..255 for
// images, original values for arrays) into dst (len Dim). NaN counts as
// missing. It is for image and array preprocessors; tables take strings.
func (p *Preprocessor) TransformValues(raw []float32, dst []float32) error {
	d := p.Dim()
	if len(raw) != d || len(dst) != d {
		return fail(ErrFieldCount, "values", "got %d values, the model expects %d (shape %v)", len(raw), d, p.InputShape)
	}
	switch p.Kind {
	case KindImage:
		s := float32(1)
		if p.Scale == ScaleUnit {
			s = 1.0 / 255
		}
		for i, v := range raw {
			if v != v {
				return fail(ErrMissing, "values", "value %d is NaN; send pixel values 0..255", i)
			}
			dst[i] = v * s
		}
		return nil
	case KindArray:
		for i, v := range raw {
			c := &p.Columns[i]
			x := float64(v)
			if v != v {
				if p.Missing != MissingImpute {
					return fail(ErrMissing, "values", "value %d (column %q) is NaN; send a number", i, c.Name)
				}
				x = c.Fill
			}
			m := float32((x - c.Center) / c.Spread)
			if math.IsInf(float64(m), 0) {
				return fail(ErrValue, "values", "value %d (column %q) is %v, out of float32 range after scaling; send a smaller value", i, c.Name, v)
			}
			dst[i] = m
		}
		return nil
	}
	return fail(ErrOption, "values", "the preprocessor is for %s data; send CSV records", p.Kind)
}

// numericStats fills Center/Spread/Min/Max/Fill of c from finite values vals
// (which it sorts) according to scale.
func numericStats(c *ColumnSpec, vals []float64, scale string) {
	c.Center, c.Spread, c.Min, c.Max, c.Fill = 0, 1, 0, 0, 0
	if len(vals) == 0 {
		return
	}
	slices.Sort(vals)
	c.Min, c.Max = vals[0], vals[len(vals)-1]
	n := len(vals)
	if n%2 == 1 {
		c.Fill = vals[n/2]
	} else {
		c.Fill = (vals[n/2-1] + vals[n/2]) / 2
	}
	switch scale {
	case ScaleStandardize:
		// Welford's update on values divided by the largest magnitude: no
		// overflow even for values near the float64 limit.
		scale := max(math.Abs(c.Min), math.Abs(c.Max))
		if scale == 0 {
			scale = 1
		}
		var mean, m2 float64
		for k, v := range vals {
			v /= scale
			d := v - mean
			mean += d / float64(k+1)
			m2 += d * (v - mean)
		}
		std := math.Sqrt(m2/float64(n)) * scale
		mean *= scale
		c.Center = mean
		if std > 0 && !math.IsInf(std, 0) {
			c.Spread = std
		}
	case ScaleMinMax:
		c.Center = c.Min
		if r := c.Max - c.Min; r > 0 && !math.IsInf(r, 0) {
			c.Spread = r
		}
	}
}

// cleanField trims spaces and replaces invalid UTF-8 (which JSON could not
// carry through a model file) by U+FFFD, so that training and scoring see
// the same category strings.
func cleanField(s string) string {
	return strings.ToValidUTF8(strings.TrimSpace(s), "\uFFFD")
}

// Describe tells in one line how raw records become model input: the
// format and kind, the columns by type, the label, dropped columns and
// the normal filter (nil: the model reads pixels or arrays as they are).
func (p *Preprocessor) Describe() string {
	if p == nil {
		return "none (pixels or arrays as they are)"
	}
	if p.Kind == KindImage {
		return fmt.Sprintf("%s images %v, pixels scaled %s", p.Format, p.InputShape, p.Scale)
	}
	var num, cat, oneHot int
	for _, c := range p.Columns {
		if c.Role != RoleFeature {
			continue
		}
		if c.Type == TypeCategorical {
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
	if p.Missing == MissingImpute {
		s += ", missing imputed"
	}
	return s
}
