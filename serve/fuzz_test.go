package serve

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/train"
)

// fuzzContentTypes are the Content-Type headers FuzzScore sends, by index.
var fuzzContentTypes = []string{"application/json", "text/csv", "", "text/csv; charset=utf-8", "application/json; charset=utf-8", "text/plain"}

// fuzzDetector trains a tiny table detector (amount, hour, country, and a
// label column) with a contamination:0.1 threshold.
func fuzzDetector(f *testing.F) *anomaly.Detector {
	var b strings.Builder
	b.WriteString("amount,hour,country,label\n")
	for i := range 40 {
		fmt.Fprintf(&b, "%d.5,%d,%s,ok\n", 10+i%17, i%24, []string{"de", "fr", "us"}[i%3])
	}
	ds, err := dataset.LoadFS(fstest.MapFS{"t.csv": {Data: []byte(b.String())}}, "t.csv", dataset.LoadOptions{Label: "label"})
	if err != nil {
		f.Fatal(err)
	}
	det, err := anomaly.Train(context.Background(), ds, anomaly.TrainOptions{
		Hidden: []int{4}, Code: 2, Seed: 1, Val: -1,
		Threshold: "contamination:0.1", Fit: train.Options{Epochs: 2},
	})
	if err != nil {
		f.Fatal(err)
	}
	return det
}

// jsonRows is the number of rows in a JSON score body (a bare array, or
// {"rows": [...]}), or -1 when it is not one JSON value of either form.
func jsonRows(body []byte) int {
	body = bytes.TrimSpace(body)
	var rows []json.RawMessage
	if len(body) > 0 && body[0] == '[' {
		if json.Unmarshal(body, &rows) != nil {
			return -1
		}
		return len(rows)
	}
	var env struct {
		Rows []json.RawMessage `json:"rows"`
	}
	if json.Unmarshal(body, &env) != nil {
		return -1
	}
	return len(env.Rows)
}

// csvRows lists the numbers of data rows a CSV body holds under the
// readings a server may choose (delimiter , ; or tab, strict or lazy
// quotes): the records after the header line, blank ones left out.
func csvRows(body []byte) []int {
	var counts []int
	for _, comma := range []rune{',', ';', '\t'} {
		for _, lazy := range []bool{false, true} {
			r := csv.NewReader(bytes.NewReader(body))
			r.Comma, r.LazyQuotes, r.FieldsPerRecord = comma, lazy, -1
			recs, err := r.ReadAll()
			if err != nil || len(recs) == 0 {
				continue
			}
			n := 0
			for _, rec := range recs[1:] {
				if len(rec) > 1 || strings.TrimSpace(rec[0]) != "" {
					n++
				}
			}
			counts = append(counts, n)
		}
	}
	return counts
}

// FuzzScore posts mutated bodies, JSON and CSV, to POST /v1/score of a
// server built with New for a small table detector (seed corpus in
// testdata/fuzz/FuzzScore). Whatever the body: no panic reaches the
// caller, no 5xx but 503, the body is JSON (an error object with a
// message when the status is not 200); a 200 has one result per row sent,
// each with a score or an error, flagged exactly when its score is over
// the threshold it reports.
func FuzzScore(f *testing.F) {
	det := fuzzDetector(f)
	s, err := New(det, Options{MaxRows: 16, MaxBodyBytes: 1 << 14})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, ct uint8) {
		ctype := fuzzContentTypes[int(ct)%len(fuzzContentTypes)]
		req := httptest.NewRequest("POST", "/v1/score", bytes.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		raw, _ := io.ReadAll(rec.Body)
		code := rec.Code
		if code >= 500 && code != http.StatusServiceUnavailable {
			t.Fatalf("%s body %q: status %d: %s", ctype, body, code, raw)
		}
		if !json.Valid(raw) {
			t.Fatalf("%s body %q: status %d with a body that is not JSON: %q", ctype, body, code, raw)
		}
		if code != http.StatusOK {
			var e struct {
				Error string `json:"error"`
			}
			if json.Unmarshal(raw, &e) != nil || e.Error == "" {
				t.Fatalf("%s body %q: status %d without an error message: %s", ctype, body, code, raw)
			}
			return
		}
		var resp Response
		if err := json.Unmarshal(raw, &resp); err != nil {
			t.Fatalf("%s body %q: 200 %s: %v", ctype, body, raw, err)
		}
		mt, _, _ := mime.ParseMediaType(ctype)
		switch mt {
		case "text/csv":
			if counts := csvRows(body); !slices.Contains(counts, len(resp.Results)) {
				t.Fatalf("CSV body %q holds %v rows; 200 with %d results: %s", body, counts, len(resp.Results), raw)
			}
		case "application/json", "":
			if n := jsonRows(body); n != len(resp.Results) {
				t.Fatalf("JSON body %q holds %d rows (-1: not one JSON array or object); 200 with %d results: %s", body, n, len(resp.Results), raw)
			}
		default:
			t.Fatalf("content type %q scored: %s", ctype, raw)
		}
		if resp.ModelVersion != det.Version() || resp.Score != det.Threshold().Score || resp.Threshold != det.Threshold().Value {
			t.Fatalf("200 for model %q, score %q, threshold %v; serving %q, %q, %v", resp.ModelVersion, resp.Score, resp.Threshold, det.Version(), det.Threshold().Score, det.Threshold().Value)
		}
		for i, r := range resp.Results {
			if (r.Score == nil) == (r.Error == "") {
				t.Fatalf("body %q: result %d has score %v and error %q; want one of them", body, i, r.Score, r.Error)
			}
			if r.Score != nil && r.Anomaly != (*r.Score > resp.Threshold) {
				t.Fatalf("body %q: result %d: score %v, threshold %v, anomaly %v", body, i, *r.Score, resp.Threshold, r.Anomaly)
			}
			if r.Score == nil && !r.Anomaly {
				t.Fatalf("body %q: result %d without a score is not flagged", body, i)
			}
		}
	})
}
