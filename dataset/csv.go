package dataset

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bottleneck-ml/bottleneck/tensor"
)

// table is a CSV file read into memory: cells row-major, trimmed.
type table struct {
	cells []string
	lines []int // file line of each row
	nums  []int // 1-based data row number of each row (set by finishRows)
	nc    int
	rows  int
}

func (t *table) cell(r, c int) string { return t.cells[r*t.nc+c] }
func (t *table) row(r int) []string   { return t.cells[r*t.nc : (r+1)*t.nc] }

// filter returns the rows keep of t and their labels.
func (t *table) filter(keep []int, labels []string) (*table, []string) {
	t2 := &table{nc: t.nc, rows: len(keep), cells: make([]string, 0, len(keep)*t.nc), lines: make([]int, 0, len(keep)), nums: make([]int, 0, len(keep))}
	lb := make([]string, len(keep))
	for k, r := range keep {
		t2.cells = append(t2.cells, t.row(r)...)
		t2.lines = append(t2.lines, t.lines[r])
		t2.nums = append(t2.nums, t.nums[r])
		lb[k] = labels[r]
	}
	return t2, lb
}

// dropFirst removes row 0 (the header) from t.
func (t *table) dropFirst() {
	t.cells = t.cells[t.nc:]
	t.lines = t.lines[1:]
	t.rows--
}

// detectComma picks the delimiter among , ; and tab that occurs most often
// (outside quotes) in the first line; ',' when none does.
func detectComma(br *bufio.Reader) rune {
	head, _ := br.Peek(1 << 16)
	if i := strings.IndexByte(string(head), '\n'); i >= 0 {
		head = head[:i]
	}
	counts := map[byte]int{}
	quoted := false
	for _, b := range head {
		switch b {
		case '"':
			quoted = !quoted
		case ',', ';', '\t':
			if !quoted {
				counts[b]++
			}
		}
	}
	best, bc := byte(','), 0
	for _, b := range []byte{',', ';', '\t'} {
		if counts[b] > bc {
			best, bc = b, counts[b]
		}
	}
	if bc == 0 && len(strings.Fields(string(head))) > 1 {
		return ' ' // whitespace-separated (e.g. the UCR time-series format)
	}
	return rune(best)
}

// readFields reads whitespace-separated lines (runs of spaces and tabs
// separate fields; no quoting).
func readFields(name string, r io.Reader, maxRecords int) (*table, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<26)
	t := &table{}
	line := 0
	for sc.Scan() && (maxRecords <= 0 || t.rows < maxRecords) {
		line++
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if t.rows == 0 {
			t.nc = len(fields)
			fields[0] = strings.TrimPrefix(fields[0], "\ufeff")
		} else if len(fields) != t.nc {
			return nil, fail(ErrFieldCount, name, "line %d has %d fields, the first row has %d; fix the row or check --comma", line, len(fields), t.nc)
		}
		t.lines = append(t.lines, line)
		for _, f := range fields {
			t.cells = append(t.cells, cleanField(f))
		}
		t.rows++
	}
	if err := sc.Err(); err != nil {
		return nil, failCause(ErrFormat, err, name, "read error: %v", err)
	}
	if t.rows == 0 {
		return nil, fail(ErrFormat, name, "is empty; pass a file with data rows")
	}
	return t, nil
}

