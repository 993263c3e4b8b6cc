package serve

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Result is one scored row. A row whose score is not a finite number (a
// value so far out of range that its reconstruction error overflows) has
// a null score, is flagged, and says why in Error.
type Result struct {
	Score   *float64               `json:"score"`
	Anomaly bool                   `json:"anomaly"`
	Top     []anomaly.Contribution `json:"top,omitempty"`
	Error   string                 `json:"error,omitempty"`
}

// Response is the body of a successful POST /v1/score.
type Response struct {
	ModelVersion string   `json:"model_version"`
	Score        string   `json:"score"`     // the score metric
	Threshold    float64  `json:"threshold"` // score > threshold is anomalous
	Results      []Result `json:"results"`
}

var columnRE = regexp.MustCompile(`column "([^"]+)"`)

// reqError is a 4xx with its location.
type reqError struct {
	code int
	e    apiError
}

func (r *reqError) Error() string { return r.e.Error }

func badRequest(row, line int, err error) *reqError {
	msg := err.Error()
	e := apiError{Error: msg, Line: line}
	if row >= 0 {
		e.Row = &row
	}
	if m := columnRE.FindStringSubmatch(msg); m != nil {
		e.Field = m[1]
	}
	return &reqError{code: http.StatusBadRequest, e: e}
}

// badField is a 400 about one column of one row.
func badField(row int, field string, format string, args ...any) *reqError {
	return &reqError{code: http.StatusBadRequest, e: apiError{Error: fmt.Sprintf(format, args...), Field: field, Row: &row}}
}

// readError is the 4xx for a failure to read or parse the body: a 413 when
// it is over the limit, else a 400 with msg and the error.
func readError(err error, limit int64, row, line int, msg string) *reqError {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &reqError{code: http.StatusRequestEntityTooLarge, e: apiError{Error: fmt.Sprintf("request body is over %d bytes; send fewer rows per request", limit)}}
	}
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		err = errors.New("the body ends early")
	}
	return badRequest(row, line, fmt.Errorf("%s: %v", msg, err))
}

func (s *Server) handleScore(w http.ResponseWriter, r *http.Request) {
	l := s.cur.Load()
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body := http.MaxBytesReader(w, r.Body, l.maxBody)
	var x *tensor.Tensor
	var rerr *reqError
	switch ct {
	case "text/csv":
		x, rerr = s.parseCSV(l, body)
	case "application/json", "":
		x, rerr = s.parseJSON(l, body)
	default:
		s.writeError(w, http.StatusUnsupportedMediaType, apiError{Error: fmt.Sprintf("content type %q is not supported; send application/json or text/csv", ct)})
		return
	}
	if rerr != nil {
		s.writeError(w, rerr.code, rerr.e)
		return
	}
	info(r).rows = x.Rows()
	top := s.opt.Top
	if top == 0 {
		top = -1
	}
	res, err := l.det.ScoreWith(x, anomaly.ScoreOptions{Top: top})
	if err != nil {
		s.log.Error("scoring failed", "request_id", info(r).id, "error", err)
		s.writeError(w, http.StatusInternalServerError, apiError{Error: "scoring failed: " + err.Error()})
		return
	}
	resp := Response{ModelVersion: l.version, Score: l.th.Score, Threshold: l.th.Value, Results: make([]Result, len(res))}
	flagged := 0
	for i, r := range res {
		out := Result{Anomaly: r.Anomaly, Top: r.Top}
		if math.IsNaN(r.Score) || math.IsInf(r.Score, 0) {
			// JSON has no NaN or Inf: the row says what happened instead
			out.Anomaly = true
			out.Error = fmt.Sprintf("row %d: the score is not a finite number (%v): a value is so far outside the training range that its reconstruction error overflows; check the row", i, r.Score)
		} else {
			v := r.Score
			out.Score = &v
		}
		if out.Anomaly {
			flagged++
		}
		resp.Results[i] = out
	}
	s.metrics.rows.Add(float64(len(res)))
	s.metrics.anomalies.Add(float64(flagged))
	s.writeJSON(w, http.StatusOK, resp)
}

func (s *Server) tooMany() *reqError {
	return &reqError{code: http.StatusRequestEntityTooLarge, e: apiError{Error: fmt.Sprintf("more than %d rows; the limit is %d rows per request, split the request", s.opt.MaxRows, s.opt.MaxRows)}}
}

