// Package stream scores event streams on NATS JetStream and Kafka with an
// anomaly.Detector: a Worker reads messages (JSON objects keyed by column
// name, or CSV lines) from a subject or topic as a member of a consumer
// group, scores them in micro-batches, publishes one Output per message to
// an output subject or topic and acknowledges the inputs only once the
// broker has acknowledged their outputs. Messages that cannot be scored go
// to a dead-letter destination with the error and the original payload.
//
// The broker does the distribution: any number of workers with the same
// group share the input (a durable pull consumer on NATS, a consumer group
// on Kafka), and a worker keeps no state beyond the batch in flight, so
// workers can be added, removed or killed at any time. Delivery is at
// least once: a worker killed between publishing a batch's outputs and
// acknowledging its inputs leaves that batch to be scored again by
// another (NATS drops the repeated outputs itself, by message id, when a
// stream captures the output subject).
package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Options configure a Worker. Zero values mean the defaults.
type Options struct {
	// In is where messages are read: nats://HOST:PORT/SUBJECT or
	// kafka://HOST:PORT[,HOST:PORT…]/TOPIC.
	In string
	// Out is where outputs go: a subject or topic on the input's broker
	// (or a URL of that broker).
	Out string
	// Dead is where messages that cannot be scored go; default In's
	// subject or topic with ".dead" appended. On NATS a stream is created
	// for it when none captures it, so that dead letters are kept.
	Dead string
	// Group is the consumer group: the durable consumer's name on NATS,
	// the group id on Kafka. Workers with the same group share the input.
	// Default "bottleneck".
	Group string
	// Stream is the name of the JetStream stream created for In when no
	// stream captures its subject; default derived from the subject
	// ("events.kdd" → "EVENTS_KDD").
	Stream string
	// ID names a field of the input copied to the output as its id: a
	// JSON field name, or for CSV the field's 0-based index (the other
	// fields are then the model's columns). Without it the id is the
	// broker's coordinates of the input.
	ID     string
	Format string // FormatJSON (default) or FormatCSV
	// Batch is the most messages scored together (default 256), Linger how
	// long to wait for more after the first of a batch (default 5ms; a
	// negative value does not wait).
	Batch  int
	Linger time.Duration
	Top    int // columns listed per output, largest share first (default 3, negative for none)
	// AckWait is how long NATS waits for a message's acknowledgement
	// before delivering it again (the durable consumer's AckWait when the
	// worker creates it; default 30s). MaxDeliver is how many deliveries a
	// NATS message gets before it is dead-lettered as one that no worker
	// finishes (default 10).
	AckWait    time.Duration
	MaxDeliver int
	// SessionTimeout is how long Kafka waits for a silent member (a killed
	// worker) before giving its partitions to the others (default 45s).
	SessionTimeout time.Duration
	// DrainTimeout bounds the time a stopping worker spends finishing its
	// batch (default 30s); what it cannot finish is delivered again.
	DrainTimeout time.Duration
	// WorkerID names this worker in the Bottleneck-Worker header of its
	// outputs and in logs; default host:pid.
	WorkerID string
	// AllowSchemaChange lets Swap and Reload load a model whose input
	// columns differ from the current one's.
	AllowSchemaChange bool
	// Precision is the arithmetic of inference for the model and those
	// Swap and Reload bring (anomaly.Detector.WithPrecision): FP32 (the
	// zero value) or INT8 where the CPU has AVX512_VNNI (FP32 runs
	// otherwise, with a warning in the log).
	Precision ae.Precision
	// Registry receives the metrics; nil makes a private one with the Go
	// runtime and process collectors.
	Registry *prometheus.Registry
	// Logger receives what the worker does and what goes wrong (broker
	// outages, reconnections, reloads); nil discards it.
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.Group == "" {
		o.Group = "bottleneck"
	}
	if o.Batch <= 0 {
		o.Batch = 256
	}
	if o.Linger == 0 {
		o.Linger = 5 * time.Millisecond
	}
	if o.Linger < 0 {
		o.Linger = 0
	}
	if o.Top == 0 {
		o.Top = 3
	}
	if o.AckWait <= 0 {
		o.AckWait = 30 * time.Second
	}
	if o.MaxDeliver <= 0 {
		o.MaxDeliver = 10
	}
	if o.SessionTimeout <= 0 {
		o.SessionTimeout = 45 * time.Second
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 30 * time.Second
	}
	if o.WorkerID == "" {
		host, _ := os.Hostname()
		o.WorkerID = host + ":" + strconv.Itoa(os.Getpid())
	}
}

