package serve

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"regexp"
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

func (s *Server) handleScore(w http.ResponseWriter, r *http.Request) {
	l := s.cur.Load()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opt.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.writeError(w, http.StatusRequestEntityTooLarge, apiError{Error: fmt.Sprintf("request body is over %d bytes; send fewer rows per request", s.opt.MaxBodyBytes)})
			return
		}
		s.writeError(w, http.StatusBadRequest, apiError{Error: "reading the request body: " + err.Error()})
		return
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
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
	top := s.opt.Top
	if top == 0 {
		top = -1
	}
	res, err := l.det.ScoreWith(x, anomaly.ScoreOptions{Top: top})
	if err != nil {
		s.log.Error("scoring failed", "error", err)
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

func (s *Server) tooMany(n int) *reqError {
	return &reqError{code: http.StatusRequestEntityTooLarge, e: apiError{Error: fmt.Sprintf("%d rows is over the limit of %d per request; split the request", n, s.opt.MaxRows)}}
}

// parseJSON reads {"rows": [...]} or a bare array; each row is an object
// keyed by column name, or an array of values in training column order
// (numbers for NPY/image models).
func (s *Server) parseJSON(l *loaded, body []byte) (*tensor.Tensor, *reqError) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, badRequest(-1, 0, errors.New(`empty body; send {"rows": [{"column": value, ...}]}`))
	}
	var rows []json.RawMessage
	if body[0] == '[' {
		if err := json.Unmarshal(body, &rows); err != nil {
			return nil, badRequest(-1, 0, fmt.Errorf("body is not a JSON array of rows: %v", err))
		}
	} else {
		var env struct {
			Rows []json.RawMessage `json:"rows"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&env); err != nil {
			return nil, &reqError{code: http.StatusBadRequest, e: apiError{Error: fmt.Sprintf(`body is not {"rows": [...]}: %v`, err), Field: "rows"}}
		}
		rows = env.Rows
	}
	if len(rows) == 0 {
		return nil, &reqError{code: http.StatusBadRequest, e: apiError{Error: "no rows to score", Field: "rows"}}
	}
	if len(rows) > s.opt.MaxRows {
		return nil, s.tooMany(len(rows))
	}
	d := l.pre.Dim()
	x := tensor.New(append([]int{len(rows)}, l.pre.InputShape...)...)
	for i, raw := range rows {
		raw = bytes.TrimSpace(raw)
		dst := x.Data[i*d : (i+1)*d]
		switch {
		case len(raw) > 0 && raw[0] == '{':
			var obj map[string]any
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(&obj); err != nil {
				return nil, badRequest(i, 0, fmt.Errorf("row %d: %v", i, err))
			}
			rec := make(map[string]string, len(obj))
			for k, v := range obj {
				str, err := valueString(v)
				if err != nil {
					return nil, &reqError{code: http.StatusBadRequest, e: apiError{Error: fmt.Sprintf("row %d, column %q: %v", i, k, err), Field: k, Row: &i}}
				}
				rec[k] = str
			}
			v, err := l.pre.TransformRow(rec)
			if err != nil {
				return nil, badRequest(i, 0, fmt.Errorf("row %d: %w", i, err))
			}
			copy(dst, v)
		case len(raw) > 0 && raw[0] == '[':
			var vals []any
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(&vals); err != nil {
				return nil, badRequest(i, 0, fmt.Errorf("row %d: %v", i, err))
			}
			if err := encodeArray(l.pre, vals, dst); err != nil {
				return nil, badRequest(i, 0, fmt.Errorf("row %d: %w", i, err))
			}
		default:
			return nil, badRequest(i, 0, fmt.Errorf("row %d is neither an object keyed by column name nor an array of values", i))
		}
	}
	return x, nil
}

func valueString(v any) (string, error) {
	switch t := v.(type) {
	case nil:
		return "", nil
	case string:
		return t, nil
	case json.Number:
		return t.String(), nil
	case bool:
		if t {
			return "1", nil
		}
		return "0", nil
	}
	return "", errors.New("value is an object or array; send a number or a string")
}

// encodeArray encodes one row given as an array of values.
func encodeArray(pre *dataset.Preprocessor, vals []any, dst []float32) error {
	if pre.Kind == dataset.KindTable {
		rec := make([]string, len(vals))
		for j, v := range vals {
			str, err := valueString(v)
			if err != nil {
				return fmt.Errorf("value %d: %v", j, err)
			}
			rec[j] = str
		}
		t, err := pre.TransformRecords([][]string{rec})
		if err != nil {
			return err
		}
		copy(dst, t.Data)
		return nil
	}
	raw := make([]float32, len(vals))
	for j, v := range vals {
		n, ok := v.(json.Number)
		if !ok {
			return fmt.Errorf("value %d is %v, not a number", j, v)
		}
		f, err := strconv.ParseFloat(n.String(), 32)
		if err != nil {
			return fmt.Errorf("value %d (%s) is out of float32 range", j, n)
		}
		raw[j] = float32(f)
	}
	return pre.TransformValues(raw, dst)
}

// parseCSV reads a CSV body whose first line names the columns.
func (s *Server) parseCSV(l *loaded, body []byte) (*tensor.Tensor, *reqError) {
	if l.pre.Kind != dataset.KindTable {
		return nil, badRequest(-1, 0, fmt.Errorf("CSV bodies are for table models; this model reads %s data, send JSON arrays of numbers", l.pre.Kind))
	}
	cr := csv.NewReader(bytes.NewReader(body))
	cr.FieldsPerRecord = -1
	if first := bytes.IndexByte(body, '\n'); first > 0 && bytes.Count(body[:first], []byte(";")) > bytes.Count(body[:first], []byte(",")) {
		cr.Comma = ';'
	}
	header, err := cr.Read()
	if err != nil {
		return nil, badRequest(-1, 1, fmt.Errorf("line 1: the CSV body needs a header naming the columns: %v", err))
	}
	for i := range header {
		header[i] = strings.TrimSpace(strings.TrimPrefix(header[i], "\ufeff"))
	}
	var recs [][]float32
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, badRequest(len(recs), line, fmt.Errorf("line %d: %v", line, err))
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(rec) != len(header) {
			return nil, badRequest(len(recs), line, fmt.Errorf("line %d has %d fields, the header has %d", line, len(rec), len(header)))
		}
		if len(recs) >= s.opt.MaxRows {
			return nil, s.tooMany(len(recs) + 1)
		}
		m := make(map[string]string, len(header))
		for j, h := range header {
			m[h] = rec[j]
		}
		v, err := l.pre.TransformRow(m)
		if err != nil {
			return nil, badRequest(len(recs), line, fmt.Errorf("line %d: %w", line, err))
		}
		recs = append(recs, v)
	}
	if len(recs) == 0 {
		return nil, badRequest(-1, 2, errors.New("the CSV body has a header but no rows"))
	}
	d := l.pre.Dim()
	x := tensor.New(len(recs), d)
	for i, v := range recs {
		copy(x.Data[i*d:], v)
	}
	return x, nil
}
