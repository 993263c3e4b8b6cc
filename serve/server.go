// Package serve is bottleneck's scoring service as an http.Handler, to
// mount in a mux of your own or run with `bottleneck serve`: POST
// /v1/score scores rows (JSON objects keyed by column name, JSON arrays of
// numbers, or a CSV body with a header) with an anomaly.Detector; GET
// /healthz, /readyz and /metrics (Prometheus) report on it. The detector
// can be swapped while requests run (Swap); requests in flight finish on
// the one they started with. Every response is JSON: a scored batch, or a
// 4xx/5xx error naming the row, line and field at fault.
package serve

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
)

// Options configure a Server. Zero values mean the defaults.
type Options struct {
	MaxBodyBytes int64  // request body limit; default 8 MiB
	MaxRows      int    // rows per request; default 10,000
	Top          int    // features listed per row; default 3, negative for none
	Token        string // when set, /v1/score needs "Authorization: Bearer <Token>"
	// Registry receives the metrics; nil makes a private one. Metrics a
	// registry already holds (a second Server on it) are shared.
	Registry *prometheus.Registry
	// Logger receives what goes wrong (a response that could not be
	// written, a failed reload); nil discards it.
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 8 << 20
	}
	if o.MaxRows <= 0 {
		o.MaxRows = 10000
	}
	if o.Top == 0 {
		o.Top = 3
	}
	if o.Top < 0 {
		o.Top = 0
	}
}

// Server scores rows with the current detector. It is an http.Handler.
type Server struct {
	opt     Options
	cur     atomic.Pointer[loaded]
	reg     *prometheus.Registry
	ready   atomic.Bool
	mux     *http.ServeMux
	metrics metrics
	log     *slog.Logger
}

// loaded is one detector ready to serve.
type loaded struct {
	det     *anomaly.Detector
	pre     *dataset.Preprocessor
	th      *anomaly.Threshold
	version string
}

type metrics struct {
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	rows      prometheus.Counter
	anomalies prometheus.Counter
	info      *prometheus.GaugeVec
	reloads   *prometheus.CounterVec
	failures  prometheus.Counter
}

// Handler returns the service for det as an http.Handler. A detector that
// cannot be served (one without a threshold, a time-series detector)
// gives a handler that answers every request with a 500 JSON error saying
// why; use New to get that error up front, and to Swap detectors.
func Handler(det *anomaly.Detector, opt Options) http.Handler {
	s, err := New(det, opt)
	if err != nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusInternalServerError, apiError{Error: err.Error()}, nil)
		})
	}
	return s
}

// register adds c to the registry, or returns the collector of the same
// name already there (so two servers can share a registry).
func register[C prometheus.Collector](reg *prometheus.Registry, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if ex, ok := are.ExistingCollector.(C); ok {
				return ex, nil
			}
		}
		return c, err
	}
	return c, nil
}

// New returns a server for det, which must have a threshold (bottleneck
// train stores one).
func New(det *anomaly.Detector, opt Options) (*Server, error) {
	opt.defaults()
	s := &Server{opt: opt, reg: opt.Registry, mux: http.NewServeMux(), log: opt.Logger}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.metrics = metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bottleneck_requests_total", Help: "HTTP requests by path and status code."}, []string{"path", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "bottleneck_request_duration_seconds", Help: "Request latency by path.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18)}, []string{"path"}),
		rows:      prometheus.NewCounter(prometheus.CounterOpts{Name: "bottleneck_rows_scored_total", Help: "Rows scored."}),
		anomalies: prometheus.NewCounter(prometheus.CounterOpts{Name: "bottleneck_anomalies_flagged_total", Help: "Rows flagged as anomalous."}),
		info:      prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "bottleneck_model_info", Help: "The model being served (value 1), by version."}, []string{"version"}),
		reloads:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bottleneck_model_reloads_total", Help: "Model reloads by result."}, []string{"result"}),
		failures:  prometheus.NewCounter(prometheus.CounterOpts{Name: "bottleneck_response_failures_total", Help: "Responses that could not be encoded or written."}),
	}
	var err error
	ms := &s.metrics
	if ms.requests, err = register(s.reg, ms.requests); err == nil {
		if ms.latency, err = register(s.reg, ms.latency); err == nil {
			if ms.rows, err = register(s.reg, ms.rows); err == nil {
				if ms.anomalies, err = register(s.reg, ms.anomalies); err == nil {
					if ms.info, err = register(s.reg, ms.info); err == nil {
						if ms.reloads, err = register(s.reg, ms.reloads); err == nil {
							ms.failures, err = register(s.reg, ms.failures)
						}
					}
				}
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("serve: metrics: %w", err)
	}
	if err := s.Swap(det); err != nil {
		return nil, err
	}
	s.ready.Store(true)
	s.mux.HandleFunc("POST /v1/score", s.instrument("/v1/score", s.auth(s.handleScore)))
	s.mux.HandleFunc("GET /healthz", s.instrument("/healthz", func(w http.ResponseWriter, r *http.Request) {
		s.writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}))
	s.mux.HandleFunc("GET /readyz", s.instrument("/readyz", s.handleReady))
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("/", s.instrument("other", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("no endpoint %s %s; use POST /v1/score, GET /healthz, /readyz or /metrics", r.Method, r.URL.Path)})
	}))
	return s, nil
}