// Worker scores the messages of one input with the current detector. Run
// it with Run; Swap, Reload and the Handler are safe to use while it runs.
type Worker struct {
	opt            Options
	in, out, dead  Endpoint
	cur            atomic.Pointer[loaded]
	reg            *prometheus.Registry
	m              metrics
	log            *slog.Logger
	ready, running atomic.Bool
	connect        func(ctx context.Context) (broker, error) // tests replace it
}

// loaded is one detector ready to score.
type loaded struct {
	det     *anomaly.Detector
	th      float64
	version string
	codec   *codec
}

type metrics struct {
	consumed, scored, anomalies, dead, redelivered prometheus.Counter
	errors                                         *prometheus.CounterVec
	lag                                            prometheus.Gauge
	batch                                          prometheus.Histogram
	batchSize                                      prometheus.Histogram
	delay                                          prometheus.Histogram
	info                                           *prometheus.GaugeVec
	reloads                                        *prometheus.CounterVec
}

// New returns a worker for det, which must be a table model with a
// threshold (what `bottleneck train` writes for a CSV file). It checks the
// options; Run connects.
func New(det *anomaly.Detector, opt Options) (*Worker, error) {
	opt.defaults()
	w := &Worker{opt: opt, reg: opt.Registry, log: opt.Logger}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if w.in, err = ParseEndpoint(opt.In); err != nil {
		return nil, err
	}
	if opt.Out == "" {
		return nil, errors.New("stream: no output; name the subject or topic the scores go to")
	}
	if w.out, err = resolveOut(w.in, opt.Out, "output"); err != nil {
		return nil, err
	}
	dead := opt.Dead
	if dead == "" {
		if w.in.Kind == NATS && w.in.wildcard() {
			return nil, fmt.Errorf("stream: the input subject %q has wildcards, so no dead-letter subject can be derived from it; name one", w.in.Name)
		}
		dead = w.in.Name + ".dead"
	}
	if w.dead, err = resolveOut(w.in, dead, "dead-letter destination"); err != nil {
		return nil, err
	}
	for _, e := range []Endpoint{w.out, w.dead} {
		if e.Kind == NATS && e.wildcard() {
			return nil, fmt.Errorf("stream: %q: outputs need a subject without wildcards", e.Name)
		}
		if e.Name == w.in.Name || (e.Kind == NATS && subjectMatches(w.in.Name, e.Name)) {
			return nil, fmt.Errorf("stream: %s would be read back as input (%s); write outputs elsewhere", e, w.in.Name)
		}
	}
	if w.reg == nil {
		w.reg = prometheus.NewRegistry()
		w.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if err := w.register(); err != nil {
		return nil, err
	}
	if err := w.swap(det, ""); err != nil {
		return nil, err
	}
	w.connect = w.dial
	return w, nil
}

func (w *Worker) register() error {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	w.m = metrics{
		consumed:    c("bottleneck_stream_consumed_total", "Messages read from the input."),
		scored:      c("bottleneck_stream_scored_total", "Messages scored (their outputs published and the inputs acknowledged)."),
		anomalies:   c("bottleneck_stream_anomalies_total", "Messages flagged as anomalous."),
		dead:        c("bottleneck_stream_dead_lettered_total", "Messages that could not be scored, sent to the dead-letter destination."),
		redelivered: c("bottleneck_stream_redelivered_total", "Messages read that the broker had delivered before (NATS)."),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bottleneck_stream_broker_errors_total",
			Help: "Failed broker operations by operation: connect, fetch, publish, ack (each retried with backoff)."}, []string{"op"}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "bottleneck_stream_lag",
			Help: "Messages waiting in the input as of the last batch: the consumer's pending count (NATS), or the high watermark minus the position summed over this worker's partitions (Kafka)."}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "bottleneck_stream_batch_duration_seconds",
			Help: "Time from a batch's arrival to its acknowledgement: decode, score, publish, ack.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18)}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "bottleneck_stream_batch_size",
			Help: "Messages per batch.", Buckets: prometheus.ExponentialBuckets(1, 2, 14)}),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "bottleneck_stream_delay_seconds",
			Help: "Time from the broker storing a message to its acknowledgement (by the broker's and this machine's clocks).", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 20)}),
		info:    prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "bottleneck_model_info", Help: "The model scoring (value 1), by version."}, []string{"version"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bottleneck_model_reloads_total", Help: "Model reloads by result."}, []string{"result"}),
	}
	for _, col := range []prometheus.Collector{w.m.consumed, w.m.scored, w.m.anomalies, w.m.dead, w.m.redelivered, w.m.errors, w.m.lag,
		w.m.batch, w.m.batchSize, w.m.delay, w.m.info, w.m.reloads} {
		if err := w.reg.Register(col); err != nil {
			return fmt.Errorf("stream: metrics: %w (one Worker per registry)", err)
		}
	}
	return nil
}

