package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkaBroker reads a topic as a member of a consumer group; offsets are
// committed only after the outputs of the records are acknowledged, and
// rebalances wait for the batch in flight (so a partition never moves
// with work half done).
type kafkaBroker struct {
	w      *Worker
	cl     *kgo.Client
	mu     sync.Mutex
	behind map[int32]int64 // partition → records after the last one fetched
	polled bool            // a poll is holding rebalances back
}

func dialKafka(ctx context.Context, w *Worker) (broker, error) {
	b := &kafkaBroker{w: w, behind: map[int32]int64{}}
	forget := func(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, p := range lost[w.in.Name] {
			delete(b.behind, p)
		}
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(w.in.Servers...),
		kgo.ClientID("bottleneck-stream"),
		kgo.ConsumerGroup(w.opt.Group),
		kgo.ConsumeTopics(w.in.Name),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.SessionTimeout(w.opt.SessionTimeout),
		kgo.HeartbeatInterval(min(3*time.Second, w.opt.SessionTimeout/4)),
		kgo.OnPartitionsRevoked(forget),
		kgo.OnPartitionsLost(forget),
		kgo.AllowAutoTopicCreation(), // the output topics
		kgo.RecordDeliveryTimeout(30*time.Second),
		kgo.FetchMaxWait(time.Second),
		kgo.WithLogger(kafkaLogger{w.log.With("broker", "kafka")}),
	)
	if err != nil {
		return nil, fatalError{fmt.Errorf("stream: kafka client: %w", err)}
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := cl.Ping(pctx); err != nil {
		cl.Close()
		return nil, err
	}
	topics, err := kadm.NewClient(cl).ListTopics(pctx, w.in.Name)
	if err == nil {
		if t, ok := topics[w.in.Name]; ok && t.Err == nil {
			w.log.Info("input topic", "topic", w.in.Name, "partitions", len(t.Partitions),
				"note", "at most one worker of the group per partition")
		} else {
			w.log.Warn("the input topic does not exist yet; the group waits for it", "topic", w.in.Name)
		}
	}
	b.cl = cl
	return b, nil
}

func (b *kafkaBroker) fetch(ctx context.Context, max int, linger time.Duration) ([]*message, error) {
	b.release() // the last batch is committed (or given up)
	fs := b.cl.PollRecords(ctx, max)
	b.polled = true
	if ctx.Err() != nil {
		// records fetched but not scored are read again by whoever gets
		// the partition: their offsets are not committed
		return nil, nil
	}
	recs, err := b.take(fs, nil)
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	if len(recs) < max && linger > 0 {
		lctx, cancel := context.WithTimeout(ctx, linger)
		for len(recs) < max && lctx.Err() == nil {
			more := b.cl.PollRecords(lctx, max-len(recs))
			if recs, err = b.take(more, recs); err != nil {
				break
			}
		}
		cancel()
	}
	msgs := make([]*message, len(recs))
	for i, r := range recs {
		coord := strconv.AppendQuote(nil, strconv.Itoa(int(r.Partition))+":"+strconv.FormatInt(r.Offset, 10))
		msgs[i] = &message{value: r.Value, coord: coord, stored: r.Timestamp, raw: r}
	}
	return msgs, nil
}

// take adds a poll's records to recs and notes the partitions' lag; it
// returns an error when the poll failed with nothing to show.
func (b *kafkaBroker) take(fs kgo.Fetches, recs []*kgo.Record) ([]*kgo.Record, error) {
	var first error
	fs.EachError(func(t string, p int32, err error) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return
		}
		if first == nil {
			first = fmt.Errorf("topic %s partition %d: %w", t, p, err)
		}
	})
	b.mu.Lock()
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if n := len(p.Records); n > 0 && p.Topic == b.w.in.Name {
			b.behind[p.Partition] = max(p.HighWatermark-p.Records[n-1].Offset-1, 0)
		}
	})
	b.mu.Unlock()
	n := len(recs)
	recs = append(recs, fs.Records()...)
	if len(recs) == n && first != nil {
		return recs, first
	}
	if first != nil {
		b.w.log.Warn("fetch error on some partitions", "error", first)
	}
	return recs, nil
}

// release lets a rebalance held back by the last poll go ahead.
func (b *kafkaBroker) release() {
	if b.polled {
		b.polled = false
		b.cl.AllowRebalance()
	}
}

func (b *kafkaBroker) publish(ctx context.Context, outs []*outMsg) error {
	var recs []*kgo.Record
	var todo []*outMsg
	for _, o := range outs {
		if o.done {
			continue
		}
		topic := b.w.out.Name
		hs := []kgo.RecordHeader{{Key: "bottleneck-worker", Value: []byte(b.w.opt.WorkerID)}}
		if o.dead {
			topic = b.w.dead.Name
			hs = append(hs, kgo.RecordHeader{Key: "bottleneck-error", Value: []byte(capText(o.errs, 1024))})
		}
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(o.key), Value: o.value, Headers: hs})
		todo = append(todo, o)
	}
	if len(recs) == 0 {
		return nil
	}
	res := b.cl.ProduceSync(ctx, recs...)
	for i, r := range res {
		if r.Err == nil {
			todo[i].done = true
		}
	}
	return res.FirstErr()
}

func (b *kafkaBroker) ack(ctx context.Context, msgs []*message) error {
	recs := make([]*kgo.Record, len(msgs))
	for i, m := range msgs {
		recs[i] = m.raw.(*kgo.Record)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := b.cl.CommitRecords(ctx, recs...); err != nil {
		// The outputs are published, so giving the commit up loses
		// nothing: a later commit on the partition covers these offsets,
		// or the partition's next owner scores them again. Retrying while
		// the poll holds the group back could wait forever (a member
		// dropped from the group cannot commit until it rejoins).
		b.release()
		return fmt.Errorf("%w: %v", errUnacked, err)
	}
	return nil
}

func (b *kafkaBroker) lag() (int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var n int64
	for _, v := range b.behind {
		n += v
	}
	return n, len(b.behind) > 0
}

func (b *kafkaBroker) connected() bool { return true }

func (b *kafkaBroker) close([]*message) {
	// uncommitted records are read again by whoever gets their partition;
	// Close leaves the group
	b.cl.CloseAllowingRebalance()
}

// kafkaLogger passes franz-go's warnings and errors (a broker that cannot
// be reached, a rebalance) to the worker's log.
type kafkaLogger struct{ l *slog.Logger }

func (k kafkaLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (k kafkaLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	switch level {
	case kgo.LogLevelError:
		k.l.Error(msg, keyvals...)
	case kgo.LogLevelWarn:
		k.l.Warn(msg, keyvals...)
	default:
		k.l.Info(msg, keyvals...)
	}
}
