package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/train"
)

// endless is a reader of prefix, then row forever; it counts what it gave.
type endless struct {
	prefix io.Reader
	row    []byte
	off    int
	n      int64
}

func (e *endless) Read(p []byte) (int, error) {
	n, _ := e.prefix.Read(p)
	for n < len(p) {
		k := copy(p[n:], e.row[e.off:])
		e.off = (e.off + k) % len(e.row)
		n += k
	}
	e.n += int64(n)
	return n, nil
}

// The body is parsed as a stream: a bad first row, or one row too many,
// is answered without reading the rest of the body (an endless one here,
// which a reader of whole bodies would read up to the body limit).
func TestStreamedBody(t *testing.T) {
	const limit = 64 << 20
	s, err := New(testDetector(t, 1, ""), Options{MaxRows: 100, MaxBodyBytes: limit})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, ctype, prefix, row string
		code                     int
		msg                      string
	}{
		{"bad first row", "application/json", `[["lots", 2, "de"],`, `[1, 2, "de"],`, 400, `"lots" is not a number`},
		{"too many rows", "application/json", `{"rows": [`, `{"amount": 1, "hour": 2, "country": "de"},`, 413, "more than 100 rows"},
		{"csv too many rows", "text/csv", "amount,hour,country\n", "1,2,de\n", 413, "more than 100 rows"},
		{"csv bad first row", "text/csv", "amount,hour,country\n1,x,de\n", "1,2,de\n", 400, `"x" is not a number`},
	} {
		body := &endless{prefix: strings.NewReader(c.prefix), row: []byte(c.row)}
		req := httptest.NewRequest("POST", "/v1/score", body)
		req.Header.Set("Content-Type", c.ctype)
		req.ContentLength = -1
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		var e apiError
		if rec.Code != c.code || json.Unmarshal(rec.Body.Bytes(), &e) != nil || !strings.Contains(e.Error, c.msg) {
			t.Errorf("%s: %d %s; want %d saying %s", c.name, rec.Code, rec.Body, c.code, c.msg)
		}
		if body.n > 1<<20 {
			t.Errorf("%s: read %d bytes of the body to answer; want a few rows' worth", c.name, body.n)
		}
	}
}

