package stream

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// startNATS starts a NATS server with JetStream, its store in dir, on
// port (0: any free one).
func startNATS(t testing.TB, dir string, port int) *server.Server {
	t.Helper()
	if port == 0 {
		port = server.RANDOM_PORT
	}
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	return s
}

// scenario is the messages a broker test sends: n transactions, every
// 50th of them malformed, with the scores the detector gives the others.
type scenario struct {
	payloads [][]byte
	want     map[string]float64 // id → score
	bad      map[string]bool
}

func newScenario(t *testing.T, n int) *scenario {
	det := tableDetector(t)
	sc := &scenario{want: map[string]float64{}, bad: map[string]bool{}}
	var recs [][]string
	var ids []string
	for i := range n {
		h := i % 24
		amount := 20 + 2*float64(h) + float64(i%5)
		if i%97 == 13 {
			amount = 900 // an anomaly
		}
		if i%50 == 7 {
			sc.payloads = append(sc.payloads, []byte(fmt.Sprintf(`{"txn": %d, "amount": "lots", "hour": %d, "country": "de"}`, i, h)))
			sc.bad[strconv.Itoa(i)] = true
			continue
		}
		sc.payloads = append(sc.payloads, txn(i, amount, h, "fr"))
		recs = append(recs, []string{strconv.FormatFloat(amount, 'g', -1, 64), strconv.Itoa(h), "fr"})
		ids = append(ids, strconv.Itoa(i))
	}
	res, err := det.ScoreRecords([]string{"amount", "hour", "country"}, recs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		sc.want[ids[i]] = r.Score
	}
	return sc
}

// check compares outputs and dead letters (JSON values) with the
// scenario.
func (sc *scenario) check(t *testing.T, outs, dead [][]byte) {
	t.Helper()
	seen := map[string]int{}
	for _, b := range outs {
		var o Output
		if err := json.Unmarshal(b, &o); err != nil {
			t.Fatalf("output %s: %v", b, err)
		}
		id := string(o.ID)
		want, ok := sc.want[id]
		if !ok {
			t.Errorf("output for unknown id %s", id)
			continue
		}
		if o.Score == nil || math.Abs(*o.Score-want) > 1e-5*math.Abs(want) {
			t.Errorf("id %s: score %v; want %v", id, o.Score, want)
		}
		seen[id]++
	}
	for id := range sc.want {
		if seen[id] == 0 {
			t.Errorf("id %s: no output", id)
		}
	}
	deadSeen := map[string]bool{}
	for _, b := range dead {
		var d DeadLetter
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("dead letter %s: %v", b, err)
		}
		if !sc.bad[string(d.ID)] || !strings.Contains(d.Error, `"lots" is not a number`) || d.Payload == nil || !strings.Contains(*d.Payload, "lots") {
			t.Errorf("dead letter %s", b)
		}
		deadSeen[string(d.ID)] = true
	}
	if len(deadSeen) != len(sc.bad) {
		t.Errorf("%d dead letters; want %d", len(deadSeen), len(sc.bad))
	}
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	t.Logf("%d outputs for %d ids (%d repeated), %d dead letters", len(outs), len(seen), dups, len(dead))
}

