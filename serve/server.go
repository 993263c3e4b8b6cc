// Package serve is bottleneck's scoring service as an http.Handler, to
// mount in a mux of your own or run with `bottleneck serve`: POST
// /v1/score scores rows (JSON objects keyed by column name, JSON arrays of
// numbers, or a CSV body with a header) with an anomaly.Detector; GET
// /healthz, /readyz and /metrics (Prometheus) report on it. The detector
// can be swapped while requests run (Swap, Reload); requests in flight
// finish on the one they started with. Every response is JSON: a scored
// batch, or a 4xx/5xx error naming the row, line and field at fault.
//
// Bodies are parsed as a stream, row by row, so a request holds its rows
// in model space, not its body. Work in flight is bounded: by requests
// and by declared body bytes (a request that does not fit is answered 503
// with Retry-After at once; small bodies have a reserve that large ones
// cannot take), and large bodies parse and score a few at a time (half
// the cores), so that many large requests cannot starve small ones.
package serve

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
)

// Options configure a Server. Zero values mean the defaults.
type Options struct {
	// MaxBodyBytes is the request body limit. Zero derives it from the
	// model and MaxRows: room for MaxRows rows written as JSON objects,
	// with 32 bytes per value beside its column name (for an image model,
	// 4 bytes per pixel): 10,000 NSL-KDD rows (43 columns) get 19.6 MB, see
	// BodyLimit.
	MaxBodyBytes int64
	MaxRows      int    // rows per request; default 10,000
	Top          int    // features listed per row; default 3, negative for none
	Token        string // when set, /v1/score needs "Authorization: Bearer <Token>"
	// MaxInflight is how many /v1/score requests may be in flight; more
	// are answered 503 with Retry-After. Default 512.
	MaxInflight int
	// MaxInflightBytes bounds the declared body bytes (Content-Length; the
	// body limit when unknown) of the /v1/score requests in flight; a
	// request that does not fit is answered 503 with Retry-After. An
	// eighth of it is kept for small bodies (64 KiB or less), which large
	// ones cannot use. Default 64 MiB.
	MaxInflightBytes int64
	// MaxScoring is how many large requests (bodies over 64 KiB, or of
	// unknown length) parse and score at once; the others wait for a turn
	// up to MaxQueueWait, then get a 503. Small requests do not wait.
	// Default: half of GOMAXPROCS, at least 1, so that small requests
	// find a core (one large request's scoring already uses every core).
	MaxScoring int
	// MaxQueueWait is how long a large request waits for a turn to score;
	// default 2s.
	MaxQueueWait time.Duration
	// AllowSchemaChange lets Swap and Reload serve a model whose input
	// differs from the one being served (other feature columns, types,
	// categories or width); by default it is refused, since clients'
	// requests would no longer fit it.
	AllowSchemaChange bool
	// Registry receives the metrics; nil makes a private one, with the Go
	// runtime and process collectors. Metrics a registry already holds (a
	// second Server on it) are shared.
	Registry *prometheus.Registry
	// Logger receives one line per request (method, path, status, rows,
	// duration, request id) at level Info, and what goes wrong (a failed
	// reload, a response that could not be written); nil discards it.
	Logger *slog.Logger

	// Images maps the image endpoints, POST /v1/images/{denoise, upscale,
	// colorize, reconstruct, score}, to the models that serve them: shipped
	// names (package zoo) or model files. The key upscale-x2 (-x3, -x4)
	// serves one scale, upscale the others. Nil serves no image endpoints;
	// DefaultImages gives the shipped models.
	Images map[string]string
	// Latent names the models of GET /v1/latent/* (sample, interpolate,
	// map, digit): models with a code that read 28×28 grey digits, the
	// first the default; nil serves none. DefaultLatent gives the shipped
	// ones.
	Latent []string
	// MaxImagePixels bounds the pictures an image request makes (width ×
	// height of the output, an upscale's included), and so its memory;
	// default DefaultMaxImagePixels.
	MaxImagePixels int
	// MaxImageBytes is the body limit of image requests; default
	// DefaultMaxImageBytes.
	MaxImageBytes int64
	// MaxImageWork is how many image and latent requests run at once;
	// others wait up to MaxQueueWait, then get a 503. Default 1 per 4
	// cores, at least 1 (one picture already uses every core).
	MaxImageWork int
	// Precision is the arithmetic of inference for every model served,
	// those that Swap and Reload bring too (Detector.WithPrecision): FP32
	// (the zero value; weights prepared once) or INT8 where the CPU has
	// AVX512_VNNI (FP32 runs otherwise, with a warning in the log).
	Precision ae.Precision
	// Page serves the web page (package ui) at / and /ui/: pictures
	// through the image endpoints, table rows through /v1/score, the
	// latent space through /v1/latent.
	Page bool
}

