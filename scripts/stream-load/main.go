// Command stream-load publishes table rows to NATS JetStream or Kafka as
// the JSON messages `bottleneck stream` reads, prints what it writes, and
// measures it.
//
// publish sends the rows of a CSV file (headerless files take their
// column names from the model, -m) as JSON objects with an "id" field, the
// row number, as fast as it can or at -rate messages a second:
//
//	go run ./scripts/stream-load publish -url nats://127.0.0.1:4222/flows \
//	    -m kdd.safetensors -data ../shared/data/nsl-kdd/KDDTest+.txt -n 1000
//
// read prints the messages of a subject or topic from its start, one a
// line, until interrupted (-n: after that many); on NATS it first makes a
// JetStream stream keep the subject when none does, so that workers
// publish their outputs to it with acknowledgements:
//
//	go run ./scripts/stream-load read -url nats://127.0.0.1:4222/scores
//
// bench starts a broker in process (nats-server with JetStream, or
// franz-go's kfake with -partitions partitions), publishes -n messages,
// starts -workers `bottleneck stream` processes (built from this checkout
// unless -bin names a binary) and measures their throughput from the 10th
// to the 90th percentile of the outputs; with -rate R it instead has the
// workers running first and publishes at R messages a second for -t,
// measuring each message's latency from publish to the arrival of its
// output. It prints one Markdown table row, with the CPU time the workers
// and this process (broker, publisher, reader) spent per message:
//
//	go run ./scripts/stream-load bench -broker nats -workers 2 -m kdd.safetensors \
//	    -data ../shared/data/nsl-kdd/KDDTest+.txt -n 100000
//	go run ./scripts/stream-load bench -broker kafka -workers 1 -rate 2000 -t 20s ...
//
// Everything (broker, load generator, workers) shares the machine's cores.
package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/stream"
)

var (
	urlFlag    = flag.String("url", "", "publish, read: nats://HOST:PORT/SUBJECT or kafka://HOST:PORT/TOPIC")
	modelPath  = flag.String("m", "", "model file: the column names of a headerless -data file (bench: the model the workers run)")
	dataPath   = flag.String("data", "", "CSV rows to send; a file without a header takes the model's column names")
	n          = flag.Int("n", 0, "messages to send (rows are reused in turn when the file has fewer; 0: publish, every row once; bench, 100000); read: stop after n")
	rate       = flag.Float64("rate", 0, "messages a second (0: as fast as possible); bench: measure latency at this rate")
	brokerKind = flag.String("broker", "nats", "bench: nats or kafka, started in process")
	workers    = flag.Int("workers", 1, "bench: bottleneck stream processes")
	threads    = flag.Int("threads", 0, "bench: --threads of each worker (0: all cores)")
	batch      = flag.Int("batch", 256, "bench: --batch of each worker")
	linger     = flag.Duration("linger", 5*time.Millisecond, "bench: --linger of each worker")
	partitions = flag.Int("partitions", 8, "bench, kafka: partitions of the input topic")
	dur        = flag.Duration("t", 20*time.Second, "bench -rate: how long to publish")
	bin        = flag.String("bin", "", "bench: the bottleneck binary (default: go build ./cmd/bottleneck)")
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: stream-load publish|read|bench [flags]")
		os.Exit(2)
	}
	cmd := os.Args[1]
	flag.CommandLine.Parse(os.Args[2:])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd {
	case "publish":
		err = publishCmd(ctx)
	case "read":
		err = readCmd(ctx)
	case "bench":
		err = benchCmd(ctx)
	default:
		err = fmt.Errorf("unknown command %q: want publish, read or bench", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "stream-load:", err)
		os.Exit(1)
	}
}

// messages reads the -data rows as JSON objects; message i is row i mod
// rows with "id": i.
func messages(count int) ([][]byte, error) {
	f, err := os.Open(*dataPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(bufio.NewReader(f)).ReadAll()
	if err != nil || len(recs) == 0 {
		return nil, fmt.Errorf("%s: %v", *dataPath, err)
	}
	var header []string
	if *modelPath != "" {
		det, err := anomaly.Open(*modelPath)
		if err != nil {
			return nil, err
		}
		for _, c := range det.Preprocessor().Columns {
			header = append(header, c.Name)
		}
	}
	if header == nil || slices.Equal(recs[0], header) {
		header, recs = recs[0], recs[1:]
	}
	if count <= 0 {
		count = len(recs)
	}
	out := make([][]byte, count)
	for i := range out {
		r := recs[i%len(recs)]
		m := make(map[string]any, len(r)+1)
		m["id"] = i
		for j, h := range header {
			if j >= len(r) {
				break
			}
			if v, err := strconv.ParseFloat(r[j], 64); err == nil {
				m[h] = v
			} else {
				m[h] = r[j]
			}
		}
		out[i], _ = json.Marshal(m)
	}
	return out, nil
}

// sender publishes to one place with acknowledgements.
type sender interface {
	send(ctx context.Context, batch [][]byte) error
	close()
}

type natsSender struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	subject string
}