// prepare checks det and derives what scoring needs.
func (w *Worker) prepare(det *anomaly.Detector) (*loaded, error) {
	if det == nil {
		return nil, errors.New("stream: no detector")
	}
	pre := det.Preprocessor()
	if pre == nil || pre.Kind != dataset.KindTable {
		return nil, errors.New("stream: the model was not trained on a table; streams carry rows keyed by column name, so train on a CSV file")
	}
	if det.Window() > 1 {
		return nil, errors.New("stream: a time-series model scores windows of consecutive rows, which a consumer group does not keep in order; score files with 'bottleneck score'")
	}
	th := det.Threshold()
	if th == nil {
		return nil, errors.New("stream: the model has no anomaly threshold; retrain it with bottleneck train (it stores one)")
	}
	c, err := newCodec(pre, w.opt.Format, w.opt.ID)
	if err != nil {
		return nil, err
	}
	det, got, err := det.WithPrecision(w.opt.Precision)
	if err != nil {
		return nil, fmt.Errorf("stream: %w", err)
	}
	if got != w.opt.Precision {
		w.log.Warn("the CPU cannot run the precision asked for; running another", "asked", w.opt.Precision.String(), "running", got.String())
	}
	return &loaded{det: det, th: th.Value, version: det.Version(), codec: c}, nil
}

// Swap scores with det from the next batch on. A detector whose input
// columns differ from the current one's is refused unless
// Options.AllowSchemaChange.
func (w *Worker) Swap(det *anomaly.Detector) error { return w.swap(det, "") }

// Reload opens the model file at path and swaps it in; a failure leaves
// the current model scoring, and is logged and counted in
// bottleneck_model_reloads_total{result="error"}.
func (w *Worker) Reload(path string) error {
	det, err := anomaly.Open(path)
	if err != nil {
		err = fmt.Errorf("stream: reload %s: %w", path, err)
		w.m.reloads.WithLabelValues("error").Inc()
		w.log.Error("model reload failed; the old model stays", "path", path, "error", err)
		return err
	}
	return w.swap(det, path)
}

