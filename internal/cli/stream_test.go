package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/stream"
)

// TestScoreStreamsLikeWhole checks that score, which streams its input in
// batches, writes byte for byte what scoring the file loaded whole gives,
// for a gzipped file whose name says nothing of its format too, with a
// threshold fitted on the scores (two passes) and with JSON output.
func TestScoreStreamsLikeWhole(t *testing.T) {
	dir := t.TempDir()
	data := writeFraudTable(t, dir, 3000)
	model := filepath.Join(dir, "m.safetensors")
	mustRun(t, "train", "--data", data, "--label", "class", "--normal", "normal", "--epochs", "2", "-o", model, "-q", "--no-plot")
	raw, _ := os.ReadFile(data)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	gzPath := filepath.Join(dir, "rows.gz")
	os.WriteFile(gzPath, gz.Bytes(), 0o644)

	det, err := anomaly.Open(model)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.LoadWith(data, det.Preprocessor(), dataset.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args      []string
		json      bool
		threshold string
	}{
		{[]string{"--top", "2", "--batch", "100"}, false, ""},
		{[]string{"--json", "--batch", "7"}, true, ""},
		{[]string{"--threshold", "contamination:0.05"}, false, "contamination:0.05"},
	} {
		res, err := det.ScoreWith(ds.X, anomaly.ScoreOptions{Top: 3})
		if err != nil {
			t.Fatal(err)
		}
		if tc.threshold != "" {
			sp, _ := anomaly.ParseSpec(tc.threshold)
			if _, err := anomaly.Rethreshold(res, sp, det.Scoring().Metric, "scored rows"); err != nil {
				t.Fatal(err)
			}
		}
		top := 3
		for i, a := range tc.args {
			if a == "--top" {
				top, _ = strconv.Atoi(tc.args[i+1])
			}
		}
		var want bytes.Buffer
		rw := anomaly.NewResultWriter(&want, tc.json, top)
		rw.Write(res, ds.Labels, nil, nil)
		rw.Flush()
		for _, path := range []string{data, gzPath} {
			got := mustRun(t, append([]string{"score", "-m", model, "--data", path, "-q"}, tc.args...)...)
			if got != want.String() {
				t.Errorf("score %s %v: the output differs from scoring the file whole", filepath.Base(path), tc.args)
			}
		}
	}
}