func (s *natsSender) send(ctx context.Context, batch [][]byte) error {
	for _, p := range batch {
		if _, err := s.js.PublishAsync(s.subject, p); err != nil {
			return err
		}
	}
	select {
	case <-s.js.PublishAsyncComplete():
		return nil
	case <-time.After(30 * time.Second):
		return errors.New("nats: no acknowledgement in 30 s")
	}
}

func (s *natsSender) close() { s.nc.Close() }

type kafkaSender struct {
	cl    *kgo.Client
	topic string
}

func (s *kafkaSender) send(ctx context.Context, batch [][]byte) error {
	recs := make([]*kgo.Record, len(batch))
	for i, p := range batch {
		recs[i] = &kgo.Record{Topic: s.topic, Value: p}
	}
	return s.cl.ProduceSync(ctx, recs...).FirstErr()
}

func (s *kafkaSender) close() { s.cl.Close() }

func newSender(ctx context.Context, url string) (sender, error) {
	e, err := stream.ParseEndpoint(url)
	if err != nil {
		return nil, err
	}
	if e.Kind == stream.Kafka {
		// round robin: the partitions, and so the workers, get even shares
		cl, err := kgo.NewClient(kgo.SeedBrokers(e.Servers...), kgo.AllowAutoTopicCreation(), kgo.ProducerLinger(time.Millisecond),
			kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
		return &kafkaSender{cl, e.Name}, err
	}
	nc, err := nats.Connect("nats://" + strings.Join(e.Servers, ",nats://"))
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	if _, err := js.StreamNameBySubject(ctx, e.Name); errors.Is(err, jetstream.ErrStreamNotFound) {
		name := strings.ToUpper(strings.NewReplacer(".", "_", "*", "ANY", ">", "ALL").Replace(e.Name))
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{e.Name}, Storage: jetstream.FileStorage}); err != nil {
			return nil, err
		}
		fmt.Fprintf(os.Stderr, "created JetStream stream %s for %s\n", name, e.Name)
	}
	return &natsSender{nc, js, e.Name}, nil
}

// publish sends msgs in slices of up to 100, paced to rate when it is
// set; sent, when not nil, gets each message's index and send time.
func publish(ctx context.Context, s sender, msgs [][]byte, rate float64, sent func(lo, hi int, at time.Time)) error {
	start := time.Now()
	step := 100
	if rate > 0 {
		step = max(1, min(100, int(rate/200))) // about 200 sends a second
	}
	for lo := 0; lo < len(msgs); lo += step {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if rate > 0 {
			if d := time.Until(start.Add(time.Duration(float64(lo) / rate * float64(time.Second)))); d > 0 {
				time.Sleep(d)
			}
		}
		hi := min(lo+step, len(msgs))
		if sent != nil {
			sent(lo, hi, time.Now())
		}
		if err := s.send(ctx, msgs[lo:hi]); err != nil {
			return err
		}
	}
	return nil
}

func publishCmd(ctx context.Context) error {
	msgs, err := messages(*n)
	if err != nil {
		return err
	}
	s, err := newSender(ctx, *urlFlag)
	if err != nil {
		return err
	}
	defer s.close()
	start := time.Now()
	if err := publish(ctx, s, msgs, *rate, nil); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "published %d messages to %s in %.2fs\n", len(msgs), *urlFlag, time.Since(start).Seconds())
	return nil
}

// subscribe calls f with every message of url from now on (NATS) or from
// the start of the topic (Kafka) until ctx ends.
func subscribe(ctx context.Context, url string, f func(value []byte, key string)) (stopped <-chan struct{}, err error) {
	e, err := stream.ParseEndpoint(url)
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	if e.Kind == stream.Kafka {
		cl, err := kgo.NewClient(kgo.SeedBrokers(e.Servers...), kgo.ConsumeTopics(e.Name), kgo.AllowAutoTopicCreation())
		if err != nil {
			return nil, err
		}
		go func() {
			defer close(done)
			defer cl.Close()
			for ctx.Err() == nil {
				cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { f(r.Value, string(r.Key)) })
			}
		}()
		return done, nil
	}
	nc, err := nats.Connect("nats://" + strings.Join(e.Servers, ",nats://"))
	if err != nil {
		return nil, err
	}
	sub, err := nc.Subscribe(e.Name, func(m *nats.Msg) { f(m.Data, m.Header.Get("Bottleneck-Id")) })
	if err != nil {
		return nil, err
	}
	sub.SetPendingLimits(-1, -1)
	go func() {
		<-ctx.Done()
		nc.Close()
		close(done)
	}()
	return done, nc.Flush()
}