// Swap replaces the detector being served; requests in flight finish with
// the old one. A detector that cannot be served is refused, counted as a
// failed reload, and the old one stays.
func (s *Server) Swap(det *anomaly.Detector) error {
	l, err := prepare(det)
	if err != nil {
		if s.cur.Load() != nil {
			s.metrics.reloads.WithLabelValues("error").Inc()
		}
		return err
	}
	old := s.cur.Swap(l)
	if old != nil {
		s.metrics.info.DeleteLabelValues(old.version)
		s.metrics.reloads.WithLabelValues("ok").Inc()
	}
	s.metrics.info.WithLabelValues(l.version).Set(1)
	return nil
}

// ModelVersion is the version of the model being served.
func (s *Server) ModelVersion() string { return s.cur.Load().version }

// SetReady marks the server ready or not (false while shutting down, so
// load balancers stop sending traffic).
func (s *Server) SetReady(v bool) { s.ready.Store(v) }

// ServeHTTP serves the endpoints; a panic in a handler becomes a 500 JSON
// error, never a crash.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("panic while serving a request", "path", r.URL.Path, "panic", fmt.Sprint(p))
			s.writeError(w, http.StatusInternalServerError, apiError{Error: fmt.Sprintf("internal error: %v", p)})
		}
	}()
	s.mux.ServeHTTP(w, r)
}

func prepare(det *anomaly.Detector) (*loaded, error) {
	if det == nil {
		return nil, errors.New("serve: no detector")
	}
	pre := det.Preprocessor()
	if pre == nil {
		return nil, errors.New("serve: the model has no preprocessing record (it reads pictures or arrays as they are); serve scores rows of the data a model was trained on with 'bottleneck train'")
	}
	if w := det.Window(); w > 1 {
		return nil, fmt.Errorf("serve: the model reads windows of %d rows (a time-series model); serve scores single rows, use 'bottleneck score' for time series", w)
	}
	th := det.Threshold()
	if th == nil {
		return nil, errors.New("serve: the model has no anomaly threshold; retrain it with 'bottleneck train' (add --threshold to choose one)")
	}
	return &loaded{det: det, pre: pre, th: th, version: det.Version()}, nil
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	l := s.cur.Load()
	if !s.ready.Load() || l == nil {
		s.writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
		return
	}
	s.writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "model_version": l.version})
}

func (s *Server) auth(next http.HandlerFunc) http.HandlerFunc {
	if s.opt.Token == "" {
		return next
	}
	want := []byte("Bearer " + s.opt.Token)
	return func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="bottleneck"`)
			s.writeError(w, http.StatusUnauthorized, apiError{Error: "missing or wrong bearer token; send the header Authorization: Bearer <token>"})
			return
		}
		next(w, r)
	}
}

// statusWriter records the status code for the metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (s *Server) instrument(path string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h(sw, r)
		s.metrics.latency.WithLabelValues(path).Observe(time.Since(start).Seconds())
		s.metrics.requests.WithLabelValues(path, fmt.Sprint(sw.code)).Inc()
	}
}

// apiError is the JSON body of every error response.
type apiError struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"` // the column at fault
	Row   *int   `json:"row,omitempty"`   // 0-based row of the request
	Line  int    `json:"line,omitempty"`  // CSV line (1 = header)
}

// writeJSON encodes v before writing anything, so an encoding failure
// becomes a 500 JSON error (logged and counted) instead of a 200 with an
// empty body.
func writeJSON(w http.ResponseWriter, code int, v any, fail func(error)) {
	b, err := json.Marshal(v)
	if err != nil {
		if fail != nil {
			fail(err)
		}
		code = http.StatusInternalServerError
		b, _ = json.Marshal(apiError{Error: "internal error: the response could not be encoded: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if _, err := w.Write(append(b, '\n')); err != nil && fail != nil {
		fail(err)
	}
}

func (s *Server) writeJSON(w http.ResponseWriter, code int, v any) {
	writeJSON(w, code, v, func(err error) {
		s.metrics.failures.Inc()
		s.log.Error("response not sent", "status", code, "error", err)
	})
}

func (s *Server) writeError(w http.ResponseWriter, code int, e apiError) {
	e.Error = strings.TrimPrefix(e.Error, "dataset: ")
	s.writeJSON(w, code, e)
}