// readTable reads every record (at most maxRecords when > 0) checking that
// all have the field count of the first.
func readTable(name string, r io.Reader, comma rune, maxRecords int) (*table, error) {
	cr := csv.NewReader(r)
	cr.Comma = comma
	cr.ReuseRecord = true
	cr.FieldsPerRecord = 0
	t := &table{}
	for maxRecords <= 0 || t.rows < maxRecords {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				if errors.Is(pe.Err, csv.ErrFieldCount) {
					return nil, failCause(ErrFieldCount, err, name, "line %d has %d fields, the first row has %d; fix the row (a stray delimiter or quote?) or check --comma", pe.StartLine, len(rec), t.nc)
				}
				return nil, failCause(ErrFormat, err, name, "line %d, column %d: %v; fix the quoting", pe.StartLine, pe.Column, pe.Err)
			}
			return nil, failCause(ErrFormat, err, name, "read error: %v", err)
		}
		if t.rows == 0 {
			t.nc = len(rec)
			rec[0] = strings.TrimPrefix(rec[0], "\ufeff")
		}
		line, _ := cr.FieldPos(0)
		t.lines = append(t.lines, line)
		for _, s := range rec {
			t.cells = append(t.cells, cleanField(s))
		}
		t.rows++
	}
	if t.rows == 0 {
		return nil, fail(ErrFormat, name, "is empty; pass a file with data rows")
	}
	return t, nil
}

// numericColumn classifies values: numeric when some non-missing value
// exists, and fewer than 1% of the non-missing values fail to parse as a
// finite number (those few are reported as bad values rather than turning
// the column categorical). A column of missing values only is numeric.
func numericColumn(t *table, c int, rows []int) bool {
	num, bad := 0, 0
	for _, r := range rows {
		s := t.cell(r, c)
		if isMissing(s) {
			continue
		}
		if _, ok := parseNumber(s); ok {
			num++
		} else {
			bad++
		}
	}
	return bad*100 < num+bad || num+bad == 0
}

// detectHeader: the first row has a non-numeric field in a column that is
// numeric in the rows below it (looking at up to 1000 rows).
func detectHeader(t *table) bool {
	if t.rows == 1 {
		// a lone row of names (no number in it) is a header over no data,
		// not one row of categories
		for c := 0; c < t.nc; c++ {
			if _, ok := parseNumber(t.cell(0, c)); ok || isMissing(t.cell(0, c)) {
				return false
			}
		}
		return true
	}
	if t.rows < 2 {
		return false
	}
	below := make([]int, 0, min(t.rows-1, 1000))
	for r := 1; r < t.rows && len(below) < cap(below); r++ {
		below = append(below, r)
	}
	for c := 0; c < t.nc; c++ {
		h := t.cell(0, c)
		if isMissing(h) {
			continue
		}
		if _, ok := parseNumber(h); ok {
			continue
		}
		num := 0
		for _, r := range below {
			if _, ok := parseNumber(t.cell(r, c)); ok {
				num++
			}
		}
		if num > 0 && numericColumn(t, c, below) {
			return true
		}
	}
	return false
}

// fillNames names unnamed columns "col<index>".
func fillNames(names []string) {
	for i, n := range names {
		if n == "" {
			names[i] = "col" + strconv.Itoa(i)
		}
	}
}

// resolveColumn finds a column by name, else by 0-based index.
func resolveColumn(names []string, ref string) int {
	if i := slices.Index(names, ref); i >= 0 {
		return i
	}
	if i, err := strconv.Atoi(ref); err == nil && i >= 0 && i < len(names) {
		return i
	}
	return -1
}

func listNames(names []string) string {
	const k = 12
	if len(names) > k {
		return strings.Join(names[:k], ", ") + fmt.Sprintf(", … (%d columns)", len(names))
	}
	return strings.Join(names, ", ")
}

func loadCSV(name string, df *dataFile, pre *Preprocessor, opt LoadOptions) (*Dataset, error) {
	comma := opt.Comma
	if comma == 0 && pre != nil && pre.Comma != "" {
		comma, _ = utf8.DecodeRuneInString(pre.Comma)
	}
	if comma == 0 {
		comma = detectComma(df.r)
	}
	maxRecords := 0
	if opt.MaxRows > 0 {
		maxRecords = opt.MaxRows + 1 // room for a header
	}
	var t *table
	var err error
	if comma == ' ' {
		t, err = readFields(name, df.r, maxRecords)
	} else {
		t, err = readTable(name, df.r, comma, maxRecords)
	}
	if err != nil {
		return nil, err
	}
	if pre != nil {
		return applyCSV(name, t, pre, opt)
	}
	return fitCSV(name, t, comma, opt)
}

