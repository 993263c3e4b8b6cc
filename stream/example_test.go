package stream_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/stream"
	"github.com/bottleneck-ml/bottleneck/train"
)

// Score transactions arriving on a NATS subject: a worker reads them,
// publishes one result each on "scores", and would share the subject with
// any other worker of its group.
func Example() {
	dir, err := os.MkdirTemp("", "stream-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// A NATS server with JetStream, in process for the example; in
	// production, nats-server -js.
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		log.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		log.Fatal("no NATS server")
	}
	defer ns.Shutdown()

	det, err := trainOnNormal(dir)
	if err != nil {
		log.Fatal(err)
	}
	w, err := stream.New(det, stream.Options{In: ns.ClientURL() + "/txns", Out: "scores", ID: "txn"})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	scores, err := nc.SubscribeSync("scores")
	if err != nil {
		log.Fatal(err)
	}
	for !w.Ready() { // the worker has made the input's stream
		time.Sleep(10 * time.Millisecond)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	for _, txn := range []string{
		`{"txn": "t1", "amount": 38.5, "hour": 9, "country": "de"}`,
		`{"txn": "t2", "amount": 950, "hour": 3, "country": "fr"}`,
	} {
		if _, err := js.Publish(ctx, "txns", []byte(txn)); err != nil {
			log.Fatal(err)
		}
	}
	for range 2 {
		m, err := scores.NextMsg(10 * time.Second)
		if err != nil {
			log.Fatal(err)
		}
		var out stream.Output
		if err := json.Unmarshal(m.Data, &out); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s anomaly=%v (key %s)\n", out.ID, out.Anomaly, m.Header.Get("Bottleneck-Id"))
	}
	stop() // SIGTERM in bottleneck stream: finish the batch, leave
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	// Output:
	// "t1" anomaly=false (key t1)
	// "t2" anomaly=true (key t2)
}

// trainOnNormal trains a detector on normal transactions: the amount grows
// with the hour of the day.
func trainOnNormal(dir string) (*anomaly.Detector, error) {
	var b strings.Builder
	b.WriteString("amount,hour,country\n")
	for i := range 300 {
		h := i % 24
		fmt.Fprintf(&b, "%.2f,%d,%s\n", 20+2*float64(h)+float64(i%7)/3, h, []string{"de", "fr", "us"}[i%3])
	}
	data := filepath.Join(dir, "transactions.csv")
	if err := os.WriteFile(data, []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	ds, err := dataset.Load(data, dataset.LoadOptions{})
	if err != nil {
		return nil, err
	}
	return anomaly.Train(context.Background(), ds, anomaly.TrainOptions{Seed: 1, Fit: train.Options{Epochs: 10}})
}