func readCmd(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	count := 0
	if e, err := stream.ParseEndpoint(*urlFlag); err == nil && e.Kind == stream.NATS {
		// a stream keeps the subject (one is made when none does), read
		// from its start: outputs published before read started are kept
		s, err := newSender(ctx, *urlFlag)
		if err != nil {
			return err
		}
		defer s.close()
		js := s.(*natsSender).js
		name, err := js.StreamNameBySubject(ctx, e.Name)
		if err != nil {
			return err
		}
		cons, err := js.OrderedConsumer(ctx, name, jetstream.OrderedConsumerConfig{FilterSubjects: []string{e.Name}})
		if err != nil {
			return err
		}
		for ctx.Err() == nil && (*n == 0 || count < *n) {
			m, err := cons.Next(jetstream.FetchMaxWait(time.Second))
			if err != nil {
				continue
			}
			fmt.Println(string(m.Data()))
			count++
		}
		return nil
	}
	done, err := subscribe(ctx, *urlFlag, func(v []byte, _ string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Println(string(v))
		if count++; *n > 0 && count >= *n {
			cancel()
		}
	})
	if err != nil {
		return err
	}
	<-done
	return nil
}

// benchCmd measures throughput or latency on a broker in process.
func benchCmd(ctx context.Context) error {
	if *n <= 0 {
		*n = 100000
	}
	if *modelPath == "" {
		return errors.New("bench needs -m MODEL")
	}
	dir, err := os.MkdirTemp("", "stream-load")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	exe := *bin
	if exe == "" {
		exe = filepath.Join(dir, "bottleneck")
		b := exec.Command("go", "build", "-o", exe, "./cmd/bottleneck")
		b.Stderr = os.Stderr
		if err := b.Run(); err != nil {
			return fmt.Errorf("go build: %w", err)
		}
	}
	in, out, closeBroker, err := startBroker(ctx, dir)
	if err != nil {
		return err
	}
	defer closeBroker()
	count := *n
	if *rate > 0 {
		count = int(*rate * dur.Seconds())
	}
	msgs, err := messages(count)
	if err != nil {
		return err
	}
	s, err := newSender(ctx, in)
	if err != nil {
		return err
	}
	defer s.close()

	sentAt := make([]time.Time, len(msgs))
	got := make([]time.Time, len(msgs))
	var mu sync.Mutex
	outputs := 0
	all := make(chan struct{})
	sctx, stopSub := context.WithCancel(ctx)
	defer stopSub()
	subDone, err := subscribe(sctx, out, func(v []byte, key string) {
		now := time.Now()
		i, err := strconv.Atoi(key)
		mu.Lock()
		defer mu.Unlock()
		if err == nil && i >= 0 && i < len(got) && got[i].IsZero() {
			got[i] = now
			if outputs++; outputs == len(msgs) {
				close(all)
			}
		}
	})
	if err != nil {
		return err
	}
	if *rate == 0 {
		// the backlog first, then the workers
		if err := publish(ctx, s, msgs, 0, nil); err != nil {
			return err
		}
	}
	var self0 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self0)
	procs, err := startWorkers(ctx, exe, in, out)
	stopped := false
	stopWorkers := func() (cpu time.Duration) {
		for _, p := range procs {
			if !stopped {
				p.Process.Signal(syscall.SIGTERM)
				p.Wait()
			}
			if p.ProcessState != nil {
				cpu += p.ProcessState.UserTime() + p.ProcessState.SystemTime()
			}
		}
		stopped = true
		return cpu
	}
	defer stopWorkers()
	if err != nil {
		return err
	}
	if *brokerKind == "kafka" {
		if err := waitGroup(ctx, in, *workers); err != nil {
			return err
		}
	}
	if *rate > 0 {
		if err := publish(ctx, s, msgs, *rate, func(lo, hi int, at time.Time) {
			mu.Lock()
			defer mu.Unlock()
			for i := lo; i < hi; i++ {
				sentAt[i] = at
			}
		}); err != nil {
			return err
		}
	}
	select {
	case <-all:
	case <-time.After(10 * time.Minute):
		return fmt.Errorf("only %d of %d outputs after 10 minutes", outputs, len(msgs))
	case <-ctx.Done():
		return ctx.Err()
	}
	stopSub()
	<-subDone
	workerCPU := stopWorkers()
	var self1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self1)
	selfCPU := time.Duration(self1.Utime.Nano()+self1.Stime.Nano()-self0.Utime.Nano()-self0.Stime.Nano()) * time.Nanosecond
	perMsg := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(len(msgs)) }
	host, _ := os.Hostname()
	threadText := "all"
	if *threads > 0 {
		threadText = strconv.Itoa(*threads)
	}
	if *rate == 0 {
		times := slices.Clone(got)
		slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
		lo, hi := times[len(times)/10], times[9*len(times)/10]
		tput := float64(9*len(times)/10-len(times)/10) / hi.Sub(lo).Seconds()
		fmt.Printf("| %s | %d | %s | %d | %d | %.0f | %.1f | %.1f |\n", *brokerKind, *workers, threadText, *batch, len(msgs), tput,
			perMsg(workerCPU), perMsg(selfCPU))
		fmt.Fprintf(os.Stderr, "(%s, %s)\n", host, time.Now().UTC().Format(time.RFC3339))
		return nil
	}
	lat := make([]float64, len(msgs))
	for i := range lat {
		lat[i] = got[i].Sub(sentAt[i]).Seconds() * 1000
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	fmt.Printf("| %s | %d | %s | %d | %s | %.0f | %d | %.1f | %.1f | %.1f | %.1f |\n", *brokerKind, *workers, threadText, *batch, linger.String(), *rate, len(msgs),
		q(0.5), q(0.99), lat[len(lat)-1], perMsg(workerCPU))
	return nil
}

