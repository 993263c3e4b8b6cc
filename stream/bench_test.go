package stream

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/train"
)

// BenchmarkProcess measures a worker's own work on a batch of 256 NSL-KDD
// messages (decode the JSON, score, encode the outputs), without a broker.
func BenchmarkProcess(b *testing.B) {
	const data = "../../shared/data/"
	names, err := dataset.ReadColumnNames(data + "kddcup99/kddcup.names")
	if err != nil {
		b.Skipf("NSL-KDD not found beside the checkout: %v", err)
	}
	cols := append(names, "label", "difficulty")
	ds, err := dataset.Load(data+"nsl-kdd/KDDTrain+_20Percent.txt", dataset.LoadOptions{Columns: cols, Label: "label", Drop: []string{"difficulty"}, Normal: "normal"})
	if err != nil {
		b.Fatal(err)
	}
	det, err := anomaly.Train(context.Background(), ds, anomaly.TrainOptions{Seed: 1, Fit: train.Options{Epochs: 1}})
	if err != nil {
		b.Fatal(err)
	}
	raw, err := os.ReadFile(data + "nsl-kdd/KDDTest+.txt")
	if err != nil {
		b.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	msgs := make([]*message, 256)
	for i := range msgs {
		f := strings.Split(lines[i], ",")
		m := map[string]any{"id": i}
		for j, c := range cols {
			if v, err := strconv.ParseFloat(f[j], 64); err == nil {
				m[c] = v
			} else {
				m[c] = f[j]
			}
		}
		p, _ := json.Marshal(m)
		msgs[i] = &message{value: p, coord: []byte(strconv.Itoa(i))}
	}
	w, err := New(det, Options{In: "nats://h/in", Out: "out", ID: "id"})
	if err != nil {
		b.Fatal(err)
	}
	l := w.cur.Load()
	b.ReportAllocs()
	for b.Loop() {
		w.process(l, msgs)
	}
	b.ReportMetric(float64(b.N*len(msgs))/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkNATSWorker runs a worker in process against an in-process NATS
// server (JetStream on, outputs kept by a stream) on a backlog of b.N
// messages: the worker's and the server's CPU together.
func BenchmarkNATSWorker(b *testing.B) {
	srv := startNATS(b, b.TempDir(), 0)
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	for _, s := range []string{"in", "out"} {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: s, Subjects: []string{s}}); err != nil {
			b.Fatal(err)
		}
	}
	for i := range b.N {
		js.PublishAsync("in", txn(i, 30, i%24, "de"))
	}
	<-js.PublishAsyncComplete()
	w, err := New(tableDetector(b), Options{In: srv.ClientURL() + "/in", Out: "out", ID: "txn"})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- w.Run(wctx) }()
	for counter(b, w, "bottleneck_stream_scored_total") < float64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	stop()
	<-done
}