func (o *Options) defaults() {
	if o.MaxRows <= 0 {
		o.MaxRows = 10000
	}
	if o.Top == 0 {
		o.Top = 3
	}
	if o.Top < 0 {
		o.Top = 0
	}
	if o.MaxInflight <= 0 {
		o.MaxInflight = 512
	}
	if o.MaxInflightBytes <= 0 {
		o.MaxInflightBytes = 64 << 20
	}
	if o.MaxScoring <= 0 {
		o.MaxScoring = max(1, runtime.GOMAXPROCS(0)/2)
	}
	if o.MaxQueueWait <= 0 {
		o.MaxQueueWait = 2 * time.Second
	}
	if o.MaxImagePixels <= 0 {
		o.MaxImagePixels = DefaultMaxImagePixels
	}
	if o.MaxImageBytes <= 0 {
		o.MaxImageBytes = DefaultMaxImageBytes
	}
	if o.MaxImageWork <= 0 {
		o.MaxImageWork = max(1, runtime.GOMAXPROCS(0)/4)
	}
}

// Server scores rows with the current detector. It is an http.Handler,
// safe for concurrent use; Swap and Reload may run while it serves.
type Server struct {
	opt     Options
	cur     atomic.Pointer[loaded]
	reg     *prometheus.Registry
	ready   atomic.Bool
	mux     *http.ServeMux
	metrics metrics
	log     *slog.Logger
	limit   *limiter
	slots   slots
	swapMu  sync.Mutex // one Swap or Reload at a time

	images      map[string]*pool // image endpoint key → model
	imageScorer *anomaly.Detector
	latents     map[string]*latentModel
	imageSlots  slots
}

// loaded is one detector ready to serve.
type loaded struct {
	det     *anomaly.Detector
	pre     *dataset.Preprocessor
	th      *anomaly.Threshold
	version string
	columns map[string]int // raw column name → index in pre.Columns
	maxBody int64          // the body limit for this model
}

