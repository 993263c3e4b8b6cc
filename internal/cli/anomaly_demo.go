package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/internal/atomicfile"
	"github.com/bottleneck-ml/bottleneck/internal/synth"
	"github.com/bottleneck-ml/bottleneck/train"
)

// demoRareDigit is the digit the demo's digit detector never sees in
// training and has to flag among the test digits. Leaving out each digit
// in turn with these settings gives test ROC-AUC from 0.38 (1: a stroke
// every digit contains) to 0.94 (0); docs/RESULTS.md lists all ten.
const demoRareDigit = "0"

// demoAnomaly is the anomaly-detection part of the demo: a detector of an
// unseen digit on the embedded MNIST subset, and a fraud detector on a
// synthetic card-transaction table (internal/synth), trained and scored
// through the same code as train / eval / score.
func demoAnomaly(ctx context.Context, o *demoOptions, trainDS, testDS *dataset.Dataset, stdout io.Writer) error {
	if err := demoDigitAnomaly(ctx, o, trainDS, testDS, stdout); err != nil {
		return err
	}
	return demoFraud(ctx, o, stdout)
}

func demoDigitAnomaly(ctx context.Context, o *demoOptions, trainDS, testDS *dataset.Dataset, stdout io.Writer) error {
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
	cfg := ae.Config{InputShape: trainDS.Shape, Hidden: []int{128}, Code: 16}
	cfg.Defaults(true)
	m, err := ae.New(cfg, o.seed)
	if err != nil {
		return err
	}
	m.Preprocess, _ = json.Marshal(trainDS.Pre)
	if _, err := train.Fit(ctx, m, common, nil, train.Options{Epochs: 8, Batch: 64, LR: 2e-3, Seed: o.seed}); err != nil {
		return err
	}
	sc := &anomaly.Scorer{Model: m, Metric: anomaly.DefaultImageMetric}
	scores := sc.Score(testDS.X)
	y := make([]bool, len(scores))
	rare := 0
	for i, l := range testDS.Labels {
		y[i] = l == demoRareDigit
		if y[i] {
			rare++
		}
	}
	order := byScore(scores)
	top := order[:min(16, len(order))]
	var topLabels []string
	hits := 0
	for _, i := range top {
		topLabels = append(topLabels, testDS.Labels[i])
		if y[i] {
			hits++
		}
	}
	fmt.Fprintf(stdout, "\nanomaly detection 1: digits. Trained on the %d embedded training digits that are not %ss (784 → 128 → 16, 8 epochs),\n", common.Len(), demoRareDigit)
	fmt.Fprintf(stdout, "scored the %d test digits (%d are %ss) by reconstruction error: ROC-AUC %.3f, average precision %.3f\n",
		len(scores), rare, demoRareDigit, anomaly.ROCAUC(scores, y), anomaly.AveragePrecision(scores, y))
	fmt.Fprintf(stdout, "the 16 most anomalous test digits are: %s (%d of 16 are %ss)\n", strings.Join(topLabels, " "), hits, demoRareDigit)
	path := filepath.Join(o.out, "anomalous-digits.png")
	if err := writeReconstructionGrid(path, m, testDS.Subset(top), len(top)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (the 16 most anomalous test digits above their reconstructions)\n", path)
	return nil
}

func demoFraud(ctx context.Context, o *demoOptions, stdout io.Writer) error {
	const rows, fraudFrac = 6000, 0.02
	data := filepath.Join(o.out, "transactions.csv")
	if err := atomicfile.WriteFile(data, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		if err := cw.Write(synth.TransactionColumns); err != nil {
			return err
		}
		if err := cw.WriteAll(synth.Transactions(rows, fraudFrac, o.seed)); err != nil {
			return err
		}
		cw.Flush()
		return cw.Error()
	}, 0o644); err != nil {
		return err
	}
	model := filepath.Join(o.out, "fraud.safetensors")
	// Trained on the rows labelled normal (known frauds, e.g. from
	// charge-backs, are kept out); default settings otherwise.
	args := []string{"-q", "train", "--data", data, "--label", "class", "--normal", synth.Normal, "-o", model, "--seed", fmt.Sprint(o.seed), "--checkpoint", "none", "--no-plot"}
	var out, errb bytes.Buffer
	if code := Run(ctx, args, &out, &errb); code != 0 {
		return fmt.Errorf("demo: bottleneck %s: %s", strings.Join(args, " "), strings.TrimSpace(errb.String()))
	}
	m, err := ae.Load(model)
	if err != nil {
		return err
	}
	pre, err := preprocessor(m)
	if err != nil {
		return err
	}
	ds, err := dataset.LoadWith(data, pre, dataset.LoadOptions{Label: "class"})
	if err != nil {
		return err
	}
	res, err := scoreRows(m, ds, 3, 256, "")
	if err != nil {
		return err
	}
	y := make([]bool, len(res.scores))
	frauds, flagged, caught := 0, 0, 0
	for i, l := range ds.Labels {
		y[i] = l != synth.Normal
		if y[i] {
			frauds++
		}
		if res.flags[i] {
			flagged++
			if y[i] {
				caught++
			}
		}
	}
	fmt.Fprintf(stdout, "\nanomaly detection 2: card transactions. %d synthetic transactions (internal/synth, seed %d) with %d frauds of four kinds,\n", len(y), o.seed, frauds)
	fmt.Fprintf(stdout, "trained on the normal rows (bottleneck train --data %s --label class --normal normal -o %s): ROC-AUC %.3f, average precision %.3f\n",
		data, model, anomaly.ROCAUC(res.scores, y), anomaly.AveragePrecision(res.scores, y))
	fmt.Fprintf(stdout, "the threshold (%s) flags %d rows, %d of them frauds (recall %.2f)\n", res.th.Describe(), flagged, caught, float64(caught)/float64(max(frauds, 1)))
	fmt.Fprintf(stdout, "the 5 most anomalous transactions and the features that made them so:\n")
	for _, i := range byScore(res.scores)[:5] {
		var f []string
		for _, c := range res.top[i] {
			f = append(f, fmt.Sprintf("%s %.0f%%", c.Feature, 100*c.Share))
		}
		fmt.Fprintf(stdout, "  row %4d  score %7.1f  %-24s  %s\n", i, res.scores[i], ds.Labels[i], strings.Join(f, ", "))
	}
	fmt.Fprintf(stdout, "(all rows: bottleneck score -m %s --data %s --top 3)\n", model, data)
	return nil
}

// byScore returns the row indices by descending score.
func byScore(scores []float64) []int {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
	return idx
}
