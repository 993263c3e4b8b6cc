// Package demo is `bottleneck demo`: a tour of what the library does on
// data shipped in the binary — a dense autoencoder on embedded MNIST
// digits, the shipped denoiser, and two anomaly detectors (an unseen digit,
// frauds in a synthetic card-transaction table) — writing pictures and
// printing what each found.
package demo

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/imagetask"
	"github.com/bottleneck-ml/bottleneck/internal/atomicfile"
	"github.com/bottleneck-ml/bottleneck/internal/demodata"
	"github.com/bottleneck-ml/bottleneck/internal/report"
	"github.com/bottleneck-ml/bottleneck/internal/synth"
	"github.com/bottleneck-ml/bottleneck/noise"
	"github.com/bottleneck-ml/bottleneck/tensor"
	"github.com/bottleneck-ml/bottleneck/train"
	"github.com/bottleneck-ml/bottleneck/zoo"
)

// Options configure Run.
type Options struct {
	Dir    string    // folder for the model and pictures
	Epochs int       // epochs of the digit autoencoder
	Seed   uint64    // every random choice
	Log    io.Writer // training progress; nil: none
	Bar    bool      // draw a progress bar on Log
}

// FraudModel is the file name of the demo's card-transaction detector in
// Options.Dir.
const FraudModel = "fraud.safetensors"

// Run trains the demo's models, writes its pictures into o.Dir and prints
// what it found to stdout.
func Run(ctx context.Context, o Options, stdout io.Writer) error {
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return fmt.Errorf("demo: cannot create the output folder: %w", err)
	}
	start := time.Now()
	trainDS, err := dataset.LoadFS(demodata.FS, demodata.TrainImages, dataset.LoadOptions{Format: dataset.FormatIDX})
	if err != nil {
		return fmt.Errorf("demo: embedded data: %w", err)
	}
	testDS, err := dataset.LoadWithFS(demodata.FS, demodata.TestImages, trainDS.Pre, dataset.LoadOptions{Format: dataset.FormatIDX})
	if err != nil {
		return fmt.Errorf("demo: embedded data: %w", err)
	}
	fmt.Fprintf(stdout, "demo: %d MNIST training digits and %d test digits (embedded)\n", trainDS.X.Rows(), testDS.X.Rows())
	cfg, err := ae.DenseConfig(trainDS.Shape, true, ae.Dense{Hidden: []int{256, 64}, Code: 32})
	if err != nil {
		return err
	}
	m, err := ae.New(cfg, o.Seed)
	if err != nil {
		return err
	}
	m.Preprocess = trainDS.Pre
	fmt.Fprintf(stdout, "model: %s, %d parameters, sigmoid output, %s loss\n", strings.TrimPrefix(cfg.Summary(), "dense "), m.NumParams(), cfg.Loss)
	trn, val := dataset.Split(trainDS, 0.1, o.Seed)
	log := o.Log
	rec, err := train.Fit(ctx, m, train.NewRows(trn, train.RowsOptions{Batch: 64, Seed: o.Seed}), train.NewRows(val, train.RowsOptions{Batch: 64, Ordered: true}),
		train.Options{Epochs: o.Epochs, LR: 2e-3, Seed: o.Seed, Patience: 3, Log: log, Bar: o.Bar})
	if err != nil {
		return err
	}
	modelPath := filepath.Join(o.Dir, "demo.safetensors")
	if err := m.Save(modelPath); err != nil {
		return err
	}
	res, err := m.Evaluate(testDS.X, 256)
	if err != nil {
		return err
	}
	gridPath := filepath.Join(o.Dir, "reconstructions.png")
	y, err := m.Reconstruct(nil, tensor.From(testDS.X.Data[:16*784], append([]int{16}, testDS.Shape...)...))
	if err != nil {
		return err
	}
	if err := report.PairGrid(gridPath, testDS.Shape, testDS.X.Data, y.Data, 16); err != nil {
		return err
	}
	lossPath := filepath.Join(o.Dir, "loss.png")
	if err := report.LossCurve(lossPath, rec.TrainLoss, rec.ValLoss, "demo: MNIST dense autoencoder (BCE)"); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "trained %d epochs in %.1fs (%.0f samples/s)\n", rec.Epochs, rec.Seconds, rec.SamplesPerSec)
	fmt.Fprintf(stdout, "test reconstruction error per pixel: BCE %.4f, MSE %.4f (%d digits)\n", *res.BCE, res.MSE, res.Rows)
	fmt.Fprintf(stdout, "wrote %s (top: test digits, bottom: reconstructions)\n", gridPath)
	fmt.Fprintf(stdout, "wrote %s\n", lossPath)
	fmt.Fprintf(stdout, "wrote %s (try: bottleneck inspect %s)\n", modelPath, modelPath)
	if err := demoDenoise(o.Dir, testDS, stdout); err != nil {
		return err
	}
	if err := demoDigitAnomaly(ctx, o, trainDS, testDS, stdout); err != nil {
		return err
	}
	if err := demoFraud(ctx, o, stdout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "done in %.1fs\n", time.Since(start).Seconds())
	return nil
}