// finishRows applies the header decision and MaxRows.
func finishRows(t *table, header bool, maxRows int) {
	if header {
		t.dropFirst()
	}
	if maxRows > 0 && t.rows > maxRows {
		t.rows = maxRows
		t.cells = t.cells[:maxRows*t.nc]
		t.lines = t.lines[:maxRows]
	}
	t.nums = make([]int, t.rows)
	for i := range t.nums {
		t.nums[i] = i + 1
	}
}

func fitCSV(name string, t *table, comma rune, opt LoadOptions) (*Dataset, error) {
	header := false
	if opt.Header != nil {
		header = *opt.Header
	} else {
		header = detectHeader(t)
	}
	var names []string
	switch {
	case opt.Columns != nil:
		if len(opt.Columns) != t.nc {
			return nil, fail(ErrColumn, name, "%d column names given but the file has %d fields per row; pass %d names", len(opt.Columns), t.nc, t.nc)
		}
		names = slices.Clone(opt.Columns)
	case header:
		names = slices.Clone(t.row(0))
	default:
		names = make([]string, t.nc)
	}
	fillNames(names)
	for i, n := range names {
		if j := slices.Index(names[i+1:], n); j >= 0 {
			return nil, fail(ErrColumn, name, "column name %q appears twice (columns %d and %d); rename one or pass --columns", n, i, i+1+j)
		}
	}
	finishRows(t, header, opt.MaxRows)
	if t.rows == 0 {
		return nil, fail(ErrFormat, name, "has a header but no data rows; pass a file with data")
	}

	pre := &Preprocessor{
		Kind: KindTable, Format: FormatCSV, Header: header, Comma: string(comma),
		Missing: opt.missing(), LabelIndex: -1, Normal: opt.Normal,
	}
	pre.Columns = make([]ColumnSpec, t.nc)
	for i := range pre.Columns {
		pre.Columns[i] = ColumnSpec{Name: names[i], Role: RoleFeature}
	}
	if opt.Label != "" {
		li := resolveColumn(names, opt.Label)
		if li < 0 {
			return nil, fail(ErrColumn, name, "label column %q not found; columns are %s (or pass a 0-based index)", opt.Label, listNames(names))
		}
		pre.LabelIndex, pre.Label = li, names[li]
		pre.Columns[li].Role = RoleLabel
	}
	for _, d := range opt.Drop {
		di := resolveColumn(names, d)
		if di < 0 {
			return nil, fail(ErrColumn, name, "column %q to drop not found; columns are %s (or pass a 0-based index)", d, listNames(names))
		}
		if di == pre.LabelIndex {
			return nil, fail(ErrColumn, name, "column %q is both the label and dropped; remove it from --drop", d)
		}
		pre.Columns[di].Role = RoleDrop
		pre.Drop = append(pre.Drop, names[di])
	}

	var labels []string
	if pre.LabelIndex >= 0 {
		labels = make([]string, t.rows)
		for r := range labels {
			labels[r] = t.cell(r, pre.LabelIndex)
		}
	} else if opt.Normal != "" {
		return nil, fail(ErrOption, name, "--normal %q needs --label to say which column holds the labels", opt.Normal)
	}
	if opt.Normal != "" {
		keep, err := normalRows(name, labels, opt.Normal)
		if err != nil {
			return nil, err
		}
		t, labels = t.filter(keep, labels)
	}
	rows := make([]int, t.rows)
	for i := range rows {
		rows[i] = i
	}

	scale := opt.Scale
	switch scale {
	case "", "auto":
		scale = ScaleStandardize
	case ScaleUnit:
		return nil, fail(ErrOption, name, "scale %q is for images; pass --scale auto, standardize, minmax or none", scale)
	}
	pre.Scale = scale
	vals := make([]float64, 0, t.rows)
	var warnings []string
	d := 0
	for c := range pre.Columns {
		spec := &pre.Columns[c]
		if spec.Role != RoleFeature {
			continue
		}
		if numericColumn(t, c, rows) {
			spec.Type = TypeNumeric
			vals = vals[:0]
			for r := range t.rows {
				if v, ok := parseNumber(t.cell(r, c)); ok {
					vals = append(vals, v)
				}
			}
			numericStats(spec, vals, scale)
			d++
			continue
		}
		spec.Type = TypeCategorical
		counts := map[string]int{}
		for r := range t.rows {
			if s := t.cell(r, c); !isMissing(s) {
				counts[s]++
			}
		}
		spec.Categories = make([]string, 0, len(counts))
		for s := range counts {
			spec.Categories = append(spec.Categories, s)
		}
		slices.Sort(spec.Categories)
		best := -1
		for _, s := range spec.Categories {
			if counts[s] > best {
				spec.Mode, best = s, counts[s]
			}
		}
		d += len(spec.Categories)
		if k := len(spec.Categories); k > 100 && 2*k > t.rows {
			warnings = append(warnings, fmt.Sprintf("%s: column %q has %d distinct values in %d rows (an ID or a timestamp?) and becomes %d one-hot columns; pass --drop %q if it is not a feature", name, spec.Name, k, t.rows, k, spec.Name))
		}
	}
	if d == 0 {
		return nil, fail(ErrColumn, name, "no feature columns left after the label and --drop; keep at least one column")
	}
	pre.InputShape = []int{d}
	ds, err := encodeCSV(name, t, nil, labels, pre, pre.Missing)
	if err != nil {
		return nil, err
	}
	ds.Warnings = append(warnings, ds.Warnings...)
	return ds, nil
}

