package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
)

// testModel builds an untrained table model (amount, hour, country) with a
// preprocessing record and a threshold: enough to exercise the service.
func testModel(t *testing.T, seed uint64) *ae.Model {
	t.Helper()
	var b strings.Builder
	b.WriteString("amount,hour,country,label\n")
	for i := 0; i < 60; i++ {
		fmt.Fprintf(&b, "%d.5,%d,%s,ok\n", 10+i%17, i%24, []string{"de", "fr", "us"}[i%3])
	}
	ds, err := dataset.LoadFS(fstest.MapFS{"t.csv": {Data: []byte(b.String())}}, "t.csv", dataset.LoadOptions{Label: "label"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := ae.Config{InputShape: ds.Shape, Hidden: []int{4}, Code: 2}
	cfg.Defaults(false)
	m, err := ae.New(cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	m.Preprocess, _ = json.Marshal(ds.Pre)
	sc := &anomaly.Scorer{Model: m}
	th, err := anomaly.Fit(anomaly.Spec{Method: anomaly.MethodContamination, Param: 0.1}, sc.Score(ds.X), nil, "training rows")
	if err != nil {
		t.Fatal(err)
	}
	m.Threshold = th.Marshal()
	return m
}

func do(t *testing.T, h http.Handler, method, path, ctype, body string, hdr ...string) (int, map[string]any, string) {
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

func TestScoreJSONAndCSV(t *testing.T) {
	s, err := New(testModel(t, 1), Options{})
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
	// Arrays in training column order, with or without the label.
	code, out, raw = do(t, s, "POST", "/v1/score", "application/json", `[["12.5", 3, "de"], [12.5, 3, "de", "ok"]]`)
	if code != 200 || len(out["results"].([]any)) != 2 {
		t.Fatalf("array rows: %d %s", code, raw)
	}
	code, out, raw = do(t, s, "POST", "/v1/score", "text/csv", "country;amount;hour\nde;12.5;3\nus;11;4\n")
	if code != 200 || len(out["results"].([]any)) != 2 {
		t.Fatalf("CSV rows: %d %s", code, raw)
	}
	if out["model_version"] != s.ModelVersion() {
		t.Errorf("model_version %v; want %s", out["model_version"], s.ModelVersion())
	}
}

func TestScoreErrors(t *testing.T) {
	s, err := New(testModel(t, 1), Options{MaxRows: 2, MaxBodyBytes: 300})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, ctype, body string
		code              int
		field             string
		row               float64
	}{
		{"bad json", "application/json", `{"rows": [`, 400, "rows", -1},
		{"empty", "application/json", ``, 400, "", -1},
		{"no rows", "application/json", `{"rows": []}`, 400, "rows", -1},
		{"unknown field", "application/json", `{"rowz": []}`, 400, "rows", -1},
		{"not a number", "application/json", `{"rows": [{"amount": 1, "hour": 2, "country": "de"}, {"amount": "lots", "hour": 2, "country": "de"}]}`, 400, "amount", 1},
		{"unknown column", "application/json", `{"rows": [{"amount": 1, "hour": 2, "country": "de", "iban": "x"}]}`, 400, "", 0},
		{"nested value", "application/json", `{"rows": [{"amount": [1], "hour": 2, "country": "de"}]}`, 400, "amount", 0},
		{"scalar row", "application/json", `[1, 2]`, 400, "", 0},
		{"too many rows", "application/json", `[[1,2,"de"],[1,2,"de"],[1,2,"de"]]`, 413, "", -1},
		{"too large", "application/json", `{"rows": [{"amount": "` + strings.Repeat("9", 400) + `"}]}`, 413, "", -1},
		{"csv short line", "text/csv", "amount,hour,country\n1,2\n", 400, "", 0},
		{"csv no rows", "text/csv", "amount,hour,country\n", 400, "", -1},
		{"csv missing value", "text/csv", "amount,hour,country\n1,,de\n", 400, "hour", 0},
		{"content type", "application/xml", "<rows/>", 415, "", -1},
	}
	for _, c := range cases {
		code, out, raw := do(t, s, "POST", "/v1/score", c.ctype, c.body)
		if code != c.code {
			t.Errorf("%s: status %d; want %d (%s)", c.name, code, c.code, raw)
			continue
		}
		if msg, _ := out["error"].(string); msg == "" {
			t.Errorf("%s: no error message in %s", c.name, raw)
		}
		if c.field != "" && out["field"] != c.field {
			t.Errorf("%s: field %v; want %q (%s)", c.name, out["field"], c.field, raw)
		}
		if c.row >= 0 && out["row"] != c.row {
			t.Errorf("%s: row %v; want %v (%s)", c.name, out["row"], c.row, raw)
		}
	}
	if code, _, _ := do(t, s, "GET", "/v1/score", "", ""); code != 404 && code != 405 {
		t.Errorf("GET /v1/score: %d; want 405 or 404", code)
	}
}

func TestAuthHealthMetrics(t *testing.T) {
	s, err := New(testModel(t, 1), Options{Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	body := `[[1, 2, "de"]]`
	if code, _, _ := do(t, s, "POST", "/v1/score", "application/json", body); code != 401 {
		t.Errorf("no token: %d; want 401", code)
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
	for _, want := range []string{"bottleneck_requests_total", "bottleneck_request_duration_seconds_bucket", "bottleneck_rows_scored_total 1",
		`bottleneck_model_info{version="` + s.ModelVersion() + `"} 1`, "bottleneck_anomalies_flagged_total"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestSwapUnderLoad swaps models while requests run: none may fail, and
// afterwards the new version is served.
func TestSwapUnderLoad(t *testing.T) {
	m1, m2 := testModel(t, 1), testModel(t, 2)
	s, err := New(m1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	v1 := s.ModelVersion()
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				code, _, raw := do(t, s, "POST", "/v1/score", "application/json", `[[1, 2, "de"], [3, 4, "us"]]`)
				if code != 200 {
					errs <- raw
				}
			}
		}()
	}
	for i := 0; i < 11; i++ { // ends on m2
		m := m1
		if i%2 == 0 {
			m = m2
		}
		if err := s.Swap(m); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("request failed during swaps: %s", e)
	}
	if s.ModelVersion() == v1 {
		t.Errorf("version still %s after swapping to another model", v1)
	}
	bad := testModel(t, 3)
	bad.Threshold = nil
	if err := s.Swap(bad); err == nil {
		t.Error("Swap accepted a model without threshold")
	}
}