func (w *Worker) swap(det *anomaly.Detector, path string) error {
	l, err := w.prepare(det)
	old := w.cur.Load()
	if err == nil && old != nil && !w.opt.AllowSchemaChange {
		a, b := old.det.Preprocessor(), det.Preprocessor()
		if !slices.EqualFunc(a.Columns, b.Columns, func(x, y dataset.ColumnSpec) bool { return x.Name == y.Name }) {
			err = fmt.Errorf("stream: the new model's columns %v differ from the current one's %v, so producers' messages would not fit it; allow a schema change to load it anyway",
				columnNames(b), columnNames(a))
		}
	}
	if err != nil {
		if old != nil {
			if path != "" {
				err = fmt.Errorf("stream: reload %s: %w", path, err)
			}
			w.m.reloads.WithLabelValues("error").Inc()
			w.log.Error("model reload failed; the old model stays", "path", path, "error", err)
		}
		return err
	}
	w.cur.Store(l)
	if old != nil {
		w.m.info.DeleteLabelValues(old.version)
		w.m.reloads.WithLabelValues("ok").Inc()
		w.log.Info("model reloaded", "path", path, "version", l.version, "previous", old.version)
	}
	w.m.info.WithLabelValues(l.version).Set(1)
	return nil
}

func columnNames(p *dataset.Preprocessor) []string {
	names := make([]string, len(p.Columns))
	for i, c := range p.Columns {
		names[i] = c.Name
	}
	return names
}

// ModelVersion is the version of the model scoring now.
func (w *Worker) ModelVersion() string { return w.cur.Load().version }

// Ready reports whether the worker is connected to its broker and not
// stopping.
func (w *Worker) Ready() bool { return w.ready.Load() }

// Handler serves GET /healthz (the process is up), /readyz (connected to
// the broker, a model loaded, not draining) and /metrics (Prometheus).
func (w *Worker) Handler() http.Handler {
	mux := http.NewServeMux()
	reply := func(rw http.ResponseWriter, code int, v any) {
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(code)
		json.NewEncoder(rw).Encode(v)
	}
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, r *http.Request) {
		reply(rw, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(rw http.ResponseWriter, r *http.Request) {
		if !w.ready.Load() {
			reply(rw, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
			return
		}
		reply(rw, http.StatusOK, map[string]string{"status": "ready", "model_version": w.ModelVersion()})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(w.reg, promhttp.HandlerOpts{Registry: w.reg}))
	return mux
}

// message is one input message.
type message struct {
	value     []byte
	coord     json.RawMessage // the default id: the broker's coordinates
	delivered int             // deliveries so far when the broker says (NATS), else 0
	stored    time.Time       // when the broker stored it, when known
	raw       any             // the broker's own message
}

// outMsg is one message to publish.
type outMsg struct {
	dead  bool   // to the dead-letter destination, else to the output
	key   string // Kafka key, NATS Bottleneck-Id header
	value []byte
	dedup string // NATS message id: repeated outputs of one input are dropped
	errs  string // dead letters: the error, also in a header
	done  bool   // the broker has it
}

// broker is a connection to one input and its outputs.
type broker interface {
	// fetch waits for messages: up to max, gathering for linger after the
	// first. It returns nothing (and no error) when ctx ends.
	fetch(ctx context.Context, max int, linger time.Duration) ([]*message, error)
	// publish sends the outputs not yet done, marks those the broker has
	// acknowledged as done, and returns the first failure.
	publish(ctx context.Context, out []*outMsg) error
	// ack acknowledges messages whose outputs are published.
	ack(ctx context.Context, msgs []*message) error
	// lag is the input's backlog as of the last fetch (ok false when the
	// broker does not say).
	lag() (n int64, ok bool)
	// close leaves the group and closes the connection, giving back the
	// messages fetched and not acknowledged.
	close(unacked []*message)
	// connected reports whether the connection is up now.
	connected() bool
}

// Run connects to the broker (retrying with backoff until it answers) and
// scores messages until ctx ends; it then drains: finishes and
// acknowledges the batch in flight, and leaves the group. It returns nil
// after a drain, or the error that stopped it (a broker refusing the
// configuration). Run may be called once.
func (w *Worker) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("stream: Run called twice")
	}
	l := w.cur.Load()
	w.log.Info("stream worker starting", "in", w.in.String(), "out", w.out.Name, "dead", w.dead.Name, "group", w.opt.Group,
		"format", l.codec.format, "batch", w.opt.Batch, "linger", w.opt.Linger.String(), "model", l.version, "worker", w.opt.WorkerID)
	var b broker
	for attempt := 0; ; attempt++ {
		var err error
		b, err = w.connect(ctx)
		if err == nil {
			break
		}
		var fe fatalError
		if errors.As(err, &fe) {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		w.m.errors.WithLabelValues("connect").Inc()
		d := backoff(attempt)
		w.log.Warn("cannot reach the broker; retrying", "in", w.in.String(), "error", err, "retry_in", d.String())
		if !sleep(ctx, d) {
			return nil
		}
	}
	w.ready.Store(true)
	w.log.Info("stream worker consuming", "in", w.in.String(), "group", w.opt.Group)
	err := w.loop(ctx, b)
	w.ready.Store(false)
	return err
}

// loop is Run's consume cycle.
func (w *Worker) loop(ctx context.Context, b broker) error {
	fails := 0
	for {
		if ctx.Err() != nil {
			w.log.Info("stopping: leaving the group")
			b.close(nil)
			w.log.Info("stopped")
			return nil
		}
		msgs, err := b.fetch(ctx, w.opt.Batch, w.opt.Linger)
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			w.m.errors.WithLabelValues("fetch").Inc()
			w.ready.Store(false)
			d := backoff(fails)
			fails++
			w.log.Warn("fetch failed; retrying", "error", err, "retry_in", d.String())
			sleep(ctx, d)
			continue
		}
		if fails > 0 || !w.ready.Load() {
			if b.connected() {
				w.ready.Store(true)
				if fails > 0 {
					w.log.Info("fetching again", "after_failures", fails)
				}
				fails = 0
			}
		}
		if n, ok := b.lag(); ok {
			w.m.lag.Set(float64(n))
		}
		if len(msgs) == 0 {
			continue
		}
		if !w.finish(ctx, b, msgs) {
			w.log.Warn("stopping with a batch unfinished: its messages will be delivered again", "messages", len(msgs))
			b.close(msgs)
			return nil
		}
	}
}