// encodeCSV encodes every row of t; pos maps pre.Columns to file columns
// (nil: identity; -1: absent).
func encodeCSV(name string, t *table, pos []int, labels []string, pre *Preprocessor, missing string) (*Dataset, error) {
	x := tensor.New(t.rows, pre.Dim())
	rec := make([]string, len(pre.Columns))
	unknown := make([]int, len(pre.Columns))
	first := make([]string, len(pre.Columns))
	for r := range t.rows {
		row := t.row(r)
		for i := range rec {
			switch {
			case pos == nil:
				rec[i] = row[i]
			case pos[i] < 0:
				rec[i] = ""
			default:
				rec[i] = row[pos[i]]
			}
		}
		if e := pre.encodeTable(rec, x.Row(r), missing, unknown); e != nil {
			kind, msg := pre.cellMessage(e)
			return nil, fail(kind, name, "row %d (line %d), %s", t.nums[r], t.lines[r], msg)
		}
		for i, n := range unknown {
			if n == 1 && first[i] == "" {
				first[i] = rec[i]
			}
		}
	}
	ds := &Dataset{X: x, Shape: slices.Clone(pre.InputShape), Labels: labels, Features: pre.Features(), Pre: pre}
	for i, n := range unknown {
		if n == 0 {
			continue
		}
		if ds.Unknown == nil {
			ds.Unknown = map[string]int{}
		}
		c := pre.Columns[i].Name
		ds.Unknown[c] = n
		if ds.firstUnknown == nil {
			ds.firstUnknown = map[string]string{}
		}
		ds.firstUnknown[c] = first[i]
		ds.Warnings = append(ds.Warnings, unknownWarning(name, c, n, first[i]))
	}
	return ds, nil
}

// applyHeader decides whether row 0 of a file to be scored is a header,
// using what the preprocessor knows about the columns.
func applyHeader(t *table, pre *Preprocessor) bool {
	if t.rows == 0 {
		return false
	}
	row0 := t.row(0)
	for _, s := range row0 {
		if pre.columnIndex(s) >= 0 {
			if _, num := parseNumber(s); !num {
				return true
			}
		}
	}
	if t.nc == len(pre.Columns) {
		for i, c := range pre.Columns {
			s := row0[i]
			if c.Role == RoleFeature && c.Type == TypeNumeric && !isMissing(s) {
				if _, ok := parseNumber(s); !ok {
					return true
				}
			}
		}
		return false
	}
	return detectHeader(t)
}