// demoDenoise runs the shipped MNIST denoiser on noisy test digits.
func demoDenoise(dir string, ds *dataset.Dataset, stdout io.Writer) error {
	const name = "mnist-denoise"
	m, err := zoo.Open(name)
	if err != nil {
		fmt.Fprintf(stdout, "denoising: skipped (%v)\n", err)
		return nil
	}
	nm, _ := noise.Parse("gaussian:127.5,clip")
	r, err := imagetask.BenchSet(m, ds, &nm, 1)
	if err != nil {
		return err
	}
	const n = 12
	per := tensor.Size(ds.Shape)
	noisy := tensor.New(append([]int{n}, ds.Shape...)...)
	rng := rand.New(rand.NewPCG(1, 7))
	for i := range n {
		nm.Apply(noisy.Data[i*per:(i+1)*per], ds.X.Data[i*per:(i+1)*per], rng)
	}
	y, err := m.Reconstruct(nil, noisy)
	if err != nil {
		return err
	}
	rows := [][][]float32{{}, {}, {}}
	big := ds.Shape
	for i := range n {
		var a, b, c []float32
		a, big = report.Enlarge(ds.X.Data[i*per:(i+1)*per], ds.Shape, 3)
		b, _ = report.Enlarge(noisy.Data[i*per:(i+1)*per], ds.Shape, 3)
		c, _ = report.Enlarge(y.Data[i*per:(i+1)*per], ds.Shape, 3)
		rows[0], rows[1], rows[2] = append(rows[0], a), append(rows[1], b), append(rows[2], c)
	}
	path := filepath.Join(dir, "denoising.png")
	if err := report.ImageGrid(path, rows, big, n); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "denoising (shipped %s, Gaussian noise std 0.5, clipped): PSNR noisy %.2f dB → denoised %.2f dB (%d digits)\n", name, r.NoisyPSNR, r.PSNR, r.N)
	fmt.Fprintf(stdout, "wrote %s (rows: clean, noisy, denoised)\n", path)
	return nil
}

// demoRareDigit is the digit the demo's digit detector never sees in
// training and has to flag among the test digits. Leaving out each digit
// in turn with these settings gives test ROC-AUC from 0.38 (1: a stroke
// every digit contains) to 0.94 (0); docs/RESULTS.md lists all ten.
const demoRareDigit = "0"

