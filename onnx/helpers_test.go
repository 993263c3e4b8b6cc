package onnx

import (
	"context"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/tensor"
	"github.com/bottleneck-ml/bottleneck/train"
	"github.com/bottleneck-ml/bottleneck/zoo"
)

// exportCase is a detector and inputs to run it on: x as the ONNX graph
// takes it (raw columns for a table model) and model, the same rows in
// the model's input space as bottleneck takes them.
type exportCase struct {
	name   string
	d      *anomaly.Detector
	x      []*tensor.Tensor
	model  []*tensor.Tensor
	labels []string // per row of x[0], for the report (may be nil)
}

// tol is the largest difference allowed between ONNX Runtime and
// bottleneck: 1e-5 for dense models, 1e-4 for convolutional ones.
func (c *exportCase) tol() float64 {
	if k := c.d.Model().Config.Kind(); k == "dense" || k == "vae" {
		return 1e-5
	}
	return 1e-4
}

// uniform is a tensor of the given shape with values in [0,1).
func uniform(seed uint64, shape ...int) *tensor.Tensor {
	rng := rand.New(rand.NewPCG(seed, 3))
	x := tensor.New(shape...)
	for i := range x.Data {
		x.Data[i] = rng.Float32()
	}
	return x
}

// shippedCases are the shipped models on random inputs: 4 rows of a fixed
// input, or two pictures of different sizes for a fully convolutional
// model.
func shippedCases(t *testing.T) []*exportCase {
	t.Helper()
	var cases []*exportCase
	for _, name := range zoo.Names() {
		d, err := anomaly.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		c := &exportCase{name: name, d: d}
		cfg := d.Model().Config
		if cfg.Input != nil {
			c.x = []*tensor.Tensor{uniform(1, append([]int{4}, cfg.Input...)...)}
		} else {
			k := cfg.Multiple()
			c.x = []*tensor.Tensor{uniform(1, 1, cfg.Channels, 5*k, 3*k), uniform(2, 2, cfg.Channels, 4*k, 6*k)}
		}
		c.model = c.x
		cases = append(cases, c)
	}
	return cases
}