func applyCSV(name string, t *table, pre *Preprocessor, opt LoadOptions) (*Dataset, error) {
	if pre.Kind != KindTable {
		return nil, fail(ErrFormat, name, "the model was trained on %s data, this is CSV; pass a %s file", pre.Kind, pre.Format)
	}
	header := false
	if opt.Header != nil {
		header = *opt.Header
	} else {
		header = applyHeader(t, pre)
	}
	var names []string
	switch {
	case opt.Columns != nil:
		if len(opt.Columns) != t.nc {
			return nil, fail(ErrColumn, name, "%d column names given but the file has %d fields per row; pass %d names", len(opt.Columns), t.nc, t.nc)
		}
		names = opt.Columns
	case header:
		names = slices.Clone(t.row(0))
		fillNames(names)
	}
	pos := make([]int, len(pre.Columns))
	switch {
	case names != nil:
		var absent []string
		for i, c := range pre.Columns {
			pos[i] = slices.Index(names, c.Name)
			if pos[i] < 0 && c.Role == RoleFeature {
				absent = append(absent, c.Name)
			}
		}
		if absent != nil {
			return nil, fail(ErrColumn, name, "columns %s used by the model are missing; the file has %s; add them or pass --columns", strings.Join(absent, ", "), listNames(names))
		}
	case t.nc == len(pre.Columns):
		for i := range pos {
			pos[i] = i
		}
	case pre.LabelIndex >= 0 && t.nc == len(pre.Columns)-1:
		k := 0
		for i := range pos {
			if i == pre.LabelIndex {
				pos[i] = -1
				continue
			}
			pos[i] = k
			k++
		}
	default:
		want := fmt.Sprint(len(pre.Columns))
		if pre.LabelIndex >= 0 {
			want += fmt.Sprintf(" (or %d without the label)", len(pre.Columns)-1)
		}
		return nil, fail(ErrColumn, name, "has %d fields per row and no header, the model expects %s; add a header or pass --columns", t.nc, want)
	}
	finishRows(t, header, opt.MaxRows)
	if t.rows == 0 {
		return nil, fail(ErrFormat, name, "has a header but no data rows; pass a file with data")
	}
	var labels []string
	if pre.LabelIndex >= 0 && pos[pre.LabelIndex] >= 0 {
		labels = make([]string, t.rows)
		for r := range labels {
			labels[r] = t.cell(r, pos[pre.LabelIndex])
		}
	}
	var ids []string
	if opt.ID != "" {
		col := -1
		if names != nil {
			col = resolveColumn(names, opt.ID)
		} else if i, err := strconv.Atoi(opt.ID); err == nil && i >= 0 && i < t.nc {
			col = i
		}
		if col < 0 {
			return nil, fail(ErrColumn, name, "id column %q not found; columns are %s (or pass a 0-based index)", opt.ID, listNames(names))
		}
		ids = make([]string, t.rows)
		for r := range ids {
			ids[r] = t.cell(r, col)
		}
	}
	if opt.Normal != "" {
		keep, err := normalRows(name, labels, opt.Normal)
		if err != nil {
			return nil, err
		}
		t, labels = t.filter(keep, labels)
		if ids != nil {
			kept := make([]string, len(keep))
			for k, r := range keep {
				kept[k] = ids[r]
			}
			ids = kept
		}
	}
	missing := pre.Missing
	if opt.Missing != "" {
		missing = opt.Missing
	}
	ds, err := encodeCSV(name, t, pos, labels, pre, missing)
	if ds != nil {
		ds.IDs = ids
	}
	return ds, err
}

// unknownWarning says that n rows of file name had a category of column c
// not seen in training.
func unknownWarning(name, c string, n int, first string) string {
	return fmt.Sprintf("%s: column %q: %d rows have categories not seen in training (first %q); they are encoded as all-zero one-hot", name, c, n, first)
}