// TestNATS scores messages through a NATS server that is restarted half
// way (stopped and started again on the same store): nothing is lost.
func TestNATS(t *testing.T) {
	dir := t.TempDir()
	srv := startNATS(t, dir, 0)
	port := srv.Addr().(*net.TCPAddr).Port
	defer func() { srv.Shutdown() }()
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)

	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "SCORES", Subjects: []string{"scores"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}

	w, err := New(tableDetector(t), Options{In: url + "/txns", Out: "scores", ID: "txn", Batch: 32, AckWait: 2 * time.Second, Logger: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	for !w.Ready() {
		time.Sleep(5 * time.Millisecond)
	}

	sc := newScenario(t, 2000)
	publish := func(p []byte) {
		for {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := js.Publish(pctx, "txns", p)
			cancel()
			if err == nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for i, p := range sc.payloads {
		if i == len(sc.payloads)/2 {
			// restart the server on the same store
			srv.Shutdown()
			srv.WaitForShutdown()
			time.Sleep(200 * time.Millisecond)
			srv = startNATS(t, dir, port)
		}
		publish(p)
	}

	read := func(stream string, n int) [][]byte {
		cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		var out [][]byte
		deadline := time.Now().Add(60 * time.Second)
		for len(out) < n && time.Now().Before(deadline) {
			mb, err := cons.Fetch(500, jetstream.FetchMaxWait(time.Second))
			if err != nil {
				continue
			}
			for m := range mb.Messages() {
				out = append(out, m.Data())
				if stream == "SCORES" && m.Headers().Get("Bottleneck-Id") == "" {
					t.Errorf("output without a Bottleneck-Id header: %s", m.Data())
				}
			}
		}
		return out
	}
	outs := read("SCORES", len(sc.want))
	dead := read("TXNS_DEAD", len(sc.bad))
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sc.check(t, outs, dead)
	if got := counter(t, w, "bottleneck_stream_dead_lettered_total"); got < float64(len(sc.bad)) {
		t.Errorf("dead-lettered counter %v; want %d", got, len(sc.bad))
	}
}

// TestKafka scores messages on an in-process Kafka cluster (kfake).
func TestKafka(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "txns"), kfake.AllowAutoTopicCreation(), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addrs := c.ListenAddrs()
	url := "kafka://" + strings.Join(addrs, ",") + "/txns"

	// two workers in one group share the partitions
	var ws []*Worker
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range 2 {
		w, err := New(tableDetector(t), Options{In: url, Out: "scores", ID: "txn", Batch: 64, SessionTimeout: 3 * time.Second, WorkerID: fmt.Sprint("w", i), Logger: testLog(t)})
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Run(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics("scores", "txns.dead"), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitGroup(t, cl, "bottleneck", 2)
	sc := newScenario(t, 2000)
	var recs []*kgo.Record
	for i, p := range sc.payloads {
		recs = append(recs, &kgo.Record{Topic: "txns", Key: []byte(strconv.Itoa(i)), Value: p})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var outs, dead [][]byte
	deadline := time.Now().Add(60 * time.Second)
	for (len(outs) < len(sc.want) || len(dead) < len(sc.bad)) && time.Now().Before(deadline) {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			if r.Topic == "scores" {
				outs = append(outs, r.Value)
				var o Output
				json.Unmarshal(r.Value, &o)
				if string(r.Key) != string(o.ID) {
					t.Errorf("key %q, id %s", r.Key, o.ID)
				}
			} else {
				dead = append(dead, r.Value)
			}
		})
	}
	stop()
	wg.Wait()
	sc.check(t, outs, dead)
	for i, w := range ws {
		n := counter(t, w, "bottleneck_stream_scored_total")
		t.Logf("worker %d scored %v", i, n)
		if n == 0 {
			t.Errorf("worker %d scored nothing; the group should share the partitions", i)
		}
	}
}

// waitGroup waits until a Kafka consumer group has n members and is
// stable.
func waitGroup(t testing.TB, cl *kgo.Client, group string, n int) {
	t.Helper()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		gs, err := adm.DescribeGroups(context.Background(), group)
		if g, ok := gs[group]; err == nil && ok && g.State == "Stable" && len(g.Members) == n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("group %s did not settle with %d members", group, n)
}

// TestSample takes the most recent messages of a subject and of a topic
// as a CSV table.
func TestSample(t *testing.T) {
	ctx := context.Background()
	srv := startNATS(t, t.TempDir(), 0)
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatal(err)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "t.in"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range 50 {
		p := txn(i, float64(i), i%24, "de")
		if i == 49 {
			p = []byte(`{"country": "fr", "txn": 49, "extra": null}`)
		}
		if _, err := js.Publish(ctx, "t.in", p); err != nil {
			t.Fatal(err)
		}
		js.Publish(ctx, "t.other", []byte(`{"other": 1}`))
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t.in", Value: p}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	for _, url := range []string{srv.ClientURL() + "/t.in", "kafka://" + strings.Join(c.ListenAddrs(), ",") + "/t.in"} {
		var b strings.Builder
		n, err := Sample(ctx, url, &b, SampleOptions{N: 21, Idle: time.Second})
		lines := strings.Split(strings.TrimSpace(b.String()), "\n")
		if err != nil || n < 20 || n > 21 || len(lines) != n+1 || lines[0] != "amount,country,hour,txn,extra" {
			t.Errorf("Sample(%s) = %d, %v:\n%s", url, n, err, b.String())
			continue
		}
		if strings.HasPrefix(url, "nats") && (lines[1] != "29,de,5,29," || lines[n] != ",fr,,49,") {
			t.Errorf("Sample(%s): want messages 29 to 49, got\n%s", url, b.String())
		}
	}
}