// lockedBuffer is a bytes.Buffer that a child process's output and the
// test can share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// nslRows reads the first n rows of NSL-KDD's KDDTest+ (skipping the test
// when the shared data is absent) and trains a model on KDDTrain+_20Percent.
func nslSetup(t *testing.T, dir string, n int) (model, rows string, lines []string) {
	t.Helper()
	const data = "../../../shared/data"
	test := filepath.Join(data, "nsl-kdd", "KDDTest+.txt")
	raw, err := os.ReadFile(test)
	if err != nil {
		t.Skipf("NSL-KDD not found beside the checkout (%v)", err)
	}
	lines = strings.Split(strings.TrimSpace(string(raw)), "\n")[:n]
	rows = filepath.Join(dir, "rows.txt")
	os.WriteFile(rows, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	model = filepath.Join(dir, "kdd.safetensors")
	mustRun(t, "train", "--data", filepath.Join(data, "nsl-kdd", "KDDTrain+_20Percent.txt"), "--no-header",
		"--columns", filepath.Join(data, "kddcup99", "kddcup.names")+",label,difficulty", "--label", "label", "--drop", "difficulty",
		"--normal", "normal", "--epochs", "3", "-o", model, "-q", "--no-plot")
	return model, rows, lines
}

// streamCase is the messages of a kill test and what their outputs must be.
type streamCase struct {
	payloads [][]byte
	want     map[string]float64 // id → score
	bad      map[string]string  // id → what its dead letter's error says
}

// nslMessages makes one JSON message per row (with an "id" field), every
// 150th of them broken, and reads the scores `bottleneck score` gives the
// rows.
func nslMessages(t *testing.T, model, rows string, lines []string) *streamCase {
	t.Helper()
	det, err := anomaly.Open(model)
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, c := range det.Preprocessor().Columns {
		cols = append(cols, c.Name)
	}
	out := mustRun(t, "score", "-m", model, "--data", rows, "-q")
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	sc := &streamCase{want: map[string]float64{}, bad: map[string]string{}}
	for i, line := range lines {
		f := strings.Split(line, ",")
		m := map[string]any{"id": i}
		for j, c := range cols {
			if v, err := strconv.ParseFloat(f[j], 64); err == nil {
				m[c] = v
			} else {
				m[c] = f[j]
			}
		}
		id := strconv.Itoa(i)
		switch i % 150 {
		case 17:
			delete(m, "src_bytes")
			sc.bad[id] = `column "src_bytes": value is missing`
		case 77:
			m["duration"] = "NaN"
			sc.bad[id] = `column "duration": value is missing`
		}
		b, _ := json.Marshal(m)
		if i%150 == 137 {
			b = b[:len(b)-1] // not JSON
			sc.bad[id] = "not a JSON object"
		}
		sc.payloads = append(sc.payloads, b)
		if _, bad := sc.bad[id]; !bad {
			sc.want[id], _ = strconv.ParseFloat(recs[i+1][1], 64)
		}
	}
	return sc
}

// output is one message read from the output or dead-letter destination.
type output struct {
	value  []byte
	worker string
}

// check verifies the outputs of a kill test: every input has an output
// with the score of `bottleneck score`, the broken ones a dead letter with
// their error, and repeated outputs come only from the killed worker's
// unacknowledged batch.
func (sc *streamCase) check(t *testing.T, outs, dead []output, killed string, batch int) {
	t.Helper()
	byID := map[string][]string{}
	for _, o := range outs {
		var r stream.Output
		if err := json.Unmarshal(o.value, &r); err != nil {
			t.Fatalf("output %s: %v", o.value, err)
		}
		id := string(r.ID)
		want, ok := sc.want[id]
		switch {
		case !ok:
			t.Errorf("output for id %s, which is not a scorable input", id)
		case r.Score == nil || math.Abs(*r.Score-want) > 1e-5*math.Abs(want)+1e-6:
			t.Errorf("id %s: score %v; bottleneck score gives %v", id, r.Score, want)
		}
		byID[id] = append(byID[id], o.worker)
	}
	for id := range sc.want {
		if len(byID[id]) == 0 {
			t.Errorf("id %s: no output", id)
		}
	}
	byKilled := 0
	for _, o := range outs {
		if o.worker == killed {
			byKilled++
		}
	}
	if byKilled == 0 {
		t.Errorf("the killed worker %s wrote no output before it was killed", killed)
	}
	repeated := 0
	for id, ws := range byID {
		if len(ws) < 2 {
			continue
		}
		repeated++
		if !strings.Contains(strings.Join(ws, ","), killed) {
			t.Errorf("id %s has %d outputs (by %v), none of them by the killed worker %s", id, len(ws), ws, killed)
		}
	}
	if repeated > batch {
		t.Errorf("%d ids have repeated outputs; the killed worker's unacknowledged batch holds at most %d", repeated, batch)
	}
	deadSeen := map[string]bool{}
	for _, o := range dead {
		var d stream.DeadLetter
		if err := json.Unmarshal(o.value, &d); err != nil {
			t.Fatalf("dead letter %s: %v", o.value, err)
		}
		id := "" // the input whose payload it carries (ids and coordinates may collide)
		for k := range sc.bad {
			if d.Payload != nil && *d.Payload == string(sc.payloads[atoi(k)]) {
				id = k
			}
		}
		if id == "" || !strings.Contains(d.Error, sc.bad[id]) {
			t.Errorf("dead letter %s: want a broken input's payload, and its error (%q)", o.value, sc.bad[id])
		}
		deadSeen[id] = true
	}
	if len(deadSeen) != len(sc.bad) {
		t.Errorf("%d inputs dead-lettered; want %d", len(deadSeen), len(sc.bad))
	}
	t.Logf("%d outputs for %d inputs (%d by the killed worker, %d inputs with repeated outputs), %d dead letters for %d broken inputs",
		len(outs), len(byID), byKilled, repeated, len(dead), len(sc.bad))
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// worker is a `bottleneck stream` child process.
type worker struct {
	cmd  *exec.Cmd
	log  *lockedBuffer
	done chan error
}

func startWorker(t *testing.T, args ...string) *worker {
	t.Helper()
	w := &worker{cmd: exec.Command(os.Args[0], append([]string{"stream"}, args...)...), log: &lockedBuffer{}, done: make(chan error, 1)}
	w.cmd.Env = append(os.Environ(), "BOTTLENECK_TEST_CLI=1")
	w.cmd.Stderr = w.log
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { w.done <- w.cmd.Wait() }()
	t.Cleanup(func() {
		w.cmd.Process.Kill()
		<-w.done
		if t.Failed() {
			t.Logf("worker %v log:\n%s", args, w.log)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(w.log.String(), "stream worker consuming") {
		select {
		case err := <-w.done:
			t.Fatalf("worker exited: %v\n%s", err, w.log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker not consuming after 30 s:\n%s", w.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return w
}

// stop sends SIGTERM and wants a clean exit.
func (w *worker) stop(t *testing.T) {
	t.Helper()
	w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-w.done:
		w.done <- err
		if err != nil {
			t.Errorf("worker after SIGTERM: %v\n%s", err, w.log)
		}
		if !strings.Contains(w.log.String(), "msg=stopped") {
			t.Errorf("worker did not drain and stop:\n%s", w.log)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("worker still running 30 s after SIGTERM")
	}
}

// waitOutputs waits until every input has an output and a dead letter
// where due, or a minute passes.
func waitOutputs(sc *streamCase, read func() (outs, dead []output)) (outs, dead []output) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		outs, dead = read()
		ids := map[string]bool{}
		for _, o := range outs {
			var r stream.Output
			json.Unmarshal(o.value, &r)
			ids[string(r.ID)] = true
		}
		if (len(ids) >= len(sc.want) && len(dead) >= len(sc.bad)) || time.Now().After(deadline) {
			return outs, dead
		}
		time.Sleep(100 * time.Millisecond)
	}
}

const killBatch = 25

// TestStreamKillNATS runs two `bottleneck stream` workers in one group on
// an in-process NATS server, kill -9s one a third of the way through,
// restarts the server (same store) two thirds of the way, and checks that
// every message has its output (the score of `bottleneck score`) or its
// dead letter, and that repeated outputs come only from the killed
// worker's last batch.
func TestStreamKillNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("kills processes; skipped with -short")
	}
	dir := t.TempDir()
	model, rows, lines := nslSetup(t, dir, 3000)
	sc := nslMessages(t, model, rows, lines)

	store := filepath.Join(dir, "nats")
	start := func(port int) *server.Server {
		s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: store, NoLog: true, NoSigs: true})
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatal("nats-server did not start")
		}
		return s
	}
	srv := start(server.RANDOM_PORT)
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
	for _, st := range []string{"FLOWS", "SCORES"} {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: st, Subjects: []string{strings.ToLower(st)}, Storage: jetstream.FileStorage}); err != nil {
			t.Fatal(err)
		}
	}
	// the backlog first, so that both workers are busy when one is killed
	for _, p := range sc.payloads {
		if _, err := js.PublishAsync("flows", p); err != nil {
			t.Fatal(err)
		}
	}
	<-js.PublishAsyncComplete()
	args := func(id string) []string {
		return []string{"-m", model, "--in", url + "/flows", "--out", "scores", "--id", "id", "--batch", strconv.Itoa(killBatch),
			"--ack-wait", "2s", "--worker-id", id, "--threads", "1"}
	}
	a := startWorker(t, args("A")...)
	b := startWorker(t, args("B")...)
	scored := func() uint64 {
		s, err := js.Stream(ctx, "SCORES")
		if err != nil {
			return 0
		}
		info, err := s.Info(ctx)
		if err != nil {
			return 0
		}
		return info.State.Msgs
	}
	waitScored := func(n uint64) {
		for deadline := time.Now().Add(60 * time.Second); scored() < n && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitScored(uint64(len(sc.want) / 3))
	a.cmd.Process.Signal(syscall.SIGKILL)
	waitScored(uint64(2 * len(sc.want) / 3))
	srv.Shutdown()
	srv.WaitForShutdown()
	srv = start(port)

	read := func() (outs, dead []output) {
		for _, s := range []string{"SCORES", "FLOWS_DEAD"} {
			cons, err := js.OrderedConsumer(ctx, s, jetstream.OrderedConsumerConfig{})
			if err != nil {
				continue
			}
			for {
				mb, err := cons.Fetch(1000, jetstream.FetchMaxWait(300*time.Millisecond))
				if err != nil {
					break
				}
				n := 0
				for m := range mb.Messages() {
					o := output{value: m.Data(), worker: m.Headers().Get("Bottleneck-Worker")}
					if s == "SCORES" {
						outs = append(outs, o)
					} else {
						dead = append(dead, o)
					}
					n++
				}
				if n == 0 {
					break
				}
			}
		}
		return outs, dead
	}
	outs, dead := waitOutputs(sc, read)
	b.stop(t)
	sc.check(t, outs, dead, "A", killBatch)
	if !strings.Contains(b.log.String(), "reconnected to NATS") {
		t.Errorf("worker B did not log its reconnection:\n%s", b.log)
	}
}

