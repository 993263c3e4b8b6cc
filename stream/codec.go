package stream

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
)

// Input formats.
const (
	FormatJSON = "json" // one JSON object per message, keyed by column name
	FormatCSV  = "csv"  // one CSV line per message, in the model's column order
)

// Output is the message written for every scored input, as JSON. Its
// message key (Kafka) or Bottleneck-Id header (NATS) is the id: the text
// of a string id, the JSON of any other.
type Output struct {
	// ID is the input's --id field, copied as it was (any JSON value), or
	// without one the broker's coordinates of the input: the stream
	// sequence (NATS, a number) or "partition:offset" (Kafka, a string).
	ID json.RawMessage `json:"id"`
	// Score is the anomaly score; null when it is not a finite number (a
	// value so far out of range that the reconstruction error overflows:
	// the message is then flagged and Error says so).
	Score     *float64               `json:"score"`
	Anomaly   bool                   `json:"anomaly"`   // Score > Threshold
	Threshold float64                `json:"threshold"` // the model's decision threshold
	Top       []anomaly.Contribution `json:"top"`       // the columns with the largest share of the error
	Model     string                 `json:"model"`     // the model's version (anomaly.Detector.Version)
	Error     string                 `json:"error,omitempty"`
}

// DeadLetter is the message written to the dead-letter destination for an
// input that could not be scored (not JSON, a missing column, a value that
// is not a finite number, …).
type DeadLetter struct {
	ID    json.RawMessage `json:"id"`    // the --id value when it could be read, else the broker's coordinates
	Error string          `json:"error"` // why it could not be scored
	// Payload is the input message as it was, when it is UTF-8 text;
	// PayloadBase64 holds it otherwise.
	Payload       *string `json:"payload,omitempty"`
	PayloadBase64 []byte  `json:"payload_base64,omitempty"`
	Source        string  `json:"source"` // the subject or topic it was read from
	Model         string  `json:"model"`
}

// codec turns input payloads into model rows.
type codec struct {
	pre    *dataset.Preprocessor
	format string
	id     string // JSON: the id field's name
	idPos  int    // CSV: the id field's index, -1 none
	// idIsColumn: the JSON id field is also a column of the model's
	// (used as it was trained to be, and copied)
	idIsColumn bool
	cols       map[string]int // column name → index in pre.Columns
}

func newCodec(pre *dataset.Preprocessor, format, id string) (*codec, error) {
	c := &codec{pre: pre, format: format, id: id, idPos: -1}
	c.cols = make(map[string]int, len(pre.Columns))
	for i, col := range pre.Columns {
		c.idIsColumn = c.idIsColumn || (id != "" && col.Name == id)
		c.cols[col.Name] = i
	}
	switch format {
	case "", FormatJSON:
		c.format = FormatJSON
	case FormatCSV:
		if id != "" {
			i, err := strconv.Atoi(id)
			if err != nil || i < 0 || i > len(pre.Columns) {
				return nil, fmt.Errorf("stream: id %q: a CSV message has no field names; pass the id field's 0-based index (0 to %d)", id, len(pre.Columns))
			}
			c.idPos = i
		}
	default:
		return nil, fmt.Errorf("stream: format %q: want json or csv", format)
	}
	return c, nil
}

// decode reads one payload into dst (the model's Dim values). id is the
// --id value as JSON, nil without one.
func (c *codec) decode(payload []byte, dst []float32) (id json.RawMessage, err error) {
	if c.format == FormatCSV {
		return c.decodeCSV(payload, dst)
	}
	if id, err, ok := c.decodeFlat(payload, dst); ok {
		return id, err
	}
	return c.decodeJSON(payload, dst)
}

