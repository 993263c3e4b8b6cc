package serve

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// gate is a request body that blocks on its first Read until opened,
// then gives a one-row body: a request held in flight.
type gate struct {
	started, open chan struct{}
	once          sync.Once
	body          io.Reader
}

func newGate() *gate {
	return &gate{started: make(chan struct{}), open: make(chan struct{}), body: strings.NewReader(`[[1, 2, "de"]]`)}
}

func (g *gate) Read(p []byte) (int, error) {
	g.once.Do(func() { close(g.started) })
	<-g.open
	return g.body.Read(p)
}

// hold starts a score request of declared length n whose body blocks
// until the gate opens; it returns once the request is admitted and
// parsing (or, if refused, answered), and a func that opens the gate and
// returns the response.
func hold(t *testing.T, h http.Handler, n int64) func() *httptest.ResponseRecorder {
	t.Helper()
	g := newGate()
	req := httptest.NewRequest("POST", "/v1/score", g)
	req.ContentLength = n
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(rec, req)
	}()
	select {
	case <-g.started:
	case <-done:
		t.Fatalf("the held request was answered at once: %d %s", rec.Code, rec.Body)
	}
	return func() *httptest.ResponseRecorder {
		close(g.open)
		<-done
		return rec
	}
}

// post sends a score request with a body of declared length n (the real
// body is one row).
func post(h http.Handler, n int64) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/v1/score", strings.NewReader(`[[1, 2, "de"]]`))
	req.ContentLength = n
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func wantBusy(t *testing.T, name string, rec *httptest.ResponseRecorder) {
	t.Helper()
	var e apiError
	if rec.Code != http.StatusServiceUnavailable || json.Unmarshal(rec.Body.Bytes(), &e) != nil || !strings.Contains(e.Error, "busy") {
		t.Errorf("%s: %d %s; want a 503 JSON error saying the server is busy", name, rec.Code, rec.Body)
	}
	if rec.Header().Get("Retry-After") == "" {
		t.Errorf("%s: 503 without Retry-After", name)
	}
}

// Large bodies in flight fill their share of the byte budget and every
// scoring slot; more large ones are refused at once (503, Retry-After),
// small ones still get through.
func TestLimits(t *testing.T) {
	det := testDetector(t, 1, "")
	s, err := New(det, Options{MaxBodyBytes: 16 << 20, MaxInflightBytes: 8 << 20, MaxScoring: 2, MaxQueueWait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	a := hold(t, s, 3<<20) // 7 MiB of 8 for large bodies, 1 MiB reserved
	b := hold(t, s, 4<<20)
	wantBusy(t, "a third large body", post(s, 1<<20))
	wantBusy(t, "a body of unknown length", post(s, -1))
	for i := range 3 {
		if rec := post(s, 14); rec.Code != 200 {
			t.Errorf("small request %d beside large ones: %d %s", i, rec.Code, rec.Body)
		}
	}
	for name, f := range map[string]func() *httptest.ResponseRecorder{"a": a, "b": b} {
		if rec := f(); rec.Code != 200 {
			t.Errorf("held request %s: %d %s", name, rec.Code, rec.Body)
		}
	}
	if rec := post(s, 7<<20); rec.Code != 200 {
		t.Errorf("after the held requests: %d %s", rec.Code, rec.Body)
	}
	if n, used := s.limit.inflight(); n != 0 || used != 0 {
		t.Errorf("in flight after all requests: %d requests, %d bytes", n, used)
	}
	_, _, metrics := do(t, s, "GET", "/metrics", "", "")
	for _, want := range []string{`bottleneck_requests_refused_total{limit="bytes"} 2`, "bottleneck_inflight_requests 0", "bottleneck_inflight_bytes 0",
		`bottleneck_requests_total{code="503",path="/v1/score"} 2`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q:\n%s", want, grep(metrics, "bottleneck_"))
		}
	}

	// the scoring slots: a large body waits for one, then gives up
	q, err := New(det, Options{MaxScoring: 1, MaxQueueWait: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	release := hold(t, q, 1<<20)
	wantBusy(t, "a large body with no slot free", post(q, 1<<20))
	if rec := post(q, 14); rec.Code != 200 {
		t.Errorf("a small body does not wait for a slot: %d %s", rec.Code, rec.Body)
	}
	if rec := release(); rec.Code != 200 {
		t.Errorf("held request: %d %s", rec.Code, rec.Body)
	}
	if _, _, m := do(t, q, "GET", "/metrics", "", ""); !strings.Contains(m, `bottleneck_requests_refused_total{limit="queue"} 1`) {
		t.Errorf("queue refusal not counted:\n%s", grep(m, "bottleneck_requests_refused"))
	}

	// the request count
	c, err := New(det, Options{MaxInflight: 1})
	if err != nil {
		t.Fatal(err)
	}
	release = hold(t, c, 14)
	wantBusy(t, "a second request over MaxInflight 1", post(c, 14))
	if rec := release(); rec.Code != 200 {
		t.Errorf("held request: %d %s", rec.Code, rec.Body)
	}
	if rec := post(c, 14); rec.Code != 200 {
		t.Errorf("after the held request: %d %s", rec.Code, rec.Body)
	}
}

func TestWeight(t *testing.T) {
	l := newLimiter(10, 64<<20)
	for _, c := range []struct{ n, limit, want int64 }{
		{10, 1 << 20, minWeight},
		{100 << 10, 1 << 20, 100 << 10},
		{-1, 1 << 20, 1 << 20},        // unknown: the body limit
		{5 << 20, 1 << 20, 1 << 20},   // over the limit: refused while reading
		{-1, 1 << 30, 56 << 20},       // a limit over the budget: admitted alone
		{60 << 20, 1 << 30, 56 << 20}, //
	} {
		if got := l.weight(c.n, c.limit); got != c.want {
			t.Errorf("weight(%d, %d) = %d; want %d", c.n, c.limit, got, c.want)
		}
	}
}