func demoDigitAnomaly(ctx context.Context, o Options, trainDS, testDS *dataset.Dataset, stdout io.Writer) error {
	if trainDS.Labels == nil || testDS.Labels == nil {
		return fmt.Errorf("demo: the embedded digits have no labels")
	}
	var keep []int
	for i, l := range trainDS.Labels {
		if l != demoRareDigit {
			keep = append(keep, i)
		}
	}
	common := trainDS.Subset(keep)
	cfg, err := ae.DenseConfig(trainDS.Shape, true, ae.Dense{Hidden: []int{128}, Code: 16})
	if err != nil {
		return err
	}
	m, err := ae.New(cfg, o.Seed)
	if err != nil {
		return err
	}
	if _, err := train.Fit(ctx, m, train.NewRows(common, train.RowsOptions{Batch: 64, Seed: o.Seed}), nil, train.Options{Epochs: 8, LR: 2e-3, Seed: o.Seed}); err != nil {
		return err
	}
	det, err := anomaly.New(m) // no threshold: scored by mean squared error
	if err != nil {
		return err
	}
	res, err := det.ScoreWith(testDS.X, anomaly.ScoreOptions{Top: -1})
	if err != nil {
		return err
	}
	rare := 0
	isRare := make([]bool, len(res))
	for i, l := range testDS.Labels {
		isRare[i] = l == demoRareDigit
		if isRare[i] {
			rare++
		}
	}
	scores := anomaly.Scores(res)
	top := byScore(res)[:min(16, len(res))]
	var topLabels []string
	hits := 0
	for _, i := range top {
		topLabels = append(topLabels, testDS.Labels[i])
		if isRare[i] {
			hits++
		}
	}
	fmt.Fprintf(stdout, "\nanomaly detection 1: digits. Trained on the %d embedded training digits that are not %ss (784 → 128 → 16, 8 epochs),\n", common.Len(), demoRareDigit)
	fmt.Fprintf(stdout, "scored the %d test digits (%d are %ss) by reconstruction error: ROC-AUC %.3f, average precision %.3f\n",
		len(scores), rare, demoRareDigit, anomaly.ROCAUC(scores, isRare), anomaly.AveragePrecision(scores, isRare))
	fmt.Fprintf(stdout, "the 16 most anomalous test digits are: %s (%d of 16 are %ss)\n", strings.Join(topLabels, " "), hits, demoRareDigit)
	sub := testDS.Subset(top)
	rec, err := m.Reconstruct(nil, sub.X)
	if err != nil {
		return err
	}
	path := filepath.Join(o.Dir, "anomalous-digits.png")
	if err := report.PairGrid(path, sub.Shape, sub.X.Data, rec.Data, len(top)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (the 16 most anomalous test digits above their reconstructions)\n", path)
	return nil
}

// TrainFraud trains the demo's card-transaction detector on the rows of
// the synthetic transactions file name in fsys (synth.WriteCSV) labelled
// normal — known frauds, e.g. from charge-backs, are kept out — with
// train's default settings (epochs > 0 caps the epochs), measured at
// training on the frauds as bottleneck train does. It returns the
// detector and all rows of the file, labelled.
func TrainFraud(ctx context.Context, fsys fs.FS, name string, seed uint64, epochs int) (*anomaly.Detector, *dataset.Dataset, error) {
	normal, err := dataset.LoadFS(fsys, name, dataset.LoadOptions{Label: "class", Normal: synth.Normal})
	if err != nil {
		return nil, nil, err
	}
	all, err := dataset.LoadWithFS(fsys, name, normal.Pre, dataset.LoadOptions{Label: "class"})
	if err != nil {
		return nil, nil, err
	}
	det, err := anomaly.Train(ctx, normal, anomaly.TrainOptions{Seed: seed, Fit: train.Options{Patience: 5, Epochs: epochs},
		Anomalies: anomaly.LabelledAnomalies(all, synth.Normal)})
	return det, all, err
}

func demoFraud(ctx context.Context, o Options, stdout io.Writer) error {
	const rows, fraudFrac = 6000, 0.02
	data := filepath.Join(o.Dir, "transactions.csv")
	if err := atomicfile.WriteFile(data, func(w io.Writer) error {
		return synth.WriteCSV(w, rows, fraudFrac, o.Seed)
	}, 0o644); err != nil {
		return err
	}
	model := filepath.Join(o.Dir, FraudModel)
	det, ds, err := TrainFraud(ctx, os.DirFS(o.Dir), "transactions.csv", o.Seed, 0)
	if err != nil {
		return err
	}
	if err := det.Save(model); err != nil {
		return err
	}
	res, err := det.Score(ds.X)
	if err != nil {
		return err
	}
	y := make([]bool, len(res))
	frauds, flagged, caught := 0, 0, 0
	for i, l := range ds.Labels {
		y[i] = l != synth.Normal
		if y[i] {
			frauds++
		}
		if res[i].Anomaly {
			flagged++
			if y[i] {
				caught++
			}
		}
	}
	scores := anomaly.Scores(res)
	fmt.Fprintf(stdout, "\nanomaly detection 2: card transactions. %d synthetic transactions (internal/synth, seed %d) with %d frauds of four kinds,\n", len(y), o.Seed, frauds)
	fmt.Fprintf(stdout, "trained on the normal rows (bottleneck train --data %s --label class --normal normal -o %s): ROC-AUC %.3f, average precision %.3f\n",
		data, model, anomaly.ROCAUC(scores, y), anomaly.AveragePrecision(scores, y))
	fmt.Fprintf(stdout, "the threshold (%s) flags %d rows, %d of them frauds (recall %.2f)\n", det.Threshold().Describe(), flagged, caught, float64(caught)/float64(max(frauds, 1)))
	fmt.Fprintf(stdout, "the 5 most anomalous transactions and the features that made them so:\n")
	for _, i := range byScore(res)[:5] {
		var f []string
		for _, c := range res[i].Top {
			f = append(f, fmt.Sprintf("%s %.0f%%", c.Feature, 100*c.Share))
		}
		fmt.Fprintf(stdout, "  row %4d  score %7.1f  %-24s  %s\n", i, res[i].Score, ds.Labels[i], strings.Join(f, ", "))
	}
	fmt.Fprintf(stdout, "(all rows: bottleneck score -m %s --data %s --top 3)\n", model, data)
	return nil
}

// byScore returns the row indices by descending score.
func byScore(res []anomaly.Result) []int {
	idx := make([]int, len(res))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return res[idx[a]].Score > res[idx[b]].Score })
	return idx
}