type metrics struct {
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	rows      prometheus.Counter
	anomalies prometheus.Counter
	info      *prometheus.GaugeVec
	reloads   *prometheus.CounterVec
	failures  prometheus.Counter
	refused   *prometheus.CounterVec
	inflight  prometheus.Gauge
	inBytes   prometheus.Gauge
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
// train stores one). det may be nil when the server has image or latent
// models (Options.Images, Options.Latent): /v1/score then answers 404
// until Swap or Reload gives it a detector.
func New(det *anomaly.Detector, opt Options) (*Server, error) {
	opt.defaults()
	s := &Server{opt: opt, reg: opt.Registry, mux: http.NewServeMux(), log: opt.Logger,
		limit: newLimiter(opt.MaxInflight, opt.MaxInflightBytes), slots: make(slots, opt.MaxScoring),
		imageSlots: make(slots, opt.MaxImageWork)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if s.images, err = imageModels(opt.Images); err != nil {
		return nil, err
	}
	if s.latents, err = latentModels(opt.Latent); err != nil {
		return nil, err
	}
	for _, p := range s.pools() {
		got, err := p.model.SetPrecision(opt.Precision)
		if err != nil {
			return nil, fmt.Errorf("serve: model %s: %w", p.name, err)
		}
		s.precisionFell(got)
	}
	if p := s.images[ImageScore]; p != nil {
		if s.imageScorer, err = anomaly.New(p.model); err != nil {
			return nil, fmt.Errorf("serve: image model %s cannot score pictures: %w", p.name, err)
		}
	}
	if det == nil && len(s.images) == 0 && len(s.latents) == 0 {
		return nil, errors.New("serve: nothing to serve: give a detector, image models or latent models")
	}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
		s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
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
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bottleneck_requests_refused_total",
			Help: "Score requests answered 503 because the server was full, by limit: requests, bytes (in flight) or queue (waited too long to score)."}, []string{"limit"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "bottleneck_inflight_requests", Help: "Score requests in flight."}),
		inBytes:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "bottleneck_inflight_bytes", Help: "Weight in bytes (declared body length) of the score requests in flight."}),
	}
	ms := &s.metrics
	for _, reg := range []func() error{
		func() (err error) { ms.requests, err = register(s.reg, ms.requests); return },
		func() (err error) { ms.latency, err = register(s.reg, ms.latency); return },
		func() (err error) { ms.rows, err = register(s.reg, ms.rows); return },
		func() (err error) { ms.anomalies, err = register(s.reg, ms.anomalies); return },
		func() (err error) { ms.info, err = register(s.reg, ms.info); return },
		func() (err error) { ms.reloads, err = register(s.reg, ms.reloads); return },
		func() (err error) { ms.failures, err = register(s.reg, ms.failures); return },
		func() (err error) { ms.refused, err = register(s.reg, ms.refused); return },
		func() (err error) { ms.inflight, err = register(s.reg, ms.inflight); return },
		func() (err error) { ms.inBytes, err = register(s.reg, ms.inBytes); return },
	} {
		if err := reg(); err != nil {
			return nil, fmt.Errorf("serve: metrics: %w", err)
		}
	}
	if det != nil {
		if err := s.Swap(det); err != nil {
			return nil, err
		}
	}
	s.ready.Store(true)
	s.mux.HandleFunc("POST /v1/score", s.instrument("/v1/score", s.auth(s.needTable(s.admit(s.handleScore)))))
	s.mux.HandleFunc("GET /v1/info", s.instrument("/v1/info", s.handleInfo))
	s.mux.HandleFunc("GET /v1/model", s.instrument("/v1/model", s.auth(s.handleModel)))
	s.mux.HandleFunc("GET /v1/sample", s.instrument("/v1/sample", s.auth(s.handleSample)))
	s.mux.HandleFunc("POST /v1/images/{task}", s.instrument("/v1/images", s.auth(s.admitImage(s.handleImage))))
	s.mux.HandleFunc("GET /v1/latent/sample", s.instrument("/v1/latent/sample", s.auth(s.admitImage(s.handleLatentSample))))
	s.mux.HandleFunc("GET /v1/latent/interpolate", s.instrument("/v1/latent/interpolate", s.auth(s.admitImage(s.handleLatentInterpolate))))
	// the map is computed once per model and method, then served from
	// memory: it does not take a turn of the image work, which would hold
	// the turn for the seconds t-SNE takes
	s.mux.HandleFunc("GET /v1/latent/map", s.instrument("/v1/latent/map", s.auth(s.handleLatentMap)))
	s.mux.HandleFunc("GET /v1/latent/digit", s.instrument("/v1/latent/digit", s.auth(s.handleLatentDigit)))
	s.mux.HandleFunc("GET /healthz", s.instrument("/healthz", func(w http.ResponseWriter, r *http.Request) {
		s.writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}))
	s.mux.HandleFunc("GET /readyz", s.instrument("/readyz", s.handleReady))
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	if opt.Page {
		s.mux.HandleFunc("GET /", s.instrument("/", s.page()))
	}
	s.mux.HandleFunc("/", s.instrument("other", s.notFound))
	return s, nil
}

// pools are the image and latent models, each once.
func (s *Server) pools() []*pool {
	seen := map[*pool]bool{}
	var out []*pool
	for _, p := range s.images {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, l := range s.latents {
		out = append(out, l.pool)
	}
	return out
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("no endpoint %s %s; use POST /v1/score, /v1/images/{task}, GET /v1/info, /v1/latent/{sample,interpolate,map,digit}, /healthz, /readyz or /metrics", r.Method, capText(r.URL.Path, maxQuoted))})
}