// TestStreamKillKafka runs two `bottleneck stream` workers in one group on
// an in-process Kafka cluster (kfake), kill -9s one a third of the way
// through and checks the outputs as TestStreamKillNATS does.
func TestStreamKillKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("kills processes; skipped with -short")
	}
	dir := t.TempDir()
	model, rows, lines := nslSetup(t, dir, 3000)
	sc := nslMessages(t, model, rows, lines)

	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, "flows"), kfake.AllowAutoTopicCreation(),
		kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addrs := c.ListenAddrs()
	url := "kafka://" + strings.Join(addrs, ",") + "/flows"
	args := func(id string) []string {
		return []string{"-m", model, "--in", url, "--out", "scores", "--id", "id", "--batch", strconv.Itoa(killBatch),
			"--session-timeout", "3s", "--worker-id", id, "--threads", "1"}
	}
	a := startWorker(t, args("A")...)
	b := startWorker(t, args("B")...)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics("scores", "flows.dead"), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	adm := kadm.NewClient(cl)
	for deadline := time.Now().Add(30 * time.Second); ; {
		gs, err := adm.DescribeGroups(ctx, "bottleneck")
		if g := gs["bottleneck"]; err == nil && g.State == "Stable" && len(g.Members) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the group did not settle with two members")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var mu sync.Mutex
	var outs, dead []output
	pctx, stopPoll := context.WithCancel(ctx)
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for pctx.Err() == nil {
			fs := cl.PollFetches(pctx)
			mu.Lock()
			fs.EachRecord(func(r *kgo.Record) {
				o := output{value: r.Value}
				for _, h := range r.Headers {
					if h.Key == "bottleneck-worker" {
						o.worker = string(h.Value)
					}
				}
				var out stream.Output
				if r.Topic == "scores" && (json.Unmarshal(r.Value, &out) != nil || string(r.Key) != string(out.ID)) {
					t.Errorf("output key %q, value %s", r.Key, r.Value)
				}
				if r.Topic == "scores" {
					outs = append(outs, o)
				} else {
					dead = append(dead, o)
				}
			})
			mu.Unlock()
		}
	}()
	var recs []*kgo.Record
	for i, p := range sc.payloads {
		recs = append(recs, &kgo.Record{Topic: "flows", Key: []byte(strconv.Itoa(i)), Value: p})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		mu.Lock()
		n := len(outs)
		mu.Unlock()
		if n >= len(sc.want)/3 {
			break
		}
	}
	a.cmd.Process.Signal(syscall.SIGKILL)
	o, d := waitOutputs(sc, func() ([]output, []output) {
		mu.Lock()
		defer mu.Unlock()
		return append([]output(nil), outs...), append([]output(nil), dead...)
	})
	b.stop(t)
	stopPoll()
	<-polled
	sc.check(t, o, d, "A", killBatch)
	if !strings.Contains(a.log.String(), "stream worker consuming") {
		t.Error("worker A never consumed")
	}
}

// TestTrainFromStream trains on a sample of the messages on a NATS subject.
func TestTrainFromStream(t *testing.T) {
	dir := t.TempDir()
	raw, _ := os.ReadFile(writeFraudTable(t, dir, 600))
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: filepath.Join(dir, "nats"), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "TX", Subjects: []string{"tx"}}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	header := strings.Split(lines[0], ",")
	for _, l := range lines[1:] {
		m := map[string]string{}
		for j, v := range strings.Split(l, ",") {
			m[header[j]] = v
		}
		b, _ := json.Marshal(m)
		if _, err := js.Publish(ctx, "tx", b); err != nil {
			t.Fatal(err)
		}
	}
	model := filepath.Join(dir, "m.safetensors")
	code, _, errs := run(t, "train", "--data", srv.ClientURL()+"/tx", "--max-rows", "500", "--label", "class", "--normal", "normal",
		"--epochs", "1", "-o", model, "--no-plot")
	if code != 0 || !strings.Contains(errs, "sample-nats-127.0.0.1-") || !strings.Contains(errs, "475 rows") {
		t.Fatalf("train from a stream: exit %d\n%s", code, errs)
	}
	if _, err := os.Stat(model); err != nil {
		t.Fatal(err)
	}
}
