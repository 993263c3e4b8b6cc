package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/train"
)

// tableCSV is a small table (amount, hour, country, label) of normal rows.
func tableCSV() string {
	var b strings.Builder
	b.WriteString("amount,hour,country,label\n")
	for i := 0; i < 60; i++ {
		fmt.Fprintf(&b, "%d.5,%d,%s,ok\n", 10+i%17, i%24, []string{"de", "fr", "us"}[i%3])
	}
	return b.String()
}

// testDetector trains a tiny table detector (amount, hour, country) with
// score metric (default mahal) and a contamination:0.1 threshold fitted on
// its training rows: enough to exercise the service.
func testDetector(t testing.TB, seed uint64, metric string) *anomaly.Detector {
	t.Helper()
	ds, err := dataset.LoadFS(fstest.MapFS{"t.csv": {Data: []byte(tableCSV())}}, "t.csv", dataset.LoadOptions{Label: "label"})
	if err != nil {
		t.Fatal(err)
	}
	det, err := anomaly.Train(context.Background(), ds, anomaly.TrainOptions{
		Hidden: []int{4}, Code: 2, Seed: seed, Score: metric, Val: -1,
		Threshold: "contamination:0.1", Fit: train.Options{Epochs: 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	return det
}

// seriesDetector trains a time-series detector (windows of 4 rows).
func seriesDetector(t testing.TB) *anomaly.Detector {
	t.Helper()
	var b strings.Builder
	b.WriteString("a,b\n")
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&b, "%d,%d\n", i%5, i%7)
	}
	ds, err := dataset.LoadFS(fstest.MapFS{"s.csv": {Data: []byte(b.String())}}, "s.csv", dataset.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	det, err := anomaly.Train(context.Background(), ds, anomaly.TrainOptions{Hidden: []int{4}, Code: 2, Window: 4, Fit: train.Options{Epochs: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return det
}

func do(t testing.TB, h http.Handler, method, path, ctype, body string, hdr ...string) (int, map[string]any, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	raw, _ := io.ReadAll(rec.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return rec.Code, out, string(raw)
}

// decode parses a score response strictly.
func decode(t *testing.T, raw string) Response {
	t.Helper()
	var r Response
	if !json.Valid([]byte(raw)) {
		t.Fatalf("response is not valid JSON: %q", raw)
	}
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		t.Fatalf("response %s: %v", raw, err)
	}
	return r
}

func TestScoreJSONAndCSV(t *testing.T) {
	det := testDetector(t, 1, "")
	s, err := New(det, Options{})
	if err != nil {
		t.Fatal(err)
	}
	code, out, raw := do(t, s, "POST", "/v1/score", "application/json",
		`{"rows": [{"amount": 12.5, "hour": 3, "country": "de"}, {"amount": "9000", "hour": 23, "country": "fr"}]}`)
	if code != 200 {
		t.Fatalf("JSON score: %d %s", code, raw)
	}
	res := out["results"].([]any)
	if len(res) != 2 {
		t.Fatalf("results = %v", res)
	}
	r1 := res[1].(map[string]any)
	top := r1["top"].([]any)
	if len(top) != 3 || top[0].(map[string]any)["feature"] != "amount" {
		t.Errorf("row 1 top features = %v; want amount first (the huge value)", top)
	}
	if r1["anomaly"] != true {
		t.Errorf("amount 9000 not flagged: %v", r1)
	}
	th := det.Threshold()
	if out["score"] != anomaly.MetricMahal || out["threshold"] != th.Value {
		t.Errorf("score %v, threshold %v; want mahal, %v", out["score"], out["threshold"], th.Value)
	}
	// The service scores as the library does.
	want, err := det.ScoreRecords([]string{"amount", "hour", "country"}, [][]string{{"12.5", "3", "de"}, {"9000", "23", "fr"}})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range decode(t, raw).Results {
		if r.Score == nil || *r.Score != want[i].Score || r.Anomaly != want[i].Anomaly || r.Error != "" {
			t.Errorf("row %d: %+v; the detector says %v (anomaly %v)", i, r, want[i].Score, want[i].Anomaly)
		}
	}
	// Arrays in training column order, with or without the label.
	code, out, raw = do(t, s, "POST", "/v1/score", "application/json", `[["12.5", 3, "de"], [12.5, 3, "de", "ok"]]`)
	if code != 200 || len(out["results"].([]any)) != 2 {
		t.Fatalf("array rows: %d %s", code, raw)
	}
	if r := decode(t, raw).Results; *r[0].Score != want[0].Score || *r[1].Score != want[0].Score {
		t.Errorf("array rows scored %v, %v; want %v", *r[0].Score, *r[1].Score, want[0].Score)
	}
	code, out, raw = do(t, s, "POST", "/v1/score", "text/csv", "country;amount;hour\nde;12.5;3\nfr;9000;23\n")
	if code != 200 || len(out["results"].([]any)) != 2 {
		t.Fatalf("CSV rows: %d %s", code, raw)
	}
	for i, r := range decode(t, raw).Results {
		if *r.Score != want[i].Score {
			t.Errorf("CSV row %d scored %v; want %v", i, *r.Score, want[i].Score)
		}
	}
	if out["model_version"] != s.ModelVersion() || s.ModelVersion() != det.Version() {
		t.Errorf("model_version %v; want %s", out["model_version"], det.Version())
	}
	// Top: -1 lists no features.
	bare, err := New(det, Options{Top: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, raw := do(t, bare, "POST", "/v1/score", "", `[[12.5, 3, "de"]]`); strings.Contains(raw, `"top"`) {
		t.Errorf("Top -1 still lists features: %s", raw)
	}
}

func TestScoreErrors(t *testing.T) {
	s, err := New(testDetector(t, 1, ""), Options{MaxRows: 2, MaxBodyBytes: 300})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, ctype, body string
		code              int
		field             string
		row, line         float64
	}{
		{"bad json", "application/json", `{"rows": [`, 400, "rows", -1, 0},
		{"empty", "application/json", ``, 400, "", -1, 0},
		{"no rows", "application/json", `{"rows": []}`, 400, "rows", -1, 0},
		{"unknown field", "application/json", `{"rowz": []}`, 400, "rows", -1, 0},
		{"not a number", "application/json", `{"rows": [{"amount": 1, "hour": 2, "country": "de"}, {"amount": "lots", "hour": 2, "country": "de"}]}`, 400, "amount", 1, 0},
		{"out of range", "application/json", `{"rows": [{"amount": 1e300, "hour": 2, "country": "de"}]}`, 400, "amount", 0, 0},
		{"unknown column", "application/json", `{"rows": [{"amount": 1, "hour": 2, "country": "de", "iban": "x"}]}`, 400, "", 0, 0},
		{"nested value", "application/json", `{"rows": [{"amount": [1], "hour": 2, "country": "de"}]}`, 400, "amount", 0, 0},
		{"scalar row", "application/json", `[1, 2]`, 400, "", 0, 0},
		{"short array", "application/json", `[[1, 2]]`, 400, "", 0, 0},
		{"too many rows", "application/json", `[[1,2,"de"],[1,2,"de"],[1,2,"de"]]`, 413, "", -1, 0},
		{"too large", "application/json", `{"rows": [{"amount": "` + strings.Repeat("9", 400) + `"}]}`, 413, "", -1, 0},
		{"csv short line", "text/csv", "amount,hour,country\n1,2\n", 400, "", 0, 2},
		{"csv no rows", "text/csv", "amount,hour,country\n", 400, "", -1, 2},
		{"csv missing value", "text/csv", "amount,hour,country\n1,2,de\n1,,de\n", 400, "hour", 1, 3},
		{"csv too many rows", "text/csv", "amount,hour,country\n1,2,de\n1,2,de\n1,2,de\n", 413, "", -1, 0},
		{"content type", "application/xml", "<rows/>", 415, "", -1, 0},
	}
	for _, c := range cases {
		code, out, raw := do(t, s, "POST", "/v1/score", c.ctype, c.body)
		if code != c.code {
			t.Errorf("%s: status %d; want %d (%s)", c.name, code, c.code, raw)
			continue
		}
		if msg, _ := out["error"].(string); msg == "" || strings.HasPrefix(msg, "dataset: ") {
			t.Errorf("%s: no error message, or one with a package prefix, in %s", c.name, raw)
		}
		if c.field != "" && out["field"] != c.field {
			t.Errorf("%s: field %v; want %q (%s)", c.name, out["field"], c.field, raw)
		}
		if c.row >= 0 && out["row"] != c.row {
			t.Errorf("%s: row %v; want %v (%s)", c.name, out["row"], c.row, raw)
		}
		if c.row < 0 && out["row"] != nil {
			t.Errorf("%s: row %v; want none (%s)", c.name, out["row"], raw)
		}
		if c.line > 0 && out["line"] != c.line {
			t.Errorf("%s: line %v; want %v (%s)", c.name, out["line"], c.line, raw)
		}
	}
	for _, path := range []string{"/v1/score", "/nowhere"} {
		code, out, raw := do(t, s, "GET", path, "", "")
		if code != 404 && code != 405 {
			t.Errorf("GET %s: %d; want 405 or 404", path, code)
		}
		if msg, _ := out["error"].(string); msg == "" {
			t.Errorf("GET %s: no JSON error in %q", path, raw)
		}
	}
}

// A row whose score overflows is answered with a 200 and valid JSON: its
// score is null, it is flagged and says why, and its shares are numbers.
func TestScoreNonFinite(t *testing.T) {
	for _, metric := range []string{anomaly.MetricMSE, anomaly.MetricNMSE, anomaly.MetricMahal} {
		t.Run(metric, func(t *testing.T) {
			s, err := New(testDetector(t, 1, metric), Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, body := range []struct{ ctype, body string }{
				{"application/json", `{"rows": [{"amount": 1e30, "hour": 3, "country": "de"}, {"amount": 12.5, "hour": 3, "country": "de"}]}`},
				{"application/json", `[[-1e30, 3, "de"], [12.5, 3, "de"]]`},
				{"text/csv", "amount,hour,country\n1e30,3,de\n12.5,3,de\n"},
			} {
				code, _, raw := do(t, s, "POST", "/v1/score", body.ctype, body.body)
				if code != 200 {
					t.Fatalf("%s: status %d: %q", body.body, code, raw)
				}
				res := decode(t, raw).Results
				if len(res) != 2 {
					t.Fatalf("%s: %d results", body.body, len(res))
				}
				r := res[0]
				switch {
				case metric != anomaly.MetricMahal && (r.Score != nil || r.Error == ""):
					// squared errors of 1e30 overflow float32
					t.Errorf("%s: row 0 = %+v; want score null with an error", body.body, r)
				case r.Score == nil && !strings.Contains(r.Error, "row 0"):
					t.Errorf("%s: null score without an error naming the row: %+v", body.body, r)
				case r.Score != nil && (math.IsNaN(*r.Score) || r.Error != ""):
					t.Errorf("%s: row 0 = %+v", body.body, r)
				}
				if !r.Anomaly {
					t.Errorf("%s: the 1e30 row is not flagged: %+v", body.body, r)
				}
				// (-1e30 overflows every output, which then share the row's error)
				if len(r.Top) == 0 || (r.Top[0].Feature != "amount" && !strings.Contains(body.body, "-1e30")) {
					t.Errorf("%s: top features %+v; want amount first", body.body, r.Top)
				}
				for _, row := range res {
					for _, c := range row.Top {
						if math.IsNaN(c.Share) || c.Share < 0 || c.Share > 1 {
							t.Errorf("%s: share %v of %s", body.body, c.Share, c.Feature)
						}
					}
				}
				if res[1].Score == nil || res[1].Error != "" {
					t.Errorf("%s: the normal row beside it: %+v", body.body, res[1])
				}
			}
			_, _, metrics := do(t, s, "GET", "/metrics", "", "")
			if !strings.Contains(metrics, "bottleneck_response_failures_total 0") || !strings.Contains(metrics, "bottleneck_rows_scored_total 6") {
				t.Errorf("metrics after overflowing rows:\n%s", grep(metrics, "bottleneck_r"))
			}
		})
	}
}

func grep(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A response that cannot be encoded becomes a 500 JSON error, logged and
// counted, never a 200 with an empty body.
func TestResponseFailure(t *testing.T) {
	rec := httptest.NewRecorder()
	var failed error
	writeJSON(rec, http.StatusOK, map[string]float64{"score": math.NaN()}, func(err error) { failed = err })
	var e apiError
	if rec.Code != 500 || json.Unmarshal(rec.Body.Bytes(), &e) != nil || !strings.Contains(e.Error, "could not be encoded") || failed == nil {
		t.Fatalf("writeJSON of NaN: %d %q, fail called with %v", rec.Code, rec.Body.String(), failed)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var logs bytes.Buffer
	s, err := New(testDetector(t, 1, ""), Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	rec = httptest.NewRecorder()
	s.writeJSON(rec, http.StatusOK, math.Inf(1))
	if rec.Code != 500 || !json.Valid(rec.Body.Bytes()) {
		t.Errorf("Server.writeJSON of Inf: %d %q", rec.Code, rec.Body.String())
	}
	if !strings.Contains(logs.String(), "response not sent") {
		t.Errorf("nothing logged: %q", logs.String())
	}
	if _, _, metrics := do(t, s, "GET", "/metrics", "", ""); !strings.Contains(metrics, "bottleneck_response_failures_total 1") {
		t.Errorf("failure not counted:\n%s", grep(metrics, "bottleneck_response"))
	}
}

func TestAuthHealthMetrics(t *testing.T) {
	s, err := New(testDetector(t, 1, ""), Options{Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	body := `[[1, 2, "de"]]`
	if code, out, _ := do(t, s, "POST", "/v1/score", "application/json", body); code != 401 || out["error"] == nil {
		t.Errorf("no token: %d %v; want 401 with an error", code, out)
	}
	if code, _, _ := do(t, s, "POST", "/v1/score", "application/json", body, "Authorization", "Bearer wrong"); code != 401 {
		t.Errorf("wrong token: %d; want 401", code)
	}
	if code, _, raw := do(t, s, "POST", "/v1/score", "application/json", body, "Authorization", "Bearer s3cret"); code != 200 {
		t.Errorf("right token: %d %s", code, raw)
	}
	if code, _, _ := do(t, s, "GET", "/healthz", "", ""); code != 200 {
		t.Errorf("healthz %d", code)
	}
	if code, out, _ := do(t, s, "GET", "/readyz", "", ""); code != 200 || out["model_version"] != s.ModelVersion() {
		t.Errorf("readyz %d %v", code, out)
	}
	s.SetReady(false)
	if code, _, _ := do(t, s, "GET", "/readyz", "", ""); code != 503 {
		t.Errorf("readyz while shutting down: %d; want 503", code)
	}
	_, _, metrics := do(t, s, "GET", "/metrics", "", "")
	for _, want := range []string{`bottleneck_requests_total{code="401",path="/v1/score"} 2`, `bottleneck_requests_total{code="503",path="/readyz"} 1`,
		"bottleneck_request_duration_seconds_bucket", "bottleneck_rows_scored_total 1",
		`bottleneck_model_info{version="` + s.ModelVersion() + `"} 1`, "bottleneck_anomalies_flagged_total"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// Handler serves a detector; one that cannot be served answers every
// request with a 500 JSON error saying why, as New refuses it.
func TestHandler(t *testing.T) {
	det := testDetector(t, 1, "")
	if code, _, raw := do(t, Handler(det, Options{}), "POST", "/v1/score", "", `[[1, 2, "de"]]`); code != 200 {
		t.Errorf("Handler: %d %s", code, raw)
	}
	for name, bad := range map[string]*anomaly.Detector{
		"no threshold": det.WithThreshold(nil),
		"time series":  seriesDetector(t),
		"nil":          nil,
	} {
		if _, err := New(bad, Options{}); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
		for _, path := range []string{"/v1/score", "/healthz"} {
			code, out, raw := do(t, Handler(bad, Options{}), "POST", path, "", `[[1, 2, "de"]]`)
			if msg, _ := out["error"].(string); code != 500 || msg == "" {
				t.Errorf("%s: %s: %d %q; want a 500 JSON error", name, path, code, raw)
			}
		}
	}
	// Two servers may share a registry.
	reg := prometheus.NewRegistry()
	a, err := New(det, Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(det, Options{Registry: reg})
	if err != nil {
		t.Fatalf("a second server on one registry: %v", err)
	}
	do(t, a, "POST", "/v1/score", "", `[[1, 2, "de"]]`)
	do(t, b, "POST", "/v1/score", "", `[[1, 2, "de"], [1, 2, "de"]]`)
	if _, _, m := do(t, a, "GET", "/metrics", "", ""); !strings.Contains(m, "bottleneck_rows_scored_total 3") {
		t.Errorf("shared registry:\n%s", grep(m, "bottleneck_rows"))
	}
}

// TestSwapUnderLoad swaps detectors while requests run: none may fail, and
// afterwards the new version is served.
func TestSwapUnderLoad(t *testing.T) {
	d1, d2 := testDetector(t, 1, ""), testDetector(t, 2, "")
	s, err := New(d1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	v1 := s.ModelVersion()
	if d2.Version() == v1 {
		t.Fatalf("two seeds give one version %s", v1)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				code, out, raw := do(t, s, "POST", "/v1/score", "application/json", `[[1, 2, "de"], [3, 4, "us"]]`)
				if v := out["model_version"]; code != 200 || (v != v1 && v != d2.Version()) {
					errs <- raw
				}
			}
		}()
	}
	for i := 0; i < 11; i++ { // ends on d2
		d := d1
		if i%2 == 0 {
			d = d2
		}
		if err := s.Swap(d); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("request failed during swaps: %s", e)
	}
	if s.ModelVersion() != d2.Version() {
		t.Errorf("version %s after swapping to %s", s.ModelVersion(), d2.Version())
	}
	if err := s.Swap(d1.WithThreshold(nil)); err == nil {
		t.Error("Swap accepted a detector without threshold")
	}
	if err := s.Swap(nil); err == nil {
		t.Error("Swap accepted nil")
	}
	if s.ModelVersion() != d2.Version() {
		t.Errorf("a refused swap changed the version to %s", s.ModelVersion())
	}
	_, _, metrics := do(t, s, "GET", "/metrics", "", "")
	for _, want := range []string{`bottleneck_model_reloads_total{result="ok"} 11`, `bottleneck_model_reloads_total{result="error"} 2`,
		`bottleneck_model_info{version="` + d2.Version() + `"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(metrics, `version="`+v1+`"`) {
		t.Errorf("metrics still list the swapped-out version %s", v1)
	}
}