// decodeJSON reads any JSON payload with encoding/json.
func (c *codec) decodeJSON(payload []byte, dst []float32) (id json.RawMessage, err error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(payload, &obj); err != nil {
		return nil, fmt.Errorf("not a JSON object keyed by column name: %v", err)
	}
	if obj == nil {
		return nil, errors.New("not a JSON object keyed by column name: null")
	}
	if c.id != "" {
		raw, ok := obj[c.id]
		if !ok {
			return nil, fmt.Errorf("no field %q (the id field)", c.id)
		}
		id = raw
		if !c.idIsColumn {
			delete(obj, c.id)
		}
	}
	row := make(map[string]string, len(obj))
	for k, raw := range obj {
		v, err := jsonValue(raw)
		if err != nil {
			return id, fmt.Errorf("column %q: %v", k, err)
		}
		row[k] = v
	}
	x, err := c.pre.TransformRow(row)
	if err != nil {
		return id, err
	}
	copy(dst, x)
	return id, nil
}

// decodeFlat is decode's fast path for what messages usually are: one
// flat JSON object whose keys and strings have no escapes, its values
// numbers, strings or null. ok is false for anything else, which the
// general path (encoding/json) then reads and judges.
func (c *codec) decodeFlat(p []byte, dst []float32) (id json.RawMessage, err error, ok bool) {
	rec := make([]string, len(c.pre.Columns))
	var unknown []string
	ok = scanFlat(p, func(k, raw []byte, v string) {
		if c.id != "" && string(k) == c.id {
			id = json.RawMessage(raw)
		}
		if col, known := c.cols[string(k)]; known {
			rec[col] = v
		} else if string(k) != c.id {
			unknown = append(unknown, string(k))
		}
	})
	if !ok {
		return nil, nil, false
	}
	if c.id != "" && id == nil {
		return nil, fmt.Errorf("no field %q (the id field)", c.id), true
	}
	if unknown != nil {
		slices.Sort(unknown)
		return id, fmt.Errorf("dataset: row: unknown columns %q; the model was trained on %s", unknown, strings.Join(c.pre.FeatureColumns(), ", ")), true
	}
	x, err := c.pre.TransformRecords([][]string{rec})
	if err != nil {
		// word it as TransformRow (the general path) does
		return id, errors.New(strings.Replace(err.Error(), "records: record 0, ", "row: ", 1)), true
	}
	copy(dst, x.Data)
	return id, nil, true
}

// scanFlat reads p as one flat JSON object whose keys and strings have no
// escapes and whose values are numbers, strings or null, calling field
// with each key, its value's JSON and its value as CSV text (numbers as
// written, null as ""). It returns false, having called field for some
// keys perhaps, when p is anything else (encoding/json then reads it).
func scanFlat(p []byte, field func(key, raw []byte, value string)) bool {
	i := 0
	ws := func() {
		for i < len(p) && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r') {
			i++
		}
	}
	str := func() ([]byte, bool) { // at '"'
		j := i + 1
		for j < len(p) && p[j] != '"' {
			if p[j] == '\\' || p[j] < 0x20 {
				return nil, false
			}
			j++
		}
		if j >= len(p) {
			return nil, false
		}
		s := p[i+1 : j]
		i = j + 1
		return s, true
	}
	ws()
	if i >= len(p) || p[i] != '{' {
		return false
	}
	i++
	for first := true; ; first = false {
		ws()
		if i < len(p) && p[i] == '}' && first {
			i++
			break
		}
		if i >= len(p) || p[i] != '"' {
			return false
		}
		k, ok := str()
		if !ok {
			return false
		}
		ws()
		if i >= len(p) || p[i] != ':' {
			return false
		}
		i++
		ws()
		if i >= len(p) {
			return false
		}
		start := i
		var v string
		switch b := p[i]; {
		case b == '"':
			s, ok := str()
			if !ok {
				return false
			}
			v = string(s)
		case b == '-' || b >= '0' && b <= '9':
			if i = numberEnd(p, i); i < 0 {
				return false
			}
			v = string(p[start:i])
		case b == 'n' && len(p)-i >= 4 && string(p[i:i+4]) == "null":
			i += 4
		default: // true, false, objects, arrays
			return false
		}
		field(k, p[start:i], v)
		ws()
		if i < len(p) && p[i] == ',' {
			i++
			continue
		}
		if i < len(p) && p[i] == '}' {
			i++
			break
		}
		return false
	}
	ws()
	return i == len(p)
}

