package anomaly

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/imagetask"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Save then Open gives a detector that scores exactly as the trained one.
func TestSaveOpenRoundTrip(t *testing.T) {
	for _, metric := range []string{MetricMahal, MetricNMSE, MetricMSE} {
		t.Run(metric, func(t *testing.T) {
			o := smallOptions(2)
			o.Score = metric
			d, ds := trainTable(t, o)
			want, err := d.ScoreWith(ds.X, ScoreOptions{Errors: true})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "d.safetensors")
			if err := d.Save(path); err != nil {
				t.Fatal(err)
			}
			got, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			if got.Version() != d.Version() {
				t.Errorf("version %s after Save and Open; the trained detector's is %s", got.Version(), d.Version())
			}
			if !reflect.DeepEqual(got.Scoring(), d.Scoring()) || got.Window() != 1 || got.Scoring().Metric != metric {
				t.Errorf("scoring after Open = %+v; want %+v", got.Scoring(), d.Scoring())
			}
			if !reflect.DeepEqual(got.Preprocessor(), d.Preprocessor()) {
				t.Errorf("preprocessor after Open = %+v; want %+v", got.Preprocessor(), d.Preprocessor())
			}
			res, err := got.ScoreWith(ds.X, ScoreOptions{Errors: true})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res, want) {
				for i := range res {
					if !reflect.DeepEqual(res[i], want[i]) {
						t.Fatalf("row %d after Save and Open: %+v; want %+v", i, res[i], want[i])
					}
				}
			}
			// Saving the opened detector again writes the same model.
			path2 := filepath.Join(t.TempDir(), "again.safetensors")
			if err := got.Save(path2); err != nil {
				t.Fatal(err)
			}
			again, err := Open(path2)
			if err != nil {
				t.Fatal(err)
			}
			if again.Version() != got.Version() {
				t.Errorf("version %s after a second Save and Open; want %s", again.Version(), got.Version())
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(""); err == nil {
		t.Error(`Open("") succeeded`)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.safetensors")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("Open of a missing file: %v; want an error saying there is no such file", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.safetensors")
	if err := os.WriteFile(bad, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(bad); err == nil {
		t.Error("Open of a file that is not a model succeeded")
	}
}

// ScoreRecords reads columns by name: in any order, with or without the
// label column, it scores as Score does on the loaded rows.
func TestScoreRecords(t *testing.T) {
	d, _ := trainTable(t, smallOptions(1))
	text := tableCSV(40, 5, 9)
	ds, err := dataset.LoadWithFS(mapFS("s.csv", text), "s.csv", d.Preprocessor(), dataset.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := d.Score(ds.X)
	if err != nil {
		t.Fatal(err)
	}
	header, records := splitCSV(text) // amount,hour,country,label
	for name, perm := range map[string][]int{
		"as trained":      {0, 1, 2, 3},
		"reordered":       {2, 3, 0, 1},
		"no label":        {0, 1, 2},
		"reordered bare":  {1, 2, 0},
		"label in front":  {3, 2, 1, 0},
		"only one swap":   {1, 0, 2},
		"without a label": {2, 1, 0},
	} {
		h := pick(header, perm)
		recs := make([][]string, len(records))
		for i, r := range records {
			recs[i] = pick(r, perm)
		}
		got, err := d.ScoreRecords(h, recs)
		if err != nil {
			t.Fatalf("%s: ScoreRecords(%v): %v", name, h, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: ScoreRecords(%v) differs from Score on the loaded rows", name, h)
		}
	}
	// The anomalies at the end rank above every normal row.
	for i := 0; i < 35; i++ {
		for j := 35; j < 40; j++ {
			if want[i].Score >= want[j].Score {
				t.Fatalf("normal row %d scores %v ≥ anomalous row %d's %v", i, want[i].Score, j, want[j].Score)
			}
		}
	}
	if want[39].Top[0].Feature != "amount" || !want[39].Anomaly {
		t.Errorf("anomalous row: %+v; want flagged, amount first", want[39])
	}
	for _, c := range []struct {
		header []string
		rec    []string
		want   string
	}{
		{[]string{"amount", "hour", "country", "iban"}, []string{"1", "2", "de", "x"}, "iban"},
		{[]string{"amount", "hour", "country"}, []string{"1", "lots", "de"}, `"hour"`},
		{[]string{"amount", "hour", "country"}, []string{"1", "2"}, "fields"},
		{[]string{"amount", "country"}, []string{"1", "de"}, `"hour"`},
	} {
		if _, err := d.ScoreRecords(c.header, [][]string{c.rec}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ScoreRecords(%v, %v) error = %v; want one naming %s", c.header, c.rec, err, c.want)
		}
	}
}

func pick(s []string, idx []int) []string {
	out := make([]string, len(idx))
	for i, j := range idx {
		out[i] = s[j]
	}
	return out
}

// seriesCSV is a two-channel periodic series with a burst of noise at
// steps 60..63.
func seriesCSV(n int) string {
	var b strings.Builder
	b.WriteString("a,b,label\n")
	for i := range n {
		a, bb, l := math.Sin(float64(i)/3), math.Cos(float64(i)/3), 0
		if i >= 60 && i < 64 {
			a, bb, l = 4*float64(i%2*2-1), -3, 1
		}
		fmt.Fprintf(&b, "%.4f,%.4f,%d\n", a, bb, l)
	}
	return b.String()
}

// A time-series detector scores one result per time step, with the raw
// columns as features, and keeps its window through Save and Open.
func TestTimeSeriesDetector(t *testing.T) {
	ds := loadCSV(t, seriesCSV(120), dataset.LoadOptions{})
	o := smallOptions(1)
	o.Window, o.Stride, o.Score = 6, 2, MetricMSE
	o.Fit.Epochs = 10
	d, err := Train(context.Background(), ds, o)
	if err != nil {
		t.Fatal(err)
	}
	if d.Window() != 6 {
		t.Fatalf("Window() = %d; want 6", d.Window())
	}
	res, err := d.Score(ds.X)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != ds.Len() {
		t.Fatalf("%d results for %d time steps", len(res), ds.Len())
	}
	for i, r := range res {
		if math.IsNaN(r.Score) || math.IsInf(r.Score, 0) || len(r.Top) != 2 {
			t.Fatalf("step %d: %+v", i, r)
		}
		for _, c := range r.Top {
			if c.Feature != "a" && c.Feature != "b" {
				t.Fatalf("step %d: feature %q; want a raw column (a or b)", i, c.Feature)
			}
		}
	}
	var burst, calm float64
	for i, r := range res {
		if i >= 60 && i < 64 {
			burst = max(burst, r.Score)
		} else if i < 50 || i > 74 {
			calm = max(calm, r.Score)
		}
	}
	if burst <= calm {
		t.Errorf("the burst scores %v, no more than the calm steps' %v", burst, calm)
	}
	// Every stride covers every step.
	for _, stride := range []int{1, 5} {
		rs, err := d.ScoreWith(ds.X, ScoreOptions{Stride: stride})
		if err != nil || len(rs) != ds.Len() {
			t.Fatalf("stride %d: %d results, %v", stride, len(rs), err)
		}
	}
	path := filepath.Join(t.TempDir(), "series.safetensors")
	if err := d.Save(path); err != nil {
		t.Fatal(err)
	}
	o2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	again, err := o2.Score(ds.X)
	if err != nil || o2.Window() != 6 || !reflect.DeepEqual(again, res) {
		t.Errorf("after Save and Open: window %d, %v, same results %v", o2.Window(), err, reflect.DeepEqual(again, res))
	}
	m, _, _, err := Evaluate(d, ds, "")
	if err != nil {
		t.Fatal(err)
	}
	if m.Anomalies != 4 || m.ROCAUC < 0.9 {
		t.Errorf("Evaluate: %d anomalies, ROC-AUC %v; want 4, ≥ 0.9", m.Anomalies, m.ROCAUC)
	}
	if _, err := d.Score(tensor.New(3, 2)); err == nil {
		t.Error("a series shorter than one window scored")
	}
	if _, err := d.Score(tensor.New(20, 3)); err == nil {
		t.Error("a series of 3 columns scored by a 2-column detector")
	}
	if _, _, err := Windows(ds.X, 0, 1); err == nil {
		t.Error("Windows of size 0 succeeded")
	}
}

// One Detector may be used by many goroutines at once: 8 of them calling
// Score and ScoreRecords get what serial calls get (run with -race).
func TestConcurrentScoring(t *testing.T) {
	d, _ := trainTable(t, smallOptions(3))
	text := tableCSV(300, 10, 5) // over one 256-row batch
	header, records := splitCSV(text)
	ds, err := dataset.LoadWithFS(mapFS("c.csv", text), "c.csv", d.Preprocessor(), dataset.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := d.Score(ds.X)
	if err != nil {
		t.Fatal(err)
	}
	wantRec, err := d.ScoreRecords(header, records)
	if err != nil {
		t.Fatal(err)
	}
	wantSmall, err := d.ScoreWith(ds.X, ScoreOptions{Batch: 7, Top: 1})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8*3*4)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 4 {
				var got []Result
				var err error
				var exp []Result
				switch (g + i) % 3 {
				case 0:
					got, err = d.Score(ds.X)
					exp = want
				case 1:
					got, err = d.ScoreRecords(header, records)
					exp = wantRec
				default:
					got, err = d.WithThreshold(d.Threshold()).ScoreWith(ds.X, ScoreOptions{Batch: 7, Top: 1})
					exp = wantSmall
				}
				if err != nil {
					errs <- err.Error()
				} else if !reflect.DeepEqual(got, exp) {
					errs <- fmt.Sprintf("goroutine %d call %d: results differ from the serial call's", g, i)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// Save may run while the detector scores (a service saving the model it
// serves), and each file it writes scores as the detector does.
func TestConcurrentSave(t *testing.T) {
	d, ds := trainTable(t, smallOptions(1))
	want, err := d.Score(ds.X)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range 10 {
				if got, err := d.Score(ds.X); err != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("Score while saving: %v", err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := range 3 {
				if err := d.Save(filepath.Join(dir, fmt.Sprintf("%d-%d.safetensors", g, i))); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	o, err := Open(filepath.Join(dir, "2-2.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := o.Score(ds.X); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("a file saved while scoring scores differently (%v)", err)
	}
	if d.Model().Meta != nil {
		t.Errorf("Save changed the detector's model metadata: %v", keys(d.Model().Meta))
	}
}

// The first release's model files kept the threshold and the score
// statistics under "threshold" and did not store the window; they still
// open, score as that release did (internal/golden pins its output), and
// are rewritten with the current section by Save.
func TestLegacyV1Model(t *testing.T) {
	const dir = "../internal/golden/testdata/"
	t.Run("table", func(t *testing.T) {
		d, err := Open(dir + "v1/fraud.safetensors")
		if err != nil {
			t.Fatal(err)
		}
		th := d.Threshold()
		if d.Scoring().Metric != MetricMahal || d.Scoring().Mahal == nil || th == nil || th.Value != 10.160238247830186 ||
			th.Method != MethodMAD || th.Score != MetricMahal || th.Rows != 28 || d.Window() != 1 {
			t.Fatalf("v1 detector: scoring %s, threshold %+v, window %d", d.Scoring().Metric, th, d.Window())
		}
		header, records := readCSV(t, dir+"v1/transactions.csv")
		res, err := d.ScoreRecords(header, records)
		if err != nil {
			t.Fatal(err)
		}
		checkGolden(t, dir+"v1-fraud-scores.json", res)
		// Save writes the current section; the scores stay.
		path := filepath.Join(t.TempDir(), "fraud.safetensors")
		if err := d.Save(path); err != nil {
			t.Fatal(err)
		}
		m, err := ae.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if m.Meta[metaKey] == nil || m.Meta[metaKeyLegacy] != nil {
			t.Errorf("resaved v1 file has sections %v; want %q without %q", keys(m.Meta), metaKey, metaKeyLegacy)
		}
		o, err := New(m)
		if err != nil {
			t.Fatal(err)
		}
		again, err := o.ScoreRecords(header, records)
		if err != nil || !reflect.DeepEqual(again, res) {
			t.Errorf("resaved v1 detector: same scores %v, %v", reflect.DeepEqual(again, res), err)
		}
		if o.Version() != d.Version() {
			t.Errorf("resaved v1 detector: version %s; want %s", o.Version(), d.Version())
		}
		if *o.Threshold() != *th {
			t.Errorf("resaved threshold %+v; want %+v", o.Threshold(), th)
		}
	})
	t.Run("series", func(t *testing.T) {
		d, err := Open(dir + "v1/series.safetensors")
		if err != nil {
			t.Fatal(err)
		}
		if d.Window() != 6 || d.Scoring().Metric != MetricMSE {
			t.Fatalf("v1 series detector: window %d, score %s; want 6, mse", d.Window(), d.Scoring().Metric)
		}
		ds, err := dataset.LoadWith(dir+"v1/series.csv", d.Preprocessor(), dataset.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := d.ScoreWith(ds.X, ScoreOptions{Top: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != ds.Len() {
			t.Fatalf("%d results for %d steps", len(res), ds.Len())
		}
		checkGolden(t, dir+"v1-series-scores.json", res)
	})
}

func keys(m map[string]json.RawMessage) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	return k
}

func readCSV(t *testing.T, path string) ([]string, [][]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	all, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return all[0], all[1:]
}

// checkGolden compares scores, flags and top shares with a golden file of
// internal/golden (written from `bottleneck score`): scores to 1e-4
// relative (the pure-Go and assembly kernels round differently, and mahal
// amplifies it), shares to the 4 decimals score prints.
func checkGolden(t *testing.T, path string, res []Result) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string][]float64
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	got := map[string][]float64{}
	for _, r := range res {
		got["score"] = append(got["score"], r.Score)
		got["anomaly"] = append(got["anomaly"], b2f(r.Anomaly))
		for k, c := range r.Top {
			name := fmt.Sprintf("top%d_share", k+1)
			got[name] = append(got[name], c.Share)
		}
	}
	for name, w := range want {
		if strings.HasSuffix(name, "_name") {
			continue // a hash of the names, as internal/golden makes it
		}
		g := got[name]
		if len(g) != len(w) {
			t.Errorf("%s: %d values; want %d", name, len(g), len(w))
			continue
		}
		tol := 1e-4
		if strings.HasSuffix(name, "_share") {
			tol = 5e-5
		}
		for i := range w {
			if d := math.Abs(g[i]-w[i]) / max(1, math.Abs(w[i])); !(d <= tol) {
				t.Errorf("%s[%d] = %v; want %v", name, i, g[i], w[i])
				break
			}
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Evaluate measures a table detector against labels: separated anomalies
// give ROC-AUC and average precision 1, and the metrics at its threshold.
func TestEvaluate(t *testing.T) {
	d, _ := trainTable(t, smallOptions(1))
	ds, err := dataset.LoadWithFS(mapFS("e.csv", tableCSV(100, 10, 3)), "e.csv", d.Preprocessor(), dataset.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, res, y, err := Evaluate(d, ds, "ok")
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 100 || len(y) != 100 || !y[99] || y[0] {
		t.Fatalf("Evaluate returned %d results, %d labels", len(res), len(y))
	}
	if m.ROCAUC != 1 || m.PRAUC != 1 || m.Anomalies != 10 || m.Score != MetricMahal || m.Threshold == nil || *m.Recall != 1 || m.Normal != "ok" {
		t.Errorf("Evaluate = %+v", m)
	}
	if m.MSEAnomalous <= m.MSENormal {
		t.Errorf("anomalous rows' MSE %v ≤ normal rows' %v", m.MSEAnomalous, m.MSENormal)
	}
	if _, _, _, err := Evaluate(d, ds, "nope"); err == nil {
		t.Error("Evaluate with a normal label no row has succeeded")
	}
	unlabelled := *ds
	unlabelled.Labels = nil
	if _, _, _, err := Evaluate(d, &unlabelled, ""); err == nil {
		t.Error("Evaluate without labels succeeded")
	}
	if m, _, _, err := Evaluate(d.WithThreshold(nil), ds, "ok"); err != nil || m.Threshold != nil || m.F1 != nil || m.ROCAUC != 1 {
		t.Errorf("Evaluate without a threshold = %+v, %v; want ranking metrics only", m, err)
	}
}

// Open takes a shipped model's name; an image autoencoder scores pictures
// of any size by mean squared error, with a per-pixel heat-map.
func TestImageDetector(t *testing.T) {
	d, err := Open("mnist-denoise")
	if err != nil {
		t.Fatal(err)
	}
	if d.Scoring().Metric != MetricMSE || d.Threshold() != nil || d.Preprocessor() != nil {
		t.Fatalf("shipped image model: scoring %+v, threshold %v", d.Scoring(), d.Threshold())
	}
	img := imageio.New(1, 20, 24)
	for i := range img.Pix {
		img.Pix[i] = float32(i%24) / 24
	}
	r, err := d.ScoreImage(img, imagetask.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var heat float64
	for _, v := range r.Heat {
		heat += float64(v)
	}
	if len(r.Heat) != 20*24 || math.Abs(heat/480-r.Score) > 1e-6 || r.Score != r.MSE || r.Anomaly ||
		r.Reconstruction.C != 1 || r.Reconstruction.H != 20 || r.Reconstruction.W != 24 {
		t.Fatalf("ScoreImage: score %v, mean heat %v, %d heat values, anomaly %v", r.Score, heat/480, len(r.Heat), r.Anomaly)
	}
	res, err := d.Score(tensor.From(slicesClone(img.Pix), 1, 1, 20, 24))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || math.Abs(res[0].Score-r.Score) > 1e-5*max(1, r.Score) || !strings.HasPrefix(res[0].Top[0].Feature, "pixel") {
		t.Errorf("Score of the picture as a tensor = %+v; ScoreImage says %v", res, r.Score)
	}
	low := d.WithThreshold(&Threshold{Method: MethodValue, Value: r.Score / 2})
	if r2, err := low.ScoreImage(img, imagetask.Options{}); err != nil || !r2.Anomaly {
		t.Errorf("ScoreImage over a threshold of half its score: anomaly %v, %v", r2 != nil && r2.Anomaly, err)
	}
	if _, err := d.Score(tensor.New(2, 480)); err == nil {
		t.Error("an image model scored rows")
	}
	path := filepath.Join(t.TempDir(), "img.safetensors")
	if err := low.Save(path); err != nil {
		t.Fatal(err)
	}
	o, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if th := o.Threshold(); th == nil || th.Value != r.Score/2 || o.Version() != low.Version() {
		t.Errorf("saved image detector: threshold %+v, version %s; want %v, %s", th, o.Version(), r.Score/2, low.Version())
	}
}

func slicesClone(s []float32) []float32 { return append([]float32(nil), s...) }

// Train fits an f1 threshold on the validation rows plus the labelled
// anomalies it is given, and refuses what it cannot train.
func TestTrainOptions(t *testing.T) {
	text := tableCSV(220, 20, 4) // the last 20 rows are "fraud"
	ds := loadCSV(t, text, dataset.LoadOptions{Normal: "ok"})
	if ds.Len() != 200 {
		t.Fatalf("%d normal rows; want 200", ds.Len())
	}
	header, records := splitCSV(text)
	fraud := header[:3:3]
	var rows []string
	for _, r := range records[200:] {
		rows = append(rows, strings.Join(r[:3], ","))
	}
	an, err := dataset.LoadWithFS(mapFS("a.csv", strings.Join(fraud, ",")+"\n"+strings.Join(rows, "\n")+"\n"), "a.csv", ds.Pre, dataset.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	o := smallOptions(1)
	o.Threshold, o.Anomalies = "f1", an
	var log strings.Builder
	o.Log = &log
	d, err := Train(context.Background(), ds, o)
	if err != nil {
		t.Fatal(err)
	}
	th := d.Threshold()
	if th.Method != MethodF1 || th.F1 != 1 || !strings.Contains(th.FittedOn, "20 anomalous rows") {
		t.Errorf("f1 threshold = %+v; want F1 1 on the validation rows and the 20 anomalies", th)
	}
	if !strings.Contains(log.String(), "threshold: ") {
		t.Errorf("training log lacks the threshold:\n%s", log.String())
	}
	res, err := d.Score(an.X)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if !r.Anomaly {
			t.Errorf("anomaly %d (score %v) under the f1 threshold %v", i, r.Score, th.Value)
		}
	}
	for name, bad := range map[string]func(*TrainOptions){
		"f1 without --normal": func(o *TrainOptions) { o.Threshold = "f1" },
		"bad threshold":       func(o *TrainOptions) { o.Threshold = "mad:x" },
		"unknown score":       func(o *TrainOptions) { o.Score = "cosine" },
		"all rows validation": func(o *TrainOptions) { o.Val = 1 },
		"trim all":            func(o *TrainOptions) { o.ScoreTrim = 0.95 },
		"window too long":     func(o *TrainOptions) { o.Window = 1000 },
	} {
		o := smallOptions(1)
		bad(&o)
		all := loadCSV(t, tableCSV(50, 0, 1), dataset.LoadOptions{}) // no normal label chosen
		if _, err := Train(context.Background(), all, o); err == nil {
			t.Errorf("%s: Train succeeded", name)
		}
	}
	if _, err := Train(context.Background(), nil, smallOptions(1)); err == nil {
		t.Error("Train without data succeeded")
	}
}