// needTable answers 404 while no table model is loaded.
func (s *Server) needTable(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cur.Load() == nil {
			s.writeError(w, http.StatusNotFound, apiError{Error: "no table model is loaded, so there is nothing to score rows with; start the server with a model trained by 'bottleneck train'"})
			return
		}
		next(w, r)
	}
}

// admitImage lets an image or latent request in when it fits the limits
// on work in flight and gets a turn to run within MaxQueueWait, else
// answers 503 with Retry-After.
func (s *Server) admitImage(next http.HandlerFunc) http.HandlerFunc {
	return s.admitWith(func() int64 { return s.opt.MaxImageBytes }, func(*http.Request) slots { return s.imageSlots }, next)
}

// Swap replaces the detector being served; requests in flight finish with
// the old one. A detector that cannot be served, or whose input schema
// differs from the served one's without Options.AllowSchemaChange, is
// refused, counted as a failed reload and logged, and the old one stays.
func (s *Server) Swap(det *anomaly.Detector) error {
	return s.swap(det, "")
}

// Reload opens the model file at path (with anomaly.Open) and serves it in
// place of the current one, as Swap does. Every failure (no such file, a
// damaged file, weights that are not finite, another input schema) leaves
// the old model serving, is counted in
// bottleneck_model_reloads_total{result="error"} and logged.
func (s *Server) Reload(path string) error {
	det, err := anomaly.Open(path)
	if err != nil {
		err = fmt.Errorf("serve: reload %s: %w", path, err)
		s.reloadFailed(path, err)
		return err
	}
	return s.swap(det, path)
}

func (s *Server) swap(det *anomaly.Detector, path string) error {
	s.swapMu.Lock()
	defer s.swapMu.Unlock()
	l, err := s.prepare(det)
	old := s.cur.Load()
	if err == nil && old != nil && !s.opt.AllowSchemaChange {
		if d := schemaDiff(old.pre, l.pre); d != "" {
			err = fmt.Errorf("serve: the new model's input differs from the served one's (%s): requests made for one would not fit the other; "+
				"set AllowSchemaChange (bottleneck serve --allow-schema-change) to serve it anyway", d)
		}
	}
	if err != nil {
		if path != "" {
			err = fmt.Errorf("serve: reload %s: %w", path, trimPrefix(err))
		}
		if old != nil {
			s.reloadFailed(path, err)
		}
		return err
	}
	s.cur.Store(l)
	if old != nil {
		s.metrics.info.DeleteLabelValues(old.version)
		s.metrics.reloads.WithLabelValues("ok").Inc()
		s.log.Info("model reloaded", "path", path, "version", l.version, "previous", old.version)
	}
	s.metrics.info.WithLabelValues(l.version).Set(1)
	return nil
}

// trimPrefix drops the "serve: " of an error about to be wrapped in one.
func trimPrefix(err error) error {
	if msg, ok := strings.CutPrefix(err.Error(), "serve: "); ok {
		return errors.New(msg)
	}
	return err
}

func (s *Server) reloadFailed(path string, err error) {
	s.metrics.reloads.WithLabelValues("error").Inc()
	version := ""
	if l := s.cur.Load(); l != nil {
		version = l.version
	}
	s.log.Error("model reload failed; the old model stays", "path", path, "version", version, "error", err)
}

// ModelVersion is the version of the model being served.
func (s *Server) ModelVersion() string {
	if l := s.cur.Load(); l != nil {
		return l.version
	}
	return ""
}

// BodyLimit is the request body limit for the model being served:
// Options.MaxBodyBytes, or the one derived from the model.
func (s *Server) BodyLimit() int64 {
	if l := s.cur.Load(); l != nil {
		return l.maxBody
	}
	return s.opt.MaxBodyBytes
}

