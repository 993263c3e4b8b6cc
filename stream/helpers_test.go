package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/train"
)

var (
	tableOnce sync.Once
	tableDet  *anomaly.Detector
	tableErr  error
)

// tableDetector is a small detector of transactions (amount, hour,
// country), trained once per test binary.
func tableDetector(t testing.TB) *anomaly.Detector {
	t.Helper()
	tableOnce.Do(func() {
		dir, err := os.MkdirTemp("", "stream-test")
		if err != nil {
			tableErr = err
			return
		}
		defer os.RemoveAll(dir)
		var b strings.Builder
		b.WriteString("amount,hour,country,note\n")
		for i := range 400 {
			h := i % 24
			fmt.Fprintf(&b, "%.2f,%d,%s,n%d\n", 20+2*float64(h)+float64(i%7)/3, h, []string{"de", "fr", "us"}[i%3], i)
		}
		data := filepath.Join(dir, "t.csv")
		if tableErr = os.WriteFile(data, []byte(b.String()), 0o644); tableErr != nil {
			return
		}
		ds, err := dataset.Load(data, dataset.LoadOptions{Drop: []string{"note"}})
		if err != nil {
			tableErr = err
			return
		}
		tableDet, tableErr = anomaly.Train(context.Background(), ds, anomaly.TrainOptions{Seed: 1, Fit: train.Options{Epochs: 5}})
	})
	if tableErr != nil {
		t.Fatal(tableErr)
	}
	return tableDet
}

// txn is one transaction message.
func txn(id int, amount float64, hour int, country string) []byte {
	b, _ := json.Marshal(map[string]any{"txn": id, "amount": amount, "hour": hour, "country": country})
	return b
}

// fakeBroker is a broker in memory that records what the worker does.
type fakeBroker struct {
	mu        sync.Mutex
	queue     []*message
	published []*outMsg
	acked     []*message
	events    []string // "publish N", "ack N"
	failPub   int      // publish calls that fail before one succeeds
	failAck   int
	closed    bool
	unacked   []*message
	seq       int
}

func (f *fakeBroker) add(payloads ...[]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range payloads {
		f.seq++
		f.queue = append(f.queue, &message{value: p, coord: json.RawMessage(fmt.Sprint(f.seq)), raw: f.seq})
	}
}

func (f *fakeBroker) fetch(ctx context.Context, max int, linger time.Duration) ([]*message, error) {
	f.mu.Lock()
	n := min(max, len(f.queue))
	msgs := f.queue[:n]
	f.queue = f.queue[n:]
	f.mu.Unlock()
	if n == 0 {
		select {
		case <-ctx.Done():
		case <-time.After(time.Millisecond):
		}
	}
	return msgs, nil
}

func (f *fakeBroker) publish(ctx context.Context, outs []*outMsg) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failPub > 0 {
		f.failPub--
		return errors.New("broker down")
	}
	n := 0
	for _, o := range outs {
		if !o.done {
			o.done = true
			f.published = append(f.published, o)
			n++
		}
	}
	f.events = append(f.events, fmt.Sprintf("publish %d", n))
	return nil
}

func (f *fakeBroker) ack(ctx context.Context, msgs []*message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failAck > 0 {
		f.failAck--
		return errors.New("ack lost")
	}
	f.acked = append(f.acked, msgs...)
	f.events = append(f.events, fmt.Sprintf("ack %d", len(msgs)))
	return nil
}

func (f *fakeBroker) lag() (int64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return int64(len(f.queue)), true
}
func (f *fakeBroker) connected() bool { return true }
func (f *fakeBroker) close(unacked []*message) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed, f.unacked = true, unacked
}

// fakeWorker is a worker on a fake broker.
func fakeWorker(t *testing.T, f *fakeBroker, opt Options) *Worker {
	t.Helper()
	if opt.In == "" {
		opt.In = "nats://127.0.0.1:1/txns"
	}
	if opt.Out == "" {
		opt.Out = "scores"
	}
	w, err := New(tableDetector(t), opt)
	if err != nil {
		t.Fatal(err)
	}
	w.connect = func(context.Context) (broker, error) { return f, nil }
	return w
}

// testLog logs to the test's log with -v.
func testLog(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return nil
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, nil))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}
