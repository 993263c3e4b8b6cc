package stream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsBroker reads a subject through a durable pull consumer of the
// JetStream stream that captures it.
type natsBroker struct {
	w       *Worker
	nc      *nats.Conn
	js      jetstream.JetStream
	cons    jetstream.Consumer
	stream  string
	durable map[string]bool // output subject → a stream captures it
	pending atomic.Int64    // the consumer's backlog, -1 unknown
}

// natsPoll is how long one wait for the first message of a batch lasts
// before it is asked again (so that a lost request does not stall).
const natsPoll = 2 * time.Second

func dialNATS(ctx context.Context, w *Worker) (broker, error) {
	log := w.log.With("broker", "nats")
	nc, err := nats.Connect(strings.Join(prefixed("nats://", w.in.Servers), ","),
		nats.Name("bottleneck stream "+w.opt.WorkerID),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500*time.Millisecond),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		nats.Timeout(5*time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("disconnected from NATS; reconnecting", "error", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("reconnected to NATS", "server", c.ConnectedUrlRedacted()) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { log.Warn("NATS error", "error", err) }),
	)
	if err != nil {
		return nil, err
	}
	b := &natsBroker{w: w, nc: nc, durable: map[string]bool{}}
	b.pending.Store(-1)
	b.js, err = jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(max(4*w.opt.Batch, 1024)), jetstream.WithPublishAsyncTimeout(10*time.Second))
	if err == nil {
		err = b.setup(ctx)
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	return b, nil
}

func prefixed(p string, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = p + s
	}
	return out
}

// setup finds or creates the input's stream and the durable consumer, and
// finds which output subjects a stream keeps (creating one for dead
// letters when none does).
func (b *natsBroker) setup(ctx context.Context) error {
	w := b.w
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	name, err := b.js.StreamNameBySubject(ctx, w.in.Name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		name = w.opt.Stream
		if name == "" {
			name = streamName(w.in.Name)
		}
		_, err = b.js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{w.in.Name}, Storage: jetstream.FileStorage})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			err = nil // another worker made it first
		}
		if err != nil {
			return apiFatal(fmt.Errorf("stream: create stream %s for %s: %w", name, w.in.Name, err))
		}
		w.log.Info("created a JetStream stream for the input", "stream", name, "subject", w.in.Name)
	case err != nil:
		return apiFatal(fmt.Errorf("stream: look up the stream of %s: %w", w.in.Name, err))
	}
	b.stream = name
	b.cons, err = b.js.CreateOrUpdateConsumer(ctx, name, jetstream.ConsumerConfig{
		Durable:       w.opt.Group,
		FilterSubject: w.in.Name,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       w.opt.AckWait,
		MaxAckPending: max(1000, 8*w.opt.Batch),
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return apiFatal(fmt.Errorf("stream: durable consumer %s on stream %s: %w", w.opt.Group, name, err))
	}
	for _, e := range []Endpoint{w.out, w.dead} {
		s, err := b.js.StreamNameBySubject(ctx, e.Name)
		switch {
		case err == nil:
			b.durable[e.Name] = true
			w.log.Info("publishing with JetStream acknowledgements", "subject", e.Name, "stream", s)
		case !errors.Is(err, jetstream.ErrStreamNotFound):
			return apiFatal(fmt.Errorf("stream: look up the stream of %s: %w", e.Name, err))
		case e.Name == w.dead.Name:
			// dead letters must be kept: give them a stream
			dn := streamName(e.Name)
			_, err := b.js.CreateStream(ctx, jetstream.StreamConfig{Name: dn, Subjects: []string{e.Name}, Storage: jetstream.FileStorage})
			if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				return apiFatal(fmt.Errorf("stream: create stream %s for the dead letters on %s: %w", dn, e.Name, err))
			}
			b.durable[e.Name] = true
			w.log.Info("created a JetStream stream for the dead letters", "stream", dn, "subject", e.Name)
		default:
			w.log.Warn("no JetStream stream captures the output subject: outputs are published without acknowledgement, and lost when nobody listens", "subject", e.Name)
		}
	}
	return nil
}

// apiFatal marks JetStream's refusals (a bad configuration) as fatal;
// timeouts and lost connections stay retryable.
func apiFatal(err error) error {
	var api *jetstream.APIError
	if errors.As(err, &api) && api.Code != 503 && api.Code != 408 {
		return fatalError{err}
	}
	return err
}

// streamName derives a stream name from a subject: "events.kdd" →
// "EVENTS_KDD".
func streamName(subject string) string {
	r := strings.NewReplacer(".", "_", "*", "ANY", ">", "ALL", " ", "_")
	return strings.ToUpper(r.Replace(subject))
}