// SetReady marks the server ready or not (false while shutting down, so
// load balancers stop sending traffic).
func (s *Server) SetReady(v bool) { s.ready.Store(v) }

// reqInfo is what the access log learns about a request as it runs.
type reqInfo struct {
	id   string
	rows int
}

type infoKey struct{}

func info(r *http.Request) *reqInfo {
	if i, ok := r.Context().Value(infoKey{}).(*reqInfo); ok {
		return i
	}
	return &reqInfo{}
}

// requestID is the client's X-Request-Id when it is a sane one (1 to 128
// printable ASCII characters, no spaces or quotes), else a new random one.
func requestID(in string) string {
	ok := len(in) > 0 && len(in) <= 128
	for i := 0; ok && i < len(in); i++ {
		c := in[i]
		ok = c > ' ' && c < 0x7f && c != '"' && c != '\\'
	}
	if ok {
		return in
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ServeHTTP serves the endpoints and writes one access-log line per
// request. The request id (the client's X-Request-Id, or a new one) is
// echoed in the X-Request-Id response header. A panic in a handler becomes
// a 500 JSON error, never a crash.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ri := &reqInfo{id: requestID(r.Header.Get("X-Request-Id"))}
	w.Header().Set("X-Request-Id", ri.id)
	r = r.WithContext(context.WithValue(r.Context(), infoKey{}, ri))
	sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("panic while serving a request", "path", r.URL.Path, "request_id", ri.id, "panic", fmt.Sprint(p))
			s.writeError(sw, http.StatusInternalServerError, apiError{Error: fmt.Sprintf("internal error: %v", p)})
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method), slog.String("path", capText(r.URL.Path, maxQuoted)), slog.Int("status", sw.code),
			slog.Int("rows", ri.rows), slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.String("request_id", ri.id), slog.String("remote", r.RemoteAddr))
	}()
	s.mux.ServeHTTP(sw, r)
}

// prepare checks that det can be served and derives what serving needs.
func (s *Server) prepare(det *anomaly.Detector) (*loaded, error) {
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
	det, got, err := det.WithPrecision(s.opt.Precision)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	s.precisionFell(got)
	l := &loaded{det: det, pre: pre, th: th, version: det.Version(), columns: make(map[string]int, len(pre.Columns)), maxBody: s.opt.MaxBodyBytes}
	for i, c := range pre.Columns {
		l.columns[c.Name] = i
	}
	if l.maxBody <= 0 {
		l.maxBody = BodyLimit(pre, s.opt.MaxRows)
	}
	return l, nil
}

// precisionFell warns when a model runs at another precision than
// Options.Precision (int8 on a CPU without AVX512_VNNI).
func (s *Server) precisionFell(got ae.Precision) {
	if got != s.opt.Precision {
		s.log.Warn("the CPU cannot run the precision asked for; running another", "asked", s.opt.Precision.String(), "running", got.String())
	}
}

// BodyLimit is the body limit Options.MaxBodyBytes defaults to for a
// model with preprocessing pre: room for rows rows written as JSON
// objects, each value given 32 bytes beside its column name (quotes,
// colon, comma and a number in full float64 precision), or 4 bytes a
// value for a picture's pixels (0..255, comma); at least 1 MiB.
func BodyLimit(pre *dataset.Preprocessor, rows int) int64 {
	var row int64 = 2
	switch {
	case pre.Kind == dataset.KindImage:
		row += 4 * int64(pre.Dim())
	case len(pre.Columns) > 0:
		for _, c := range pre.Columns {
			row += int64(len(c.Name)) + 32
		}
	default:
		row += 32 * int64(pre.Dim())
	}
	return max(int64(rows)*row, 1<<20)
}

