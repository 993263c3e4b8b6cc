package stream

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// SampleOptions bound what Sample reads.
type SampleOptions struct {
	N      int           // the most recent messages to read at most (default 100,000)
	Idle   time.Duration // stop when nothing has come for this long (default 3s)
	Format string        // FormatJSON or FormatCSV; "" tells by the first message
}

// Sample reads up to the N most recent messages of a subject or topic
// (nats://… or kafka://…, as Options.In) as they stood when it started,
// without a consumer group (nothing is acknowledged, no worker's share
// changes), and writes them to w as a CSV table: JSON objects become rows
// under a header of their keys (in the order first seen; a key a message
// lacks is an empty cell), CSV lines are copied as they are. It returns
// the number of rows written. It is how `bottleneck train --data
// nats://…` takes a training sample of recent traffic.
func Sample(ctx context.Context, url string, w io.Writer, o SampleOptions) (int, error) {
	if o.N <= 0 {
		o.N = 100000
	}
	if o.Idle <= 0 {
		o.Idle = 3 * time.Second
	}
	e, err := ParseEndpoint(url)
	if err != nil {
		return 0, err
	}
	var payloads [][]byte
	if e.Kind == NATS {
		payloads, err = sampleNATS(ctx, e, o)
	} else {
		payloads, err = sampleKafka(ctx, e, o)
	}
	if err != nil {
		return 0, err
	}
	if len(payloads) == 0 {
		return 0, fmt.Errorf("stream: %s holds no messages to sample", url)
	}
	if o.Format == "" && !bytes.HasPrefix(bytes.TrimSpace(payloads[0]), []byte("{")) {
		o.Format = FormatCSV // not an object: CSV lines
	}
	if o.Format == FormatCSV {
		for _, p := range payloads {
			w.Write(bytes.TrimRight(p, "\r\n"))
			if _, err := w.Write([]byte{'\n'}); err != nil {
				return 0, err
			}
		}
		return len(payloads), nil
	}
	// the header: every key, in the order first seen (a first pass, so
	// that only the payloads are held, not a table of them)
	var keys []string
	index := map[string]int{}
	fields := func(i int, p []byte, f func(k, v string)) error {
		if scanFlat(p, func(k, _ []byte, v string) { f(string(k), v) }) {
			return nil
		}
		// escapes, or not a flat object: encoding/json reads or refuses it
		dec := json.NewDecoder(bytes.NewReader(p))
		if t, err := dec.Token(); err != nil || t != json.Delim('{') {
			return fmt.Errorf("stream: %s: message %d is not a JSON object; sample CSV messages with the csv format", url, i)
		}
		for dec.More() {
			t, err := dec.Token()
			if err != nil {
				return fmt.Errorf("stream: %s: message %d: %v", url, i, err)
			}
			k, _ := t.(string)
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return fmt.Errorf("stream: %s: message %d: %v", url, i, err)
			}
			v, err := jsonValue(raw)
			if err != nil {
				return fmt.Errorf("stream: %s: message %d, field %q: %v", url, i, k, err)
			}
			f(k, v)
		}
		return nil
	}
	for i, p := range payloads {
		if err := fields(i, p, func(k, _ string) {
			if _, ok := index[k]; !ok {
				index[k] = len(keys)
				keys = append(keys, k)
			}
		}); err != nil {
			return 0, err
		}
	}
	cw := csv.NewWriter(w)
	cw.Write(keys)
	rec := make([]string, len(keys))
	for i, p := range payloads {
		clear(rec)
		fields(i, p, func(k, v string) { rec[index[k]] = v })
		cw.Write(rec)
	}
	cw.Flush()
	return len(payloads), cw.Error()
}

func sampleNATS(ctx context.Context, e Endpoint, o SampleOptions) ([][]byte, error) {
	nc, err := nats.Connect(strings.Join(prefixed("nats://", e.Servers), ","), nats.Timeout(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("stream: %s: %w", e, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	name, err := js.StreamNameBySubject(ctx, e.Name)
	if err != nil {
		return nil, fmt.Errorf("stream: %s: no JetStream stream keeps this subject (%w)", e, err)
	}
	s, err := js.Stream(ctx, name)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(e.Name))
	if err != nil {
		return nil, err
	}
	last := info.State.LastSeq
	start := max(info.State.FirstSeq, 1)
	// the stream may hold other subjects too: go back far enough for N of
	// this one at the average share, keeping the last N read
	var ours uint64
	for _, c := range info.State.Subjects {
		ours += c
	}
	back := uint64(o.N)
	if ours > 0 && info.State.Msgs > ours {
		back = uint64(float64(o.N) * 1.2 * float64(info.State.Msgs) / float64(ours))
	}
	if last >= back {
		start = max(start, last-back+1)
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{e.Name},
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: start})
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for ctx.Err() == nil {
		mb, err := cons.FetchNoWait(1000) // the messages wanted are stored already
		if err != nil {
			return nil, err
		}
		got, done := 0, false
		for m := range mb.Messages() {
			md, err := m.Metadata()
			if err == nil && md.Sequence.Stream > last {
				done = true
				continue
			}
			out = append(out, m.Data())
			got++
			if err == nil && (md.Sequence.Stream == last || md.NumPending == 0) {
				done = true
			}
		}
		if err := mb.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		if done || got == 0 {
			break
		}
	}
	return out[max(len(out)-o.N, 0):], ctx.Err()
}

func sampleKafka(ctx context.Context, e Endpoint, o SampleOptions) ([][]byte, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.Servers...))
	if err != nil {
		return nil, err
	}
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, e.Name)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("stream: %s: %w", e, err)
	}
	starts, err := adm.ListStartOffsets(ctx, e.Name)
	cl.Close()
	if err != nil {
		return nil, err
	}
	parts := map[int32]kgo.Offset{}
	stop := map[int32]int64{}
	n := 0
	ends.Each(func(l kadm.ListedOffset) { n++ })
	if n == 0 {
		return nil, fmt.Errorf("stream: %s: no such topic", e)
	}
	// up to N from the end of every partition, then the N most recent of
	// those by timestamp: partitions need not fill evenly
	per := int64(o.N)
	ends.Each(func(l kadm.ListedOffset) {
		from := max(l.Offset-per, 0)
		if s, ok := starts.Lookup(l.Topic, l.Partition); ok {
			from = max(from, s.Offset)
		}
		if l.Offset > from {
			parts[l.Partition] = kgo.NewOffset().At(from)
			stop[l.Partition] = l.Offset
		}
	})
	if len(parts) == 0 {
		return nil, nil
	}
	cl, err = kgo.NewClient(kgo.SeedBrokers(e.Servers...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{e.Name: parts}))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var recs []*kgo.Record
	for len(stop) > 0 {
		pctx, cancel := context.WithTimeout(ctx, o.Idle)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		got := 0
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := stop[r.Partition]; ok && r.Offset < end {
				recs = append(recs, r)
				got++
				if r.Offset+1 >= end {
					delete(stop, r.Partition)
				}
			}
		})
		if got == 0 && pctx.Err() != nil {
			break // idle
		}
	}
	slices.SortStableFunc(recs, func(a, b *kgo.Record) int { return a.Timestamp.Compare(b.Timestamp) })
	recs = recs[max(len(recs)-o.N, 0):]
	out := make([][]byte, len(recs))
	for i, r := range recs {
		out[i] = r.Value
	}
	return out, nil
}