func (b *natsBroker) fetch(ctx context.Context, max int, linger time.Duration) ([]*message, error) {
	// what is there already
	mb, err := b.cons.FetchNoWait(max)
	if err != nil {
		return nil, err
	}
	msgs, err := b.collect(mb, nil)
	if err != nil {
		return msgs, b.giveBack(msgs, err)
	}
	if len(msgs) == 0 {
		// wait for the first message
		pctx, cancel := context.WithTimeout(ctx, natsPoll)
		mb, err := b.cons.Fetch(1, jetstream.FetchContext(pctx))
		if err == nil {
			msgs, err = b.collect(mb, msgs)
		}
		cancel()
		if ctx.Err() != nil {
			b.giveBack(msgs, nil)
			return nil, nil
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return nil, b.giveBack(msgs, err)
		}
		if len(msgs) == 0 {
			return nil, nil
		}
	}
	if len(msgs) < max && linger > 0 {
		// and for what comes within linger
		mb, err := b.cons.Fetch(max-len(msgs), jetstream.FetchMaxWait(linger))
		if err == nil {
			msgs, err = b.collect(mb, msgs)
		}
		if err != nil {
			return nil, b.giveBack(msgs, err)
		}
	}
	return msgs, nil
}

// collect reads a fetch's messages.
func (b *natsBroker) collect(mb jetstream.MessageBatch, msgs []*message) ([]*message, error) {
	for m := range mb.Messages() {
		msg := &message{value: m.Data(), raw: m}
		if md, err := m.Metadata(); err == nil {
			msg.coord = strconv.AppendUint(nil, md.Sequence.Stream, 10)
			msg.delivered = int(md.NumDelivered)
			msg.stored = md.Timestamp
			b.pending.Store(int64(md.NumPending))
		} else {
			msg.coord = []byte(`"` + m.Subject() + `"`)
		}
		msgs = append(msgs, msg)
	}
	return msgs, mb.Error()
}

// giveBack asks for messages fetched but not going to be scored to be
// delivered again at once, and returns err.
func (b *natsBroker) giveBack(msgs []*message, err error) error {
	for _, m := range msgs {
		m.raw.(jetstream.Msg).Nak()
	}
	return err
}

func (b *natsBroker) publish(ctx context.Context, outs []*outMsg) error {
	type sent struct {
		o *outMsg
		f jetstream.PubAckFuture
	}
	var js []sent
	var core []*outMsg
	var first error
	for _, o := range outs {
		if o.done {
			continue
		}
		subj := b.w.out.Name
		if o.dead {
			subj = b.w.dead.Name
		}
		m := nats.NewMsg(subj)
		m.Data = o.value
		m.Header.Set("Bottleneck-Id", o.key)
		m.Header.Set("Bottleneck-Worker", b.w.opt.WorkerID)
		if o.dead {
			m.Header.Set("Bottleneck-Error", capText(o.errs, 1024))
		}
		if !b.durable[subj] {
			if err := b.nc.PublishMsg(m); err != nil && first == nil {
				first = err
			}
			core = append(core, o)
			continue
		}
		f, err := b.js.PublishMsgAsync(m, jetstream.WithMsgID(o.dedup))
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		js = append(js, sent{o, f})
	}
	if len(core) > 0 && first == nil {
		// core NATS has no acknowledgement: the server has them once a
		// flush comes back
		if err := b.flush(ctx); err != nil {
			first = err
		} else {
			for _, o := range core {
				o.done = true
			}
		}
	}
	for _, s := range js {
		select {
		case <-s.f.Ok():
			s.o.done = true
		case err := <-s.f.Err():
			if first == nil {
				first = err
			}
		case <-ctx.Done():
			if first == nil {
				first = ctx.Err()
			}
		}
	}
	return first
}

func (b *natsBroker) ack(ctx context.Context, msgs []*message) error {
	for _, m := range msgs {
		if err := m.raw.(jetstream.Msg).Ack(); err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
			return err
		}
	}
	// the acknowledgements have reached the server once a flush comes back
	return b.flush(ctx)
}

// flush waits until the server has what was sent so far.
func (b *natsBroker) flush(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return b.nc.FlushWithContext(ctx)
}

func (b *natsBroker) lag() (int64, bool) {
	n := b.pending.Load()
	return n, n >= 0
}

func (b *natsBroker) connected() bool { return b.nc.IsConnected() }

func (b *natsBroker) close(unacked []*message) {
	b.giveBack(unacked, nil)
	// the durable consumer stays: it is the group; Drain sends what is
	// buffered (acknowledgements included) before closing
	if err := b.nc.Drain(); err != nil {
		b.nc.Close()
	}
	for i := 0; i < 100 && !b.nc.IsClosed(); i++ {
		time.Sleep(20 * time.Millisecond)
	}
}

// capText shortens s to n bytes for a header.
func capText(s string, n int) string {
	s = strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