// rows collects rows in model space as they are parsed.
type rows struct {
	d    int
	data []float32
	n    int
}

// next is the row to fill.
func (b *rows) next() []float32 {
	b.data = slices.Grow(b.data, b.d)[:(b.n+1)*b.d]
	b.n++
	return b.data[(b.n-1)*b.d:]
}

func (b *rows) tensor(pre *dataset.Preprocessor) *tensor.Tensor {
	return tensor.From(b.data[:b.n*b.d], append([]int{b.n}, pre.InputShape...)...)
}

// parseJSON reads {"rows": [...]} or a bare array as a stream; each row
// is an object keyed by column name, or an array of values in training
// column order (numbers for NPY/image models). Only the rows in model
// space are kept, never the body. Anything after the document is refused.
func (s *Server) parseJSON(l *loaded, body io.Reader) (*tensor.Tensor, *reqError) {
	x := newLexer(body)
	limit := l.maxBody
	notRows := func(format string, args ...any) *reqError {
		return &reqError{code: http.StatusBadRequest, e: apiError{Error: `body is not {"rows": [...]}: ` + fmt.Sprintf(format, args...), Field: "rows"}}
	}
	bad := func(err error) *reqError {
		e := readError(err, limit, -1, 0, `body is not JSON {"rows": [...]}`)
		if e.code == http.StatusBadRequest {
			e.e.Field = "rows"
		}
		return e
	}
	c, err := x.peek()
	if err == io.EOF {
		return nil, badRequest(-1, 0, errors.New(`empty body; send {"rows": [{"column": value, ...}]}`))
	}
	if err != nil {
		return nil, bad(err)
	}
	envelope := c == '{'
	switch c {
	case '{':
		x.next()
		c, err := x.next()
		switch {
		case err != nil:
			return nil, bad(err)
		case c == '}':
			return nil, notRows("no rows")
		case c != '"':
			return nil, bad(x.syntax(c, "looking for a field name"))
		}
		key, err := x.str()
		if err != nil {
			return nil, bad(err)
		}
		if key != "rows" {
			return nil, notRows("unknown field %q", key)
		}
		if err := x.expect(':', "after a field name"); err != nil {
			return nil, bad(err)
		}
		if c, err = x.next(); err != nil {
			return nil, bad(err)
		}
		if c != '[' {
			return nil, notRows(`"rows" is not an array of rows`)
		}
	case '[':
		x.next()
	default:
		return nil, badRequest(-1, 0, errors.New(`body is neither {"rows": [...]} nor an array of rows`))
	}
	b := &rows{d: l.pre.Dim()}
	if c, err := x.peek(); err != nil {
		return nil, bad(early(err))
	} else if c == ']' {
		x.next()
	} else {
		for {
			if b.n >= s.opt.MaxRows {
				return nil, s.tooMany()
			}
			i := b.n
			if e := s.jsonRow(l, x, i, b.next()); e != nil {
				return nil, e
			}
			c, err := x.next()
			if err != nil {
				return nil, bad(err)
			}
			if c == ']' {
				break
			}
			if c != ',' {
				return nil, bad(x.syntax(c, "after a row"))
			}
		}
	}
	if envelope {
		c, err := x.next()
		switch {
		case err != nil:
			return nil, bad(err)
		case c == ',':
			if c, err := x.next(); err != nil || c != '"' {
				return nil, notRows("a field after rows")
			}
			key, err := x.str()
			if err != nil {
				return nil, bad(err)
			}
			if key == "rows" {
				return nil, notRows(`"rows" appears twice`)
			}
			return nil, notRows("unknown field %q", key)
		case c != '}':
			return nil, bad(x.syntax(c, "after the rows"))
		}
	}
	if _, err := x.peek(); err != io.EOF {
		if err != nil {
			return nil, readError(err, limit, -1, 0, "reading the body")
		}
		return nil, badRequest(-1, 0, errors.New("the body goes on after the JSON document; send one JSON document"))
	}
	if b.n == 0 {
		return nil, &reqError{code: http.StatusBadRequest, e: apiError{Error: "no rows to score", Field: "rows"}}
	}
	return b.tensor(l.pre), nil
}