// finish scores a batch, publishes its outputs and acknowledges it,
// retrying broker failures with backoff; once ctx ends it keeps trying for
// DrainTimeout. It reports whether the batch was acknowledged.
func (w *Worker) finish(ctx context.Context, b broker, msgs []*message) bool {
	start := time.Now()
	w.m.consumed.Add(float64(len(msgs)))
	l := w.cur.Load()
	outs, flagged, dead := w.process(l, msgs)
	// the batch is finished even when ctx ends (SIGTERM), within
	// DrainTimeout of that
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		time.AfterFunc(w.opt.DrainTimeout, cancel)
	})
	defer stop()
	for _, op := range []struct {
		name string
		do   func() error
	}{
		{"publish", func() error { return b.publish(bctx, outs) }},
		{"ack", func() error { return b.ack(bctx, msgs) }},
	} {
		for attempt := 0; ; attempt++ {
			err := op.do()
			if err == nil {
				if attempt > 0 {
					w.log.Info(op.name+" succeeded after retrying", "attempts", attempt+1)
					w.ready.Store(true)
				}
				break
			}
			w.m.errors.WithLabelValues(op.name).Inc()
			if errors.Is(err, errUnacked) {
				w.log.Warn("the batch's outputs are published but its acknowledgement failed: its messages may be scored again", "messages", len(msgs), "error", err)
				break
			}
			if bctx.Err() != nil {
				return false
			}
			w.ready.Store(false)
			d := backoff(attempt)
			w.log.Warn(op.name+" failed; retrying (the batch stays unacknowledged until it succeeds)", "messages", len(msgs), "error", err, "retry_in", d.String())
			if !sleep(bctx, d) {
				return false
			}
		}
	}
	now := time.Now()
	w.m.batch.Observe(now.Sub(start).Seconds())
	w.m.batchSize.Observe(float64(len(msgs)))
	w.m.scored.Add(float64(len(msgs) - dead))
	w.m.anomalies.Add(float64(flagged))
	w.m.dead.Add(float64(dead))
	for _, m := range msgs {
		if !m.stored.IsZero() {
			w.m.delay.Observe(max(now.Sub(m.stored), 0).Seconds())
		}
		if m.delivered > 1 {
			w.m.redelivered.Inc()
		}
	}
	return true
}