// syntheticCases cover what the shipped models do not: table models with
// every score metric, categorical columns and a diagonal Mahalanobis
// residual, and convolutional models with every layer kind.
func syntheticCases(t *testing.T) []*exportCase {
	t.Helper()
	var cases []*exportCase
	table := loadTable(t, tableCSV(300, 1))
	for _, score := range []string{anomaly.MetricMahal, anomaly.MetricMSE, anomaly.MetricMAE, anomaly.MetricNMSE} {
		d := trainDetector(t, table, anomaly.TrainOptions{Hidden: []int{6}, Code: 3, Score: score, Seed: 1, Fit: train.Options{Epochs: 3}})
		x, model := tableInputs(t, d, tableCSV(40, 2))
		cases = append(cases, &exportCase{name: "table-" + score, d: d, x: []*tensor.Tensor{x}, model: []*tensor.Tensor{model}})
	}
	// arrays: numeric columns only, 310 of them (a diagonal residual
	// covariance), standardised inside the graph
	raw := uniform(5, 200, 310)
	for i := range raw.Data {
		raw.Data[i] = raw.Data[i]*float32(10+i%310) - 3
	}
	ads, err := dataset.FromTensor("wide", raw, "standardize")
	if err != nil {
		t.Fatal(err)
	}
	d := trainDetector(t, ads, anomaly.TrainOptions{Hidden: []int{16}, Code: 4, Seed: 2, Fit: train.Options{Epochs: 2}})
	xr := tensor.From(raw.Data[:5*310], 5, 310)
	xm := tensor.New(5, 310)
	for i := range 5 {
		if err := ads.Pre.TransformValues(xr.Row(i), xm.Row(i)); err != nil {
			t.Fatal(err)
		}
	}
	cases = append(cases, &exportCase{name: "array-mahal-diag", d: d, x: []*tensor.Tensor{xr}, model: []*tensor.Tensor{xm}})

	// a time-series detector: windows of 4 rows of 3 columns
	series := uniform(12, 120, 3)
	for i := range series.Data {
		series.Data[i] = 50 + 10*series.Data[i] + float32(i%7)
	}
	sds, err := dataset.FromTensor("series", series, "standardize")
	if err != nil {
		t.Fatal(err)
	}
	d = trainDetector(t, sds, anomaly.TrainOptions{Hidden: []int{6}, Code: 2, Window: 4, Stride: 1, Seed: 3, Fit: train.Options{Epochs: 2}})
	xw, _, err := anomaly.Windows(tensor.From(series.Data[:10*3], 10, 3), 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	mw, _, err := anomaly.Windows(tensor.From(sds.X.Data[:10*3], 10, 3), 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	cases = append(cases, &exportCase{name: "series-window", d: d, x: []*tensor.Tensor{xw}, model: []*tensor.Tensor{mw}})

	// a fully convolutional model with every layer kind, random weights
	// and BatchNorm statistics
	conv := ae.Config{Channels: 2, Loss: ae.LossMSE,
		Encoder: []string{"conv:8:3", "bn", "leakyrelu", "avgpool:2", "conv:8:3:d2", "tanh", "unshuffle:2", "conv:16:3", "gelu"},
		Decoder: []string{"conv:32:3", "shuffle:2", "upsample:2:bilinear", "conv:6:3", "relu", "dropout:0.2", "maxpool:2", "upsample:2", "conv:2:3", "sigmoid"}}
	cases = append(cases, &exportCase{name: "conv-all-layers", d: randomDetector(t, conv, 3),
		x: []*tensor.Tensor{uniform(6, 2, 2, 8, 16), uniform(7, 1, 2, 24, 8)}})
	// a residual model with a fixed input size, and a convolutional VAE
	res := ae.Config{Input: []int{3, 8, 8}, Residual: true, Loss: ae.LossMSE,
		Encoder: []string{"conv:4:3:s2", "relu"}, Decoder: []string{"convt:3:4:s2", "tanh"}}
	cases = append(cases, &exportCase{name: "conv-residual", d: randomDetector(t, res, 4), x: []*tensor.Tensor{uniform(8, 3, 3, 8, 8)}})
	vae, err := ae.Preset("mnist-vae-conv:8", 1)
	if err != nil {
		t.Fatal(err)
	}
	cases = append(cases, &exportCase{name: "conv-vae", d: randomDetector(t, vae, 5), x: []*tensor.Tensor{uniform(9, 3, 1, 28, 28)}})
	// a colorizer that classifies a,b and decodes them by the annealed mean
	cc, err := ae.Preset("colorize-classes:8:0.5", 1)
	if err != nil {
		t.Fatal(err)
	}
	cases = append(cases, &exportCase{name: "colorize-classes", d: randomDetector(t, cc, 11), x: []*tensor.Tensor{uniform(11, 2, 1, 16, 12)}})
	gauss, err := ae.DenseConfig([]int{12}, false, ae.Dense{Hidden: []int{10}, Code: 3, Variational: true, Activation: "gelu"})
	if err != nil {
		t.Fatal(err)
	}
	cases = append(cases, &exportCase{name: "dense-vae-gaussian", d: randomDetector(t, gauss, 6), x: []*tensor.Tensor{uniform(10, 5, 12)}})
	for _, c := range cases {
		if c.model == nil {
			c.model = c.x
		}
	}
	return cases
}

// randomDetector is a model of cfg with random weights and BatchNorm
// statistics, without a threshold.
func randomDetector(t *testing.T, cfg ae.Config, seed uint64) *anomaly.Detector {
	t.Helper()
	m, err := ae.New(cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 9))
	for _, b := range m.Buffers {
		for i := range b.W {
			if strings.HasSuffix(b.Name, "running_var") {
				b.W[i] = 0.5 + rng.Float32()
			} else {
				b.W[i] = rng.Float32() - 0.5
			}
		}
	}
	for _, p := range m.Params.Params {
		if strings.HasSuffix(p.Name, "bias") || p.Name == logvarParam {
			for i := range p.W {
				p.W[i] = 0.2 * (rng.Float32() - 0.5)
			}
		}
	}
	d, err := anomaly.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// tableCSV is a small table: amount follows hour, a country category; the
// last row of a table with bad > 0 has a far-out amount.
func tableCSV(n int, seed uint64) string {
	rng := rand.New(rand.NewPCG(seed, 7))
	var b strings.Builder
	b.WriteString("amount,hour,country,label\n")
	for i := range n {
		h := i % 24
		amount := 20 + 2*float64(h) + rng.NormFloat64()
		label := "ok"
		if seed > 1 && i == n-1 {
			amount, label = 900, "fraud"
		}
		fmt.Fprintf(&b, "%.2f,%d,%s,%s\n", amount, h, []string{"de", "fr", "us"}[i%3], label)
	}
	return b.String()
}

func loadTable(t *testing.T, text string) *dataset.Dataset {
	t.Helper()
	ds, err := dataset.LoadFS(fstest.MapFS{"t.csv": {Data: []byte(text)}}, "t.csv", dataset.LoadOptions{Label: "label"})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func trainDetector(t *testing.T, ds *dataset.Dataset, o anomaly.TrainOptions) *anomaly.Detector {
	t.Helper()
	d, err := anomaly.Train(context.Background(), ds, o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// tableInputs reads a CSV text's records as the graph takes them (raw
// numbers, one-hot categories) and as the model takes them.
func tableInputs(t *testing.T, d *anomaly.Detector, text string) (raw, model *tensor.Tensor) {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(text)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recordInputs(t, d.Preprocessor(), recs[0], recs[1:])
}

// recordInputs encodes records (fields named by header) for the graph and
// for the model. The graph's numbers are float32: the records the model
// reads are rewritten to hold exactly those values, so that both see the
// same input.
func recordInputs(t *testing.T, pre *dataset.Preprocessor, header []string, recs [][]string) (raw, model *tensor.Tensor) {
	t.Helper()
	recs = slices.Clone(recs)
	raw = tensor.New(len(recs), pre.Dim())
	for r, rec := range recs {
		rec = slices.Clone(rec)
		recs[r] = rec
		row := raw.Row(r)
		j := 0
		for _, c := range pre.Columns {
			if c.Role != dataset.RoleFeature {
				continue
			}
			v := strings.TrimSpace(rec[slices.Index(header, c.Name)])
			if c.Type == dataset.TypeCategorical {
				if k, ok := slices.BinarySearch(c.Categories, v); ok {
					row[j+k] = 1
				}
				j += len(c.Categories)
				continue
			}
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			row[j] = float32(f)
			rec[slices.Index(header, c.Name)] = strconv.FormatFloat(float64(row[j]), 'g', -1, 64)
			j++
		}
	}
	model, err := pre.TransformTable(header, recs)
	if err != nil {
		t.Fatal(err)
	}
	return raw, model
}

// kddPath finds a file of the shared NSL-KDD data (../shared/data beside
// the checkout, as in CI, or /work/shared/data).
func kddPath(name string) string {
	for _, dir := range []string{filepath.Join("..", "..", "shared", "data"), "/work/shared/data"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

var (
	kddOnce sync.Once
	kddDet  *anomaly.Detector
	kddErr  error
)

// kddCase trains a detector on NSL-KDD's 20 % training file (normal rows,
// 4 epochs: what matters here is that it is trained, not how well) and
// takes 300 rows of the test file as inputs; skipped without the data.
func kddCase(t *testing.T) *exportCase {
	t.Helper()
	train20, test, names := kddPath("nsl-kdd/KDDTrain+_20Percent.txt"), kddPath("nsl-kdd/KDDTest+.txt"), kddPath("kddcup99/kddcup.names")
	if train20 == "" || test == "" || names == "" {
		t.Skip("NSL-KDD data not found in ../shared/data or /work/shared/data")
	}
	cols, err := dataset.ReadColumnNames(names)
	if err != nil {
		t.Fatal(err)
	}
	cols = append(cols, "label", "difficulty")
	kddOnce.Do(func() {
		ds, err := dataset.Load(train20, dataset.LoadOptions{Header: dataset.NoHeader, Columns: cols, Label: "label", Drop: []string{"difficulty"}, Normal: "normal"})
		if err != nil {
			kddErr = err
			return
		}
		kddDet, kddErr = anomaly.Train(context.Background(), ds, anomaly.TrainOptions{Hidden: []int{64, 32}, Code: 8, Seed: 1, Fit: train.Options{Epochs: 4}})
	})
	if kddErr != nil {
		t.Fatal(kddErr)
	}
	f, err := os.Open(test)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	var recs [][]string
	var labels []string
	for len(recs) < 300 {
		rec, err := r.Read()
		if err != nil {
			t.Fatal(err)
		}
		// categories the model never saw encode as zeros in both
		recs = append(recs, rec)
		labels = append(labels, rec[len(rec)-2])
	}
	raw, model := recordInputs(t, kddDet.Preprocessor(), cols, recs)
	return &exportCase{name: "nsl-kdd", d: kddDet, x: []*tensor.Tensor{raw}, model: []*tensor.Tensor{model}, labels: labels}
}