// jsonRow reads row i (an object or an array) into dst.
func (s *Server) jsonRow(l *loaded, x *lexer, i int, dst []float32) *reqError {
	c, err := x.next()
	if err != nil {
		return readError(err, l.maxBody, i, 0, fmt.Sprintf("row %d is not JSON", i))
	}
	switch c {
	case '{':
		return s.jsonObject(l, x, i, dst)
	case '[':
		return s.jsonArray(l, x, i, dst)
	}
	return badRequest(i, 0, fmt.Errorf("row %d is neither an object keyed by column name nor an array of values", i))
}

// scalar checks one value of a row: a boolean, an object or an array is
// an error.
func scalar(k kind, v string) error {
	switch k {
	case kindBool:
		return fmt.Errorf("the value is %s, a JSON boolean; send a number, or a string for a categorical column", v)
	case kindNested:
		return errors.New("the value is an object or array; send a number or a string")
	}
	return nil
}

// jsonObject reads a row given as an object, whose { is consumed.
func (s *Server) jsonObject(l *loaded, x *lexer, i int, dst []float32) *reqError {
	if l.pre.Kind != dataset.KindTable {
		return badRequest(i, 0, fmt.Errorf("row %d: this model reads %s data, not named columns; send each row as an array of %d numbers", i, l.pre.Kind, l.pre.Dim()))
	}
	notJSON := func(err error) *reqError {
		return readError(err, l.maxBody, i, 0, fmt.Sprintf("row %d is not JSON", i))
	}
	rec := make(map[string]string, len(l.pre.Columns))
	if c, err := x.peek(); err != nil {
		return notJSON(early(err))
	} else if c == '}' {
		x.next()
	} else {
		for {
			if err := x.expect('"', "looking for a column name"); err != nil {
				return notJSON(err)
			}
			key, err := x.str()
			if err != nil {
				return notJSON(err)
			}
			if err := x.expect(':', "after a column name"); err != nil {
				return notJSON(err)
			}
			v, k, err := x.value()
			if err != nil {
				return notJSON(err)
			}
			if err := scalar(k, v); err != nil {
				return badField(i, key, "row %d, column %q: %v", i, key, err)
			}
			if _, ok := l.columns[key]; !ok {
				return badField(i, key, "row %d: unknown column %q; the model was trained on %s", i, key, strings.Join(l.pre.FeatureColumns(), ", "))
			}
			if _, dup := rec[key]; dup {
				return badField(i, key, "row %d: column %q appears twice", i, key)
			}
			rec[key] = v
			c, err := x.next()
			if err != nil {
				return notJSON(err)
			}
			if c == '}' {
				break
			}
			if c != ',' {
				return notJSON(x.syntax(c, "after a value"))
			}
		}
	}
	v, err := l.pre.TransformRow(rec)
	if err != nil {
		return badRequest(i, 0, fmt.Errorf("row %d: %w", i, err))
	}
	copy(dst, v)
	return nil
}

// jsonArray reads a row given as an array of values, whose [ is
// consumed: strings and numbers in training column order for a table
// (with or without the label), numbers (null for a missing one) for
// array and image models.
func (s *Server) jsonArray(l *loaded, x *lexer, i int, dst []float32) *reqError {
	pre := l.pre
	table := pre.Kind == dataset.KindTable
	want := pre.Dim()
	if table {
		want = len(pre.Columns)
	}
	notJSON := func(err error) *reqError {
		return readError(err, l.maxBody, i, 0, fmt.Sprintf("row %d is not JSON", i))
	}
	var strs []string
	var nums []float32
	n := 0
	if c, err := x.peek(); err != nil {
		return notJSON(early(err))
	} else if c == ']' {
		x.next()
	} else {
		for {
			if n >= want {
				return badRequest(i, 0, fmt.Errorf("row %d has more than %d values; the model takes %d", i, want, want))
			}
			v, k, err := x.value()
			if err != nil {
				return notJSON(err)
			}
			if table {
				if err := scalar(k, v); err != nil {
					return badRequest(i, 0, fmt.Errorf("row %d, value %d: %v", i, n, err))
				}
				strs = append(strs, v)
			} else {
				var f float32
				switch k {
				case kindNull:
					f = float32(math.NaN()) // missing
				case kindNumber:
					g, err := strconv.ParseFloat(v, 32)
					if err != nil {
						return badRequest(i, 0, fmt.Errorf("row %d, value %d (%q) is out of float32 range", i, n, v))
					}
					f = float32(g)
				default:
					return badRequest(i, 0, fmt.Errorf("row %d, value %d is not a number; this model takes numbers", i, n))
				}
				nums = append(nums, f)
			}
			n++
			c, err := x.next()
			if err != nil {
				return notJSON(err)
			}
			if c == ']' {
				break
			}
			if c != ',' {
				return notJSON(x.syntax(c, "after a value"))
			}
		}
	}
	var err error
	if table {
		var t *tensor.Tensor
		if t, err = pre.TransformRecords([][]string{strs}); err == nil {
			copy(dst, t.Data)
		}
	} else {
		err = pre.TransformValues(nums, dst)
	}
	if err != nil {
		// the dataset package numbers this one record 0
		msg := strings.Replace(err.Error(), "record 0, ", "", 1)
		msg = strings.Replace(msg, "record 0 ", "it ", 1)
		return badRequest(i, 0, fmt.Errorf("row %d: %s", i, msg))
	}
	return nil
}

