// Package server is bottleneck's scoring service as an http.Handler:
// POST /v1/score scores rows (JSON objects keyed by column name, JSON
// arrays of numbers, or a CSV body with a header) with an anomaly model;
// GET /healthz, /readyz and /metrics (Prometheus) report on it. The model
// can be swapped while requests run (Swap); requests in flight finish on
// the model they started with.
package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
)

// Options configure a Server. Zero values mean the defaults.
type Options struct {
	MaxBodyBytes int64  // request body limit; default 8 MiB
	MaxRows      int    // rows per request; default 10,000
	Top          int    // features listed per row; default 3, negative for none
	Token        string // when set, /v1/score needs "Authorization: Bearer <Token>"
	// Registry receives the metrics; nil makes a private one.
	Registry *prometheus.Registry
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

// Server scores rows with the current model.
type Server struct {
	opt     Options
	cur     atomic.Pointer[loaded]
	reg     *prometheus.Registry
	ready   atomic.Bool
	mux     *http.ServeMux
	metrics metrics
}

// loaded is one model ready to serve, with a pool of scorers (each over
// its own clone of the weights: a model is not safe for concurrent use).
type loaded struct {
	proto   *ae.Model
	pre     *dataset.Preprocessor
	th      *anomaly.Threshold
	groups  []anomaly.Group
	version string
	pool    sync.Pool
}

type metrics struct {
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	rows      prometheus.Counter
	anomalies prometheus.Counter
	info      *prometheus.GaugeVec
	reloads   *prometheus.CounterVec
}

// Version is a model's version string: the first 12 hex digits of the
// SHA-256 of its weights and metadata.
func Version(m *ae.Model) string {
	h := sha256.New()
	for _, w := range m.Params.W {
		b := [4]byte{}
		u := math.Float32bits(w)
		b[0], b[1], b[2], b[3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
		h.Write(b[:])
	}
	h.Write(m.Preprocess)
	h.Write(m.Threshold)
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// New returns a server for m, which must carry its preprocessing and a
// threshold (bottleneck train stores both).
func New(m *ae.Model, opt Options) (*Server, error) {
	opt.defaults()
	s := &Server{opt: opt, reg: opt.Registry, mux: http.NewServeMux()}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
	}
	s.metrics = metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bottleneck_requests_total", Help: "HTTP requests by path and status code."}, []string{"path", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "bottleneck_request_duration_seconds", Help: "Request latency by path.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18)}, []string{"path"}),
		rows:      prometheus.NewCounter(prometheus.CounterOpts{Name: "bottleneck_rows_scored_total", Help: "Rows scored."}),
		anomalies: prometheus.NewCounter(prometheus.CounterOpts{Name: "bottleneck_anomalies_flagged_total", Help: "Rows flagged as anomalous."}),
		info:      prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "bottleneck_model_info", Help: "The model being served (value 1), by version."}, []string{"version"}),
		reloads:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bottleneck_model_reloads_total", Help: "Model reloads by result."}, []string{"result"}),
	}
	for _, c := range []prometheus.Collector{s.metrics.requests, s.metrics.latency, s.metrics.rows, s.metrics.anomalies, s.metrics.info, s.metrics.reloads} {
		if err := s.reg.Register(c); err != nil {
			return nil, fmt.Errorf("server: metrics: %w", err)
		}
	}
	if err := s.Swap(m); err != nil {
		return nil, err
	}
	s.ready.Store(true)
	s.mux.HandleFunc("POST /v1/score", s.instrument("/v1/score", s.auth(s.handleScore)))
	s.mux.HandleFunc("GET /healthz", s.instrument("/healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}))
	s.mux.HandleFunc("GET /readyz", s.instrument("/readyz", s.handleReady))
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("/", s.instrument("other", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("no endpoint %s %s; use POST /v1/score, GET /healthz, /readyz or /metrics", r.Method, r.URL.Path)})
	}))
	return s, nil
}

// Swap replaces the model being served; requests in flight finish with
// the old one. A model that cannot be served is refused and the old one
// stays.
func (s *Server) Swap(m *ae.Model) error {
	l, err := prepare(m)
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
			writeError(w, http.StatusInternalServerError, apiError{Error: fmt.Sprintf("internal error: %v", p)})
		}
	}()
	s.mux.ServeHTTP(w, r)
}

func prepare(m *ae.Model) (*loaded, error) {
	if m == nil {
		return nil, errors.New("server: no model")
	}
	var pre dataset.Preprocessor
	if len(m.Preprocess) == 0 || json.Unmarshal(m.Preprocess, &pre) != nil {
		return nil, errors.New("server: the model has no usable preprocessing record; retrain it with 'bottleneck train'")
	}
	if pre.Dim() != m.Config.Input() {
		return nil, fmt.Errorf("server: the model reads windows of %d rows (a time-series model); serve scores single rows, use 'bottleneck score' for time series", m.Config.Input()/max(1, pre.Dim()))
	}
	th, err := anomaly.Decode(m.Threshold)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if th == nil {
		return nil, errors.New("server: the model has no anomaly threshold; retrain it with 'bottleneck train' (add --threshold to choose one)")
	}
	if _, err := anomaly.NewScorer(m); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	l := &loaded{proto: m, pre: &pre, th: th, groups: anomaly.Groups(&pre), version: Version(m)}
	l.pool.New = func() any {
		sc, _ := anomaly.NewScorer(m.Clone()) // checked above
		return sc
	}
	return l, nil
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	l := s.cur.Load()
	if !s.ready.Load() || l == nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "model_version": l.version})
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
			writeError(w, http.StatusUnauthorized, apiError{Error: "missing or wrong bearer token; send the header Authorization: Bearer <token>"})
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

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, e apiError) {
	e.Error = strings.TrimPrefix(e.Error, "dataset: ")
	writeJSON(w, code, e)
}
