package stream

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

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