// parseCSV reads a CSV body whose first line names the columns, row by
// row; only the rows in model space are kept, never the body.
func (s *Server) parseCSV(l *loaded, body io.Reader) (*tensor.Tensor, *reqError) {
	if l.pre.Kind != dataset.KindTable {
		return nil, badRequest(-1, 0, fmt.Errorf("CSV bodies are for table models; this model reads %s data, send JSON arrays of numbers", l.pre.Kind))
	}
	limit := l.maxBody
	br := bufio.NewReaderSize(body, 64<<10)
	cr := csv.NewReader(br)
	// the delimiter: ';' when the first line has more of them than ','
	first, _ := br.Peek(1)
	for len(first) > 0 && len(first) < br.Size() && bytes.IndexByte(first, '\n') < 0 {
		var err error
		if first, err = br.Peek(len(first) + 1); err != nil {
			break
		}
		first, _ = br.Peek(br.Buffered())
	}
	if k := bytes.IndexByte(first, '\n'); k >= 0 {
		first = first[:k]
	}
	if bytes.Count(first, []byte(";")) > bytes.Count(first, []byte(",")) {
		cr.Comma = ';'
	}
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, badRequest(-1, 1, errors.New("line 1: the body is empty; send a header naming the columns, then the rows"))
	}
	if err != nil {
		return nil, readError(err, limit, -1, 1, "line 1: the CSV body needs a header naming the columns")
	}
	header = slices.Clone(header)
	var unknown []string
	seen := make(map[string]bool, len(header))
	for i := range header {
		h := strings.TrimSpace(strings.TrimPrefix(header[i], "\ufeff"))
		header[i] = h
		if _, ok := l.columns[h]; !ok {
			unknown = append(unknown, h)
		} else if seen[h] {
			return nil, &reqError{code: http.StatusBadRequest, e: apiError{Error: fmt.Sprintf("line 1: column %q appears twice in the header", h), Field: h, Line: 1}}
		}
		seen[h] = true
	}
	if len(unknown) > 0 {
		return nil, badRequest(-1, 1, fmt.Errorf("line 1: unknown columns %q; the model was trained on %s", unknown, strings.Join(l.pre.FeatureColumns(), ", ")))
	}
	b := &rows{d: l.pre.Dim()}
	m := make(map[string]string, len(header))
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, readError(pe.Err, limit, b.n, pe.StartLine, fmt.Sprintf("line %d", pe.StartLine))
			}
			return nil, readError(err, limit, b.n, 0, "reading the body")
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // a blank line
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != len(header) {
			return nil, badRequest(b.n, line, fmt.Errorf("line %d has %d fields, the header has %d", line, len(rec), len(header)))
		}
		if b.n >= s.opt.MaxRows {
			return nil, s.tooMany()
		}
		clear(m)
		for j, h := range header {
			m[h] = rec[j]
		}
		v, err := l.pre.TransformRow(m)
		if err != nil {
			return nil, badRequest(b.n, line, fmt.Errorf("line %d: %w", line, err))
		}
		copy(b.next(), v)
	}
	if b.n == 0 {
		return nil, badRequest(-1, 2, errors.New("the CSV body has a header but no rows"))
	}
	return b.tensor(l.pre), nil
}