// numberEnd is the end of the JSON number starting at p[i], or -1 when
// there is none: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func numberEnd(p []byte, i int) int {
	digits := func() int {
		j := i
		for i < len(p) && p[i] >= '0' && p[i] <= '9' {
			i++
		}
		return i - j
	}
	if i < len(p) && p[i] == '-' {
		i++
	}
	if i < len(p) && p[i] == '0' {
		i++
	} else if digits() == 0 {
		return -1
	}
	if i < len(p) && p[i] == '.' {
		i++
		if digits() == 0 {
			return -1
		}
	}
	if i < len(p) && (p[i] == 'e' || p[i] == 'E') {
		i++
		if i < len(p) && (p[i] == '+' || p[i] == '-') {
			i++
		}
		if digits() == 0 {
			return -1
		}
	}
	return i
}

// jsonValue is a JSON value as the text a CSV cell would hold: numbers as
// written, strings as they are, null as missing.
func jsonValue(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", errors.New("no value")
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	case 'n':
		return "", nil
	case 't', 'f':
		return "", fmt.Errorf("%s is not a number or a category; send 1 or 0, or a string", raw)
	case '{', '[':
		return "", errors.New("an object or array is not a value; send a number or a string")
	}
	return string(raw), nil
}

func (c *codec) decodeCSV(payload []byte, dst []float32) (json.RawMessage, error) {
	r := csv.NewReader(bytes.NewReader(payload))
	r.FieldsPerRecord = -1
	if c.pre.Comma != "" {
		r.Comma, _ = utf8.DecodeRuneInString(c.pre.Comma)
		if r.Comma == ' ' {
			r.Comma = ','
		}
	}
	fields, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("not a CSV line: %v", err)
	}
	if _, err := r.Read(); err == nil {
		return nil, errors.New("more than one CSV line; send one row per message")
	}
	var id json.RawMessage
	if c.idPos >= 0 {
		if c.idPos >= len(fields) {
			return nil, fmt.Errorf("%d fields, no field %d (the id field)", len(fields), c.idPos)
		}
		id, _ = json.Marshal(fields[c.idPos])
		fields = append(fields[:c.idPos:c.idPos], fields[c.idPos+1:]...)
	}
	x, err := c.pre.TransformRecords([][]string{fields})
	if err != nil {
		return id, err
	}
	copy(dst, x.Data)
	return id, nil
}

// key is the message key of an id: a string's text, any other value's
// JSON.
func key(id json.RawMessage) string {
	if len(id) > 0 && id[0] == '"' {
		var s string
		if json.Unmarshal(id, &s) == nil {
			return s
		}
	}
	return string(id)
}

// encodeOutput writes the output message of one scored row.
func encodeOutput(id json.RawMessage, r anomaly.Result, th float64, version string) []byte {
	o := Output{ID: id, Anomaly: r.Anomaly, Threshold: th, Top: r.Top, Model: version}
	if o.Top == nil {
		o.Top = []anomaly.Contribution{}
	}
	if math.IsNaN(r.Score) || math.IsInf(r.Score, 0) {
		o.Anomaly = true
		o.Error = fmt.Sprintf("the score is not a finite number (%v): a value is so far outside the training range that its reconstruction error overflows; check the message", r.Score)
	} else {
		v := r.Score
		o.Score = &v
	}
	b, _ := json.Marshal(o)
	return b
}

// encodeDead writes the dead-letter message of an input.
func encodeDead(id json.RawMessage, cause error, payload []byte, source, version string) []byte {
	d := DeadLetter{ID: id, Error: cause.Error(), Source: source, Model: version}
	if utf8.Valid(payload) {
		s := string(payload)
		d.Payload = &s
	} else {
		d.PayloadBase64 = payload
	}
	b, _ := json.Marshal(d)
	return b
}
