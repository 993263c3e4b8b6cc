package stream

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/nn"
)

// runUntil runs w until cond holds (or 10 s pass), then stops it and
// waits for Run to return.
func runUntil(t *testing.T, w *Worker, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("timed out")
		}
		time.Sleep(2 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestWorkerScoresAndDeadLetters(t *testing.T) {
	det := tableDetector(t)
	f := &fakeBroker{}
	f.add(txn(1, 38.5, 9, "de"), txn(2, 950, 3, "fr"),
		[]byte(`{"txn": 3, "amount": 30`),                               // not JSON
		[]byte(`{"txn": 4, "amount": "x", "hour": 1, "country": "de"}`), // not a number
		[]byte(`{"txn": 5, "amount": 30, "hour": 1, "country": "de", "colour": "red"}`),
		[]byte(`{"amount": 30, "hour": 1, "country": "de"}`), // no id
		[]byte("\xff\xfe"), // not UTF-8
		[]byte(`{"txn": "t8", "amount": "Inf", "hour": 1, "country": "de"}`), // not finite
		txn(9, 40, 10, "xx"), // unseen category: scored
		[]byte(`{"txn": 10, "amount": 30, "hour": 1e400, "country": "de"}`), // not finite
	)
	w := fakeWorker(t, f, Options{ID: "txn", Batch: 4})
	runUntil(t, w, func() bool { f.mu.Lock(); defer f.mu.Unlock(); return len(f.acked) == 10 })

	// outputs are published before their batch is acknowledged
	for i, e := range f.events {
		if strings.HasPrefix(e, "ack") != (i%2 == 1) {
			t.Fatalf("events %v: want publish, ack, publish, ack, …", f.events)
		}
	}
	want, err := det.ScoreRecords([]string{"amount", "hour", "country"}, [][]string{{"38.5", "9", "de"}, {"950", "3", "fr"}, {"40", "10", "xx"}})
	if err != nil {
		t.Fatal(err)
	}
	deadErr := map[string]string{
		"3": "not a JSON object", "4": `column "amount": "x" is not a number`, "5": `unknown columns ["colour"]`,
		"6": `no field "txn"`, "7": "not a JSON object", `"t8"`: `column "amount": "Inf" is not a number`, "10": `column "hour": "1e400" is not a number`,
	}
	var outs []Output
	for _, o := range f.published {
		if o.dead {
			var d DeadLetter
			if err := json.Unmarshal(o.value, &d); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(d.Error, deadErr[string(d.ID)]) || d.Source != "txns" || d.Model != det.Version() {
				t.Errorf("dead letter %s: %+v; want the error to say %q", d.ID, d, deadErr[string(d.ID)])
			}
			if string(d.ID) == "7" {
				if d.Payload != nil || string(d.PayloadBase64) != "\xff\xfe" {
					t.Errorf("dead letter 7: payload %v / %q; want the bytes in payload_base64", d.Payload, d.PayloadBase64)
				}
			} else if d.Payload == nil || !strings.Contains(*d.Payload, "amount") {
				t.Errorf("dead letter %s: payload %v; want the original message", d.ID, d.Payload)
			}
			delete(deadErr, string(d.ID))
			continue
		}
		var out Output
		if err := json.Unmarshal(o.value, &out); err != nil {
			t.Fatal(err)
		}
		if o.key != string(out.ID) {
			t.Errorf("key %q, id %s", o.key, out.ID)
		}
		outs = append(outs, out)
	}
	if len(deadErr) != 0 {
		t.Errorf("no dead letters for %v", deadErr)
	}
	if len(outs) != 3 {
		t.Fatalf("%d outputs; want 3", len(outs))
	}
	for i, id := range []string{"1", "2", "9"} {
		o := outs[i]
		if string(o.ID) != id || o.Score == nil || math.Abs(*o.Score-want[i].Score) > 1e-9*math.Abs(want[i].Score) ||
			o.Anomaly != want[i].Anomaly || o.Threshold != det.Threshold().Value || o.Model != det.Version() || len(o.Top) != 3 {
			t.Errorf("output %d: %+v; want id %s, score %v, anomaly %v", i, o, id, want[i].Score, want[i].Anomaly)
		}
	}
	if !outs[1].Anomaly {
		t.Error("an amount of 950 at 3 a.m. is not flagged")
	}
	if !f.closed {
		t.Error("the broker was not closed on stop")
	}
}

func TestWorkerRetriesAndAcksOnlyAfterPublish(t *testing.T) {
	f := &fakeBroker{failPub: 3, failAck: 2}
	f.add(txn(1, 38.5, 9, "de"), txn(2, 40, 10, "fr"))
	w := fakeWorker(t, f, Options{})
	runUntil(t, w, func() bool { f.mu.Lock(); defer f.mu.Unlock(); return len(f.acked) == 2 })
	if len(f.published) != 2 || strings.Join(f.events, ",") != "publish 2,ack 2" {
		t.Errorf("events %v, %d published; want one publish of 2 after the failures, then one ack", f.events, len(f.published))
	}
	if got := counter(t, w, "bottleneck_stream_broker_errors_total"); got != 5 {
		t.Errorf("broker errors %v; want 5", got)
	}
}

// TestWorkerDrains stops a worker while its batch cannot be published:
// it keeps trying for DrainTimeout, then stops with the batch
// unacknowledged.
func TestWorkerDrains(t *testing.T) {
	f := &fakeBroker{failPub: 1 << 30}
	f.add(txn(1, 38.5, 9, "de"))
	w := fakeWorker(t, f, Options{DrainTimeout: 300 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	cancel()
	<-done
	if d := time.Since(start); d < 250*time.Millisecond || d > 5*time.Second {
		t.Errorf("stopped after %v; want about the drain timeout", d)
	}
	if len(f.acked) != 0 || len(f.unacked) != 1 || !f.closed {
		t.Errorf("acked %d, given back %d, closed %v; want 0, 1, true", len(f.acked), len(f.unacked), f.closed)
	}

	// a batch that can be published is finished after the stop
	f = &fakeBroker{failPub: 2}
	f.add(txn(1, 38.5, 9, "de"))
	w = fakeWorker(t, f, Options{})
	ctx, cancel = context.WithCancel(context.Background())
	go func() { done <- w.Run(ctx) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	<-done
	if len(f.acked) != 1 {
		t.Errorf("acked %d after a stop during the retries; want the batch finished", len(f.acked))
	}
}

func TestWorkerCSVAndCoordinates(t *testing.T) {
	det := tableDetector(t)
	f := &fakeBroker{}
	// columns amount,hour,country,note (note dropped); id first
	f.add([]byte("a1,38.5,9,de,x"), []byte("a2,950,3,fr,y"), []byte("a3,1,2"))
	w := fakeWorker(t, f, Options{Format: FormatCSV, ID: "0"})
	runUntil(t, w, func() bool { f.mu.Lock(); defer f.mu.Unlock(); return len(f.acked) == 3 })
	want, _ := det.ScoreRecords([]string{"amount", "hour", "country"}, [][]string{{"38.5", "9", "de"}, {"950", "3", "fr"}})
	for i, o := range f.published {
		var out Output
		json.Unmarshal(o.value, &out)
		switch {
		case i < 2 && (o.dead || o.key != []string{"a1", "a2"}[i] || math.Abs(*out.Score-want[i].Score) > 1e-9*math.Abs(want[i].Score)):
			t.Errorf("output %d: %s; want score %v", i, o.value, want[i].Score)
		case i == 2 && (!o.dead || o.key != "a3" || !strings.Contains(o.errs, "2 fields")):
			t.Errorf("output %d: %s; want a dead letter about the field count", i, o.value)
		}
	}

	// without --id the id is the broker's coordinates
	f = &fakeBroker{}
	f.add(txn(1, 38.5, 9, "de"))
	w = fakeWorker(t, f, Options{Out: "nats://127.0.0.1:1/scores"})
	runUntil(t, w, func() bool { f.mu.Lock(); defer f.mu.Unlock(); return len(f.acked) == 1 })
	if o := f.published[0]; !o.dead || !strings.Contains(o.errs, `unknown columns ["txn"]`) || o.key != "1" {
		t.Errorf("%+v: want a dead letter (txn is not a column) keyed by the coordinates", o)
	}
}

func TestNewRefuses(t *testing.T) {
	det := tableDetector(t)
	for _, tc := range []struct {
		opt  Options
		want string
	}{
		{Options{In: "http://x/y", Out: "o"}, "want nats://"},
		{Options{In: "nats://h:4222", Out: "o"}, "names no subject"},
		{Options{In: "nats://h/in"}, "no output"},
		{Options{In: "nats://h/in", Out: "in"}, "read back as input"},
		{Options{In: "nats://h/ev.>", Out: "ev.scores", Dead: "dead"}, "read back as input"},
		{Options{In: "nats://h/ev.*", Out: "scores"}, "no dead-letter subject can be derived"},
		{Options{In: "nats://h/in", Out: "kafka://h/o"}, "another broker"},
		{Options{In: "kafka://h/in", Out: "o", Format: "xml"}, `format "xml"`},
		{Options{In: "kafka://h/in", Out: "o", Format: "csv", ID: "txn"}, "0-based index"},
		{Options{In: "kafka://h/in", Out: "bad topic"}, "Kafka topics are"},
	} {
		_, err := New(det, tc.opt)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v; want an error saying %q", tc.opt, err, tc.want)
		}
	}
	_, err := New(det.WithThreshold(nil), Options{In: "nats://h/in", Out: "o"})
	if err == nil || !strings.Contains(err.Error(), "no anomaly threshold") {
		t.Errorf("a detector without a threshold: %v", err)
	}
}

func TestSwapReloadAndHandler(t *testing.T) {
	det := tableDetector(t)
	f := &fakeBroker{}
	w := fakeWorker(t, f, Options{ID: "txn"})
	srv := httptest.NewServer(w.Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/readyz"); code != 503 {
		t.Errorf("/readyz before Run: %d; want 503", code)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	for !w.Ready() {
		time.Sleep(time.Millisecond)
	}
	if code, body := get("/readyz"); code != 200 || !strings.Contains(body, det.Version()) {
		t.Errorf("/readyz: %d %s", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
	f.add(txn(1, 38.5, 9, "de"), []byte("{}x"))
	for counter(t, w, "bottleneck_stream_dead_lettered_total") < 1 {
		time.Sleep(time.Millisecond)
	}
	_, metrics := get("/metrics")
	for _, m := range []string{"bottleneck_stream_consumed_total 2", "bottleneck_stream_scored_total 1", "bottleneck_stream_dead_lettered_total 1",
		"bottleneck_stream_batch_duration_seconds_bucket", `bottleneck_model_info{version="` + det.Version() + `"} 1`, "process_resident_memory_bytes"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %q:\n%s", m, metrics)
		}
	}

	// a model file that is not there, or whose columns differ, is refused
	if err := w.Reload(filepath.Join(t.TempDir(), "none.safetensors")); err == nil {
		t.Error("Reload of a missing file succeeded")
	}
	other := det.WithThreshold(&anomaly.Threshold{Value: 1e9, Method: anomaly.MethodValue})
	if err := w.Swap(other); err != nil || w.ModelVersion() != other.Version() {
		t.Errorf("Swap: %v, version %s", err, w.ModelVersion())
	}
	dir := t.TempDir()
	if err := det.Save(filepath.Join(dir, "m.safetensors")); err != nil {
		t.Fatal(err)
	}
	if err := w.Reload(filepath.Join(dir, "m.safetensors")); err != nil || w.ModelVersion() != det.Version() {
		t.Errorf("Reload: %v", err)
	}
	if got := counter(t, w, `bottleneck_model_reloads_total{result="error"}`); got != 1 {
		t.Errorf("failed reloads %v; want 1", got)
	}
	cancel()
	<-done
	if code, _ := get("/readyz"); code != 503 {
		t.Errorf("/readyz after stop: %d; want 503", code)
	}
}

// counter reads one metric from the worker's registry.
func counter(t testing.TB, w *Worker, name string) float64 {
	t.Helper()
	mfs, err := w.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	base, label, _ := strings.Cut(strings.TrimSuffix(name, "}"), "{")
	for _, mf := range mfs {
		if mf.GetName() != base {
			continue
		}
		var sum float64
		for _, m := range mf.GetMetric() {
			if label != "" {
				ok := false
				for _, l := range m.GetLabel() {
					ok = ok || l.GetName()+`="`+l.GetValue()+`"` == label
				}
				if !ok {
					continue
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
		return sum
	}
	return 0
}

// Options.Precision holds for the model at start and after Swap, and the
// caller's detector is left as it was.
func TestPrecisionOnSwap(t *testing.T) {
	want := ae.INT8
	if !nn.Int8Available() {
		want = ae.FP32
	}
	w := fakeWorker(t, &fakeBroker{}, Options{Precision: ae.INT8})
	if got := w.cur.Load().det.Model().Precision(); got != want {
		t.Fatalf("scoring at %v, want %v", got, want)
	}
	det := tableDetector(t)
	if det.Model().Precision() != ae.FP32 {
		t.Error("the worker changed the caller's detector")
	}
	if err := w.Swap(det); err != nil {
		t.Fatal(err)
	}
	if got := w.cur.Load().det.Model().Precision(); got != want {
		t.Errorf("after Swap scoring at %v, want %v", got, want)
	}
}