// wideDetector trains a detector on a table of cols numeric columns with
// long names, and a categorical one.
func wideDetector(t testing.TB, cols int) (*anomaly.Detector, []string) {
	t.Helper()
	names := make([]string, cols)
	for j := range names {
		names[j] = fmt.Sprintf("measurement_of_something_%02d", j)
	}
	var b strings.Builder
	b.WriteString(strings.Join(names, ",") + ",kind\n")
	for i := range 64 {
		for j := range names {
			fmt.Fprintf(&b, "%d.%d,", (i*7+j)%13, j)
		}
		b.WriteString([]string{"tcp", "udp"}[i%2] + "\n")
	}
	ds, err := dataset.LoadFS(fstest.MapFS{"w.csv": {Data: []byte(b.String())}}, "w.csv", dataset.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	det, err := anomaly.Train(context.Background(), ds, anomaly.TrainOptions{Hidden: []int{8}, Code: 2, Seed: 1, Val: -1,
		Threshold: "contamination:0.1", Fit: train.Options{Epochs: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return det, names
}

// The default body limit holds MaxRows rows of a wide table sent as JSON
// objects with numbers in full float64 precision.
func TestBodyLimitHoldsMaxRows(t *testing.T) {
	det, names := wideDetector(t, 41)
	const rows = 10000
	s, err := New(det, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.WriteString(`{"rows": [`)
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("{")
		for j, n := range names {
			fmt.Fprintf(&b, `"%s": %v, `, n, -1.2345678901234567e-300*float64(j+i%7+1)) // 24 characters
		}
		b.WriteString(`"kind": "udp"}`)
	}
	b.WriteString("]}")
	if int64(b.Len()) > s.BodyLimit() {
		t.Fatalf("%d rows of %d columns as JSON take %d bytes; the body limit is %d", rows, len(names)+1, b.Len(), s.BodyLimit())
	}
	t.Logf("%d rows × %d columns: %d bytes, body limit %d", rows, len(names)+1, b.Len(), s.BodyLimit())
	if raceEnabled {
		return // 10,000 rows take too long under the race detector; the size is checked
	}
	code, _, raw := do(t, s, "POST", "/v1/score", "application/json", b.String())
	if code != 200 {
		t.Fatalf("%d rows: %d %s", rows, code, raw[:min(len(raw), 300)])
	}
	if n := len(decode(t, raw).Results); n != rows {
		t.Errorf("%d results; want %d", n, rows)
	}
}

// JSON bodies are strict: booleans are not numbers, and nothing may
// follow the document.
func TestStrictJSON(t *testing.T) {
	s, err := New(testDetector(t, 1, ""), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, body, field string }{
		{"true for a number", `{"rows": [{"amount": true, "hour": 2, "country": "de"}]}`, "amount"},
		{"false for a number", `{"rows": [{"amount": 1, "hour": false, "country": "de"}]}`, "hour"},
		{"boolean in an array row", `[[true, 2, "de"]]`, ""},
		{"trailing garbage", `{"rows": [[1, 2, "de"]]} x`, ""},
		{"trailing garbage after an array", `[[1, 2, "de"]]]`, ""},
		{"two documents", `[[1, 2, "de"]] [[1, 2, "de"]]`, ""},
		{"rows twice", `{"rows": [[1, 2, "de"]], "rows": [[1, 2, "de"]]}`, "rows"},
		{"a field after rows", `{"rows": [[1, 2, "de"]], "limit": 1}`, "rows"},
		{"column twice", `[{"amount": 1, "amount": 2, "hour": 2, "country": "de"}]`, "amount"},
		{"rows not an array", `{"rows": {"amount": 1}}`, "rows"},
		{"truncated", `{"rows": [[1, 2, "de"]`, "rows"},
	} {
		code, out, raw := do(t, s, "POST", "/v1/score", "application/json", c.body)
		if code != 400 || out["error"] == nil {
			t.Errorf("%s: %d %s; want a 400 JSON error", c.name, code, raw)
			continue
		}
		if c.field != "" && out["field"] != c.field {
			t.Errorf("%s: field %v; want %s (%s)", c.name, out["field"], c.field, raw)
		}
	}
	// whitespace after the document is fine
	if code, _, raw := do(t, s, "POST", "/v1/score", "application/json", "[[1, 2, \"de\"]]\n\t \n"); code != 200 {
		t.Errorf("trailing whitespace: %d %s", code, raw)
	}
}

var flagInText = regexp.MustCompile(`(^|[^\w-])--[a-z]`)

// Error responses repeat at most ~100 characters of a value and never
// name a command-line flag.
func TestErrorsForAPIClients(t *testing.T) {
	s, err := New(testDetector(t, 1, ""), Options{})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 5000)
	many := make([]string, 500)
	for i := range many {
		many[i] = fmt.Sprintf("column_that_does_not_exist_%d", i)
	}
	for _, c := range []struct{ name, ctype, body string }{
		{"missing value", "application/json", `[{"amount": 1, "country": "de"}]`},
		{"null value", "application/json", `[{"amount": null, "hour": 2, "country": "de"}]`},
		{"not a number", "application/json", `[{"amount": "lots", "hour": 2, "country": "de"}]`},
		{"out of range", "application/json", `[{"amount": 1e300, "hour": 2, "country": "de"}]`},
		{"long value", "application/json", `[{"amount": "` + long + `", "hour": 2, "country": "de"}]`},
		{"long value in an array", "application/json", `[["` + long + `", 2, "de"]]`},
		{"long number", "application/json", `[[1` + strings.Repeat("0", 5000) + `, 2, "de"]]`},
		{"long column name", "application/json", `[{"` + long + `": 1}]`},
		{"csv long value", "text/csv", "amount,hour,country\n" + long + ",2,de\n"},
		{"csv missing value", "text/csv", "amount,hour,country\n1,,de\n"},
		{"csv unknown columns", "text/csv", strings.Join(many, ",") + "\n1\n"},
		{"csv long column", "text/csv", long + "\n1\n"},
	} {
		code, out, raw := do(t, s, "POST", "/v1/score", c.ctype, c.body)
		msg, _ := out["error"].(string)
		if code != 400 || msg == "" {
			t.Errorf("%s: %d %.300s; want a 400 JSON error", c.name, code, raw)
			continue
		}
		if strings.Contains(msg, strings.Repeat("x", maxQuoted+1)) || strings.Contains(msg, strings.Repeat("0", maxQuoted+1)) || len(msg) > maxMessage+10 {
			t.Errorf("%s: the error repeats too much of the input (%d bytes): %.300s", c.name, len(msg), msg)
		}
		if f, _ := out["field"].(string); len(f) > maxQuoted+10 {
			t.Errorf("%s: field of %d bytes", c.name, len(f))
		}
		if flagInText.MatchString(msg) || strings.Contains(msg, "dataset:") {
			t.Errorf("%s: the error names a flag or a package: %s", c.name, msg)
		}
	}
	// a flag-like value of the client's own is quoted back as it is
	code, out, _ := do(t, s, "POST", "/v1/score", "", `[{"amount": "--scale", "hour": 2, "country": "de"}]`)
	if msg, _ := out["error"].(string); code != 400 || !strings.Contains(msg, `"--scale" is not a number`) {
		t.Errorf("a value that looks like a flag: %d %q", code, msg)
	}
}

func TestAPIText(t *testing.T) {
	long := strings.Repeat("é", 300)
	for _, c := range []struct{ in, want string }{
		{`dataset: row: column "a": value is missing (""); fix the value or pass --missing impute`,
			`column "a": value is missing (""); send a value (this model refuses missing values)`},
		{`line 3: dataset: row: column "a": "1e300" is out of float32 range after scaling; fix the value or pass --scale standardize`,
			`line 3: column "a": "1e300" is out of float32 range after scaling; send a value nearer the training range`},
		{`column "a": bad; pass --missing impute, or --scale none; then retry`, `column "a": bad; then retry`},
		{`value "--x" is bad; see --help`, `value "--x" is bad`},
		{`column "` + long + `" is bad`, `column "` + strings.Repeat("é", maxQuoted) + `…" is bad`},
	} {
		if got := apiText(c.in); got != c.want {
			t.Errorf("apiText(%.80q)\n = %q\nwant %q", c.in, got, c.want)
		}
	}
}

// Every request is logged once with its method, path, status, rows,
// duration and request id; the id is the client's X-Request-Id or a new
// one, and comes back in the response.
func TestAccessLog(t *testing.T) {
	var logs bytes.Buffer
	s, err := New(testDetector(t, 1, ""), Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", "/v1/score", strings.NewReader(`[[1, 2, "de"], [3, 4, "us"]]`))
	req.Header.Set("X-Request-Id", "client-id-42")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Header().Get("X-Request-Id") != "client-id-42" {
		t.Errorf("X-Request-Id %q (status %d); want the client's", rec.Header().Get("X-Request-Id"), rec.Code)
	}
	for _, bad := range []string{"", strings.Repeat("a", 200), "has space", "quote\""} {
		req = httptest.NewRequest("GET", "/healthz", nil)
		req.Header.Set("X-Request-Id", bad)
		rec = httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if id := rec.Header().Get("X-Request-Id"); !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
			t.Errorf("X-Request-Id %q for a request with %q; want a new one", id, bad)
		}
	}
	do(t, s, "POST", "/v1/score", "application/json", `{"rows": [`)
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 6 {
		t.Fatalf("%d log lines for 6 requests:\n%s", len(lines), logs.String())
	}
	first, last := lines[0], lines[5]
	for k, want := range map[string]any{"msg": "request", "method": "POST", "path": "/v1/score", "status": 200.0, "rows": 2.0, "request_id": "client-id-42"} {
		if first[k] != want {
			t.Errorf("log %s = %v; want %v (%v)", k, first[k], want, first)
		}
	}
	if d, ok := first["duration_ms"].(float64); !ok || d < 0 {
		t.Errorf("log duration_ms = %v", first["duration_ms"])
	}
	if last["status"] != 400.0 || last["rows"] != 0.0 {
		t.Errorf("log of a bad request: %v", last)
	}
}

// /metrics has the Go runtime and process collectors.
func TestRuntimeMetrics(t *testing.T) {
	s, err := New(testDetector(t, 1, ""), Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, _, metrics := do(t, s, "GET", "/metrics", "", "")
	want := []string{"go_goroutines ", "go_memstats_heap_alloc_bytes "}
	if runtime.GOOS == "linux" {
		want = append(want, "process_resident_memory_bytes ", "process_open_fds ")
	}
	for _, w := range want {
		if !strings.Contains(metrics, w) {
			t.Errorf("metrics lack %s", w)
		}
	}
}

// BenchmarkParseJSON parses 2,000 rows of a 42-column table sent as JSON
// objects (what a big score request holds), without scoring them.
func BenchmarkParseJSON(b *testing.B) {
	det, names := wideDetector(b, 41)
	s, err := New(det, Options{})
	if err != nil {
		b.Fatal(err)
	}
	var body bytes.Buffer
	body.WriteString(`{"rows": [`)
	for i := range 2000 {
		if i > 0 {
			body.WriteString(", ")
		}
		body.WriteString("{")
		for j, n := range names {
			fmt.Fprintf(&body, `"%s": %d.%d, `, n, (i+j)%13, j)
		}
		body.WriteString(`"kind": "udp"}`)
	}
	body.WriteString("]}")
	l := s.cur.Load()
	b.SetBytes(int64(body.Len()))
	b.ReportAllocs()
	for b.Loop() {
		if _, e := s.parseJSON(l, bytes.NewReader(body.Bytes())); e != nil {
			b.Fatal(e.e.Error)
		}
	}
}