// startBroker starts the -broker in process and returns the input and
// output URLs.
func startBroker(ctx context.Context, dir string) (in, out string, closeFn func(), err error) {
	if *brokerKind == "kafka" {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(int32(*partitions), "flows"), kfake.AllowAutoTopicCreation())
		if err != nil {
			return "", "", nil, err
		}
		base := "kafka://" + strings.Join(c.ListenAddrs(), ",")
		return base + "/flows", base + "/scores", c.Close, nil
	}
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: filepath.Join(dir, "nats"), NoLog: true, NoSigs: true})
	if err != nil {
		return "", "", nil, err
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		return "", "", nil, errors.New("nats-server did not start")
	}
	base := fmt.Sprintf("nats://127.0.0.1:%d", s.Addr().(*net.TCPAddr).Port)
	// a stream keeps the outputs, so the workers publish with JetStream
	// acknowledgements, as they would in production
	nc, err := nats.Connect(base)
	if err != nil {
		return "", "", nil, err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	for _, st := range []string{"flows", "scores"} {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: strings.ToUpper(st), Subjects: []string{st}, Storage: jetstream.FileStorage}); err != nil {
			return "", "", nil, err
		}
	}
	return base + "/flows", base + "/scores", s.Shutdown, nil
}

// waitGroup waits until the workers' Kafka group is stable with n
// members, so that no rebalance falls into the measurement.
func waitGroup(ctx context.Context, in string, n int) error {
	e, _ := stream.ParseEndpoint(in)
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.Servers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		gs, err := adm.DescribeGroups(ctx, "bottleneck")
		if g := gs["bottleneck"]; err == nil && g.State == "Stable" && len(g.Members) == n {
			return nil
		}
	}
	return errors.New("the workers' group did not settle")
}

// startWorkers starts the -workers `bottleneck stream` processes and
// waits until each consumes.
func startWorkers(ctx context.Context, exe, in, out string) ([]*exec.Cmd, error) {
	var procs []*exec.Cmd
	for i := range *workers {
		args := []string{"stream", "-m", *modelPath, "--in", in, "--out", out, "--id", "id", "--batch", strconv.Itoa(*batch),
			"--linger", linger.String(), "--worker-id", fmt.Sprint("w", i), "--log-format", "json"}
		if *threads > 0 {
			args = append(args, "--threads", strconv.Itoa(*threads))
		}
		cmd := exec.CommandContext(ctx, exe, args...)
		pr, pw := io.Pipe()
		cmd.Stderr = pw
		if err := cmd.Start(); err != nil {
			return procs, err
		}
		procs = append(procs, cmd)
		ready := make(chan struct{})
		go func() {
			sc := bufio.NewScanner(pr)
			once := sync.Once{}
			for sc.Scan() {
				if strings.Contains(sc.Text(), "stream worker consuming") {
					once.Do(func() { close(ready) })
				}
				if strings.Contains(sc.Text(), `"level":"ERROR"`) || strings.Contains(sc.Text(), `"level":"WARN"`) {
					fmt.Fprintln(os.Stderr, sc.Text())
				}
			}
		}()
		select {
		case <-ready:
		case <-time.After(30 * time.Second):
			return procs, fmt.Errorf("worker %d not consuming after 30 s", i)
		}
	}
	return procs, nil
}