// process turns a batch into its outputs and dead letters (in input
// order), scoring the rows that decode as one tensor.
func (w *Worker) process(l *loaded, msgs []*message) (outs []*outMsg, flagged, dead int) {
	pre := l.codec.pre
	d := pre.Dim()
	x := tensor.New(len(msgs), d)
	ids := make([]json.RawMessage, len(msgs))
	errs := make([]error, len(msgs))
	good := make([]int, 0, len(msgs))
	for i, m := range msgs {
		row := x.Row(len(good))
		id, err := decodeSafe(l.codec, m.value, row)
		if id == nil {
			id = m.coord
		}
		ids[i] = id
		if err == nil && m.delivered > w.opt.MaxDeliver {
			err = fmt.Errorf("delivered %d times without being acknowledged (more than %d): every worker that read it stopped before finishing it", m.delivered, w.opt.MaxDeliver)
		}
		if err != nil {
			errs[i] = err
			continue
		}
		good = append(good, i)
	}
	var res []anomaly.Result
	if len(good) > 0 {
		x.SetRows(len(good))
		var err error
		res, err = scoreSafe(l.det, x, anomaly.ScoreOptions{Top: w.opt.Top, Batch: len(good)})
		if err != nil {
			for _, i := range good {
				errs[i] = fmt.Errorf("scoring failed: %w", err)
			}
			good = good[:0]
		}
	}
	dedup := func(i int, kind string) string {
		return "bottleneck:" + w.opt.Group + ":" + kind + ":" + w.in.Name + ":" + string(msgs[i].coord)
	}
	outs = make([]*outMsg, len(msgs))
	k := 0
	for i, m := range msgs {
		if errs[i] != nil {
			dead++
			outs[i] = &outMsg{dead: true, key: key(ids[i]), value: encodeDead(ids[i], errs[i], m.value, w.in.Name, l.version),
				dedup: dedup(i, "dead"), errs: errs[i].Error()}
			continue
		}
		r := res[k]
		k++
		if r.Anomaly {
			flagged++
		}
		outs[i] = &outMsg{key: key(ids[i]), value: encodeOutput(ids[i], r, l.th, l.version), dedup: dedup(i, "out")}
	}
	return outs, flagged, dead
}

// decodeSafe decodes one payload; a panic (a bug) dead-letters the
// message instead of killing every worker that reads it.
func decodeSafe(c *codec, payload []byte, dst []float32) (id json.RawMessage, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error decoding the message: %v", p)
		}
	}()
	return c.decode(payload, dst)
}

func scoreSafe(det *anomaly.Detector, x *tensor.Tensor, o anomaly.ScoreOptions) (res []anomaly.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error: %v", p)
		}
	}()
	return det.ScoreWith(x, o)
}

// errUnacked is a broker's word that a batch whose outputs are published
// cannot be acknowledged, and need not be retried: its messages may come
// again (as duplicates) and nothing is lost.
var errUnacked = errors.New("acknowledgement given up")

// fatalError is a broker's refusal that retrying will not change.
type fatalError struct{ error }

func (f fatalError) Unwrap() error { return f.error }

// backoff is the wait before retry attempt+1: 100ms doubling to 5s, with
// ±20% jitter so that workers do not retry in step.
func backoff(attempt int) time.Duration {
	d := 100 * time.Millisecond << min(attempt, 6)
	d = min(d, 5*time.Second)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// sleep waits d or until ctx ends; it reports whether it waited d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// dial connects to the input's broker.
func (w *Worker) dial(ctx context.Context) (broker, error) {
	switch w.in.Kind {
	case NATS:
		return dialNATS(ctx, w)
	default:
		return dialKafka(ctx, w)
	}
}