// schemaDiff says how the input of b differs from a's (the kind, width,
// raw columns with their roles, types and categories, in order), or ""
// when requests for one fit the other.
func schemaDiff(a, b *dataset.Preprocessor) string {
	if a.Kind != b.Kind {
		return fmt.Sprintf("it reads %s data, not %s", b.Kind, a.Kind)
	}
	if len(a.Columns) != len(b.Columns) {
		return fmt.Sprintf("%d columns, not %d", len(b.Columns), len(a.Columns))
	}
	for i := range a.Columns {
		ca, cb := &a.Columns[i], &b.Columns[i]
		switch {
		case ca.Name != cb.Name:
			return fmt.Sprintf("column %d is %q, not %q", i+1, cb.Name, ca.Name)
		case ca.Role != cb.Role:
			return fmt.Sprintf("column %q is a %s column, not a %s column", ca.Name, cb.Role, ca.Role)
		case ca.Type != cb.Type:
			return fmt.Sprintf("column %q is %s, not %s", ca.Name, cb.Type, ca.Type)
		case !slices.Equal(ca.Categories, cb.Categories):
			return fmt.Sprintf("column %q has the categories %v, not %v", ca.Name, capText(fmt.Sprint(cb.Categories), 200), capText(fmt.Sprint(ca.Categories), 200))
		}
	}
	if !slices.Equal(a.InputShape, b.InputShape) {
		return fmt.Sprintf("input shape %v, not %v", b.InputShape, a.InputShape)
	}
	return ""
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	l := s.cur.Load()
	if !s.ready.Load() || (l == nil && len(s.images) == 0 && len(s.latents) == 0) {
		s.writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
		return
	}
	st := map[string]string{"status": "ready"}
	if l != nil {
		st["model_version"] = l.version
	}
	s.writeJSON(w, http.StatusOK, st)
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

// admit lets a score request in when it fits the limits on work in
// flight, else answers 503 with Retry-After; a large one also waits for
// a scoring slot.
func (s *Server) admit(next http.HandlerFunc) http.HandlerFunc {
	return s.admitWith(func() int64 { return s.cur.Load().maxBody }, func(r *http.Request) slots {
		if r.ContentLength < 0 || r.ContentLength > smallBody {
			return s.slots
		}
		return nil // small requests do not wait
	}, next)
}

// admitWith admits a request weighed by its declared body against the
// body limit, counts it in the in-flight metrics, and, when turn gives it
// slots, waits up to MaxQueueWait for one; a request that does not fit or
// waits too long is answered 503.
func (s *Server) admitWith(limit func() int64, turn func(*http.Request) slots, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		wgt := s.limit.weight(r.ContentLength, limit())
		ok, why := s.limit.acquire(wgt)
		if !ok {
			s.refuse(w, why)
			return
		}
		s.metrics.inflight.Inc()
		s.metrics.inBytes.Add(float64(wgt))
		defer func() {
			s.limit.release(wgt)
			s.metrics.inflight.Dec()
			s.metrics.inBytes.Sub(float64(wgt))
		}()
		if sl := turn(r); sl != nil {
			if !sl.acquire(r.Context(), s.opt.MaxQueueWait) {
				s.refuse(w, refusedQueue)
				return
			}
			defer sl.release()
		}
		next(w, r)
	}
}

// refuse answers 503: the server is full.
func (s *Server) refuse(w http.ResponseWriter, why reason) {
	s.metrics.refused.WithLabelValues(string(why)).Inc()
	var msg string
	switch why {
	case refusedCount:
		msg = fmt.Sprintf("the server is busy: %d score requests are in flight, the most it takes; retry after the Retry-After seconds", s.opt.MaxInflight)
	case refusedBytes:
		msg = "the server is busy: the request bodies in flight fill its budget; retry after the Retry-After seconds, or send smaller requests"
	default:
		msg = fmt.Sprintf("the server is busy: large requests waited over %s for a turn to score; retry after the Retry-After seconds", s.opt.MaxQueueWait)
	}
	w.Header().Set("Retry-After", "1")
	s.writeError(w, http.StatusServiceUnavailable, apiError{Error: msg})
}

// statusWriter records the status code for the metrics and the log.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

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

// writeError writes e with its message and field made fit for an API
// client (see apiText).
func (s *Server) writeError(w http.ResponseWriter, code int, e apiError) {
	e.Error = apiText(e.Error)
	e.Field = capText(e.Field, maxQuoted)
	s.writeJSON(w, code, e)
}
