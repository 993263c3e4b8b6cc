package anomaly

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/imagetask"
)

func TestScoreThreshold(t *testing.T) {
	d, _ := trainTable(t, smallOptions(1))
	bare := d.WithThreshold(nil)
	for _, c := range []struct {
		d         *Detector
		spec, def string
		th        string // Method of the threshold known before scoring ("": none)
		fit       string // Method to fit on the scores ("": none)
		err       error  // wrapped by the error (nil: no error)
	}{
		{d, "", "", d.Threshold().Method, "", nil},
		{d, "value:2.5", "", MethodValue, "", nil},
		{d, "contamination:0.1", "", "", MethodContamination, nil},
		{d, "mad:3", "", "", "", ErrSpec},
		{d, "f1", "", "", "", ErrSpec},
		{d, "bogus:1", "", "", "", ErrSpec},
		{d, "", DefaultSpec, d.Threshold().Method, "", nil},
		{bare, "", "", "", "", ErrNoThreshold},
		{bare, "", DefaultSpec, "", MethodFAR, nil},
		{bare, "sigma:2", DefaultSpec, "", MethodSigma, nil},
		{bare, "f1", DefaultSpec, "", "", ErrSpec},
	} {
		th, fit, err := c.d.ScoreThreshold(c.spec, c.def)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("ScoreThreshold(%q, %q) error = %v; want one wrapping %v", c.spec, c.def, err, c.err)
			}
			continue
		}
		got := ""
		if th != nil {
			got = th.Method
			if th.Score != d.Scoring().Metric {
				t.Errorf("ScoreThreshold(%q, %q): threshold in %q scores; want %q", c.spec, c.def, th.Score, d.Scoring().Metric)
			}
		}
		if err != nil || got != c.th || (th == nil && fit.Method != c.fit) {
			t.Errorf("ScoreThreshold(%q, %q) = %q, fit %q, %v; want %q, fit %q", c.spec, c.def, got, fit.Method, err, c.th, c.fit)
		}
	}
	var se *SpecError
	if _, _, err := d.ScoreThreshold("mad:3", ""); !errors.As(err, &se) || se.Spec != "mad:3" || err.Error() != "anomaly: threshold "+se.Msg {
		t.Errorf("ScoreThreshold(mad:3) error = %v; want a *SpecError naming the spec", err)
	}
}

func TestDecide(t *testing.T) {
	d, ds := trainTable(t, smallOptions(1))
	res, err := d.Score(ds.X)
	if err != nil {
		t.Fatal(err)
	}
	th, err := d.Decide(res, "contamination:0.1", "", "scored rows")
	if err != nil {
		t.Fatal(err)
	}
	flagged := 0
	for _, r := range res {
		if r.Anomaly != (r.Score > th.Value) {
			t.Fatalf("Decide: score %v flagged %v at threshold %v", r.Score, r.Anomaly, th.Value)
		}
		if r.Anomaly {
			flagged++
		}
	}
	if th.Method != MethodContamination || th.Rows != len(res) || th.FittedOn != "scored rows" || th.Score != d.Scoring().Metric ||
		math.Abs(float64(flagged)/float64(len(res))-0.1) > 0.02 {
		t.Errorf("Decide(contamination:0.1) = %+v, %d of %d rows flagged", th, flagged, len(res))
	}
	// d's own threshold flags as Score did
	want := slices.Clone(res)
	if _, err := d.Decide(res, "", "", "scored rows"); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if want[i].Anomaly = want[i].Score > d.Threshold().Value; res[i].Anomaly != want[i].Anomaly {
			t.Fatalf("Decide with d's threshold: row %d flagged %v; want %v", i, res[i].Anomaly, want[i].Anomaly)
		}
	}
	if _, err := d.Decide(res, "pot:0.01", "", "scored rows"); !errors.Is(err, ErrSpec) {
		t.Errorf("Decide(pot:0.01) without a default: %v; want ErrSpec", err)
	}
}

// tableFile writes the table of trainTable with anomalies to a file.
func tableFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "t.csv")
	if err := os.WriteFile(path, []byte(tableCSV(300, 20, 2)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestScoreFile(t *testing.T) {
	d, _ := trainTable(t, smallOptions(1))
	path := tableFile(t)
	whole, err := dataset.LoadWith(path, d.Preprocessor(), dataset.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	opens := 0
	open := func() (*dataset.Stream, error) {
		opens++
		return dataset.OpenStream(path, d.Preprocessor(), dataset.LoadOptions{}, 32)
	}
	for _, spec := range []string{"", "value:4", "contamination:0.05"} {
		want, err := d.Score(whole.X)
		if err != nil {
			t.Fatal(err)
		}
		wantTh, err := d.Decide(want, spec, "", "scored rows")
		if err != nil {
			t.Fatal(err)
		}
		opens = 0
		var got []Result
		var labels []string
		sum, err := d.ScoreFile(context.Background(), open, FileOptions{ScoreOptions: ScoreOptions{Batch: 32}, Threshold: spec}, func(res []Result, l, _ []string) error {
			got = append(got, res...)
			labels = append(labels, l...)
			return nil
		})
		if err != nil {
			t.Fatalf("ScoreFile(%q): %v", spec, err)
		}
		passes := 1
		if spec == "contamination:0.05" {
			passes = 2
		}
		anomalies := 0
		for i := range want {
			if math.Abs(got[i].Score-want[i].Score) > 1e-9*max(1, want[i].Score) || got[i].Anomaly != want[i].Anomaly {
				t.Fatalf("ScoreFile(%q): row %d = %v, %v; Score of the whole file says %v, %v", spec, i, got[i].Score, got[i].Anomaly, want[i].Score, want[i].Anomaly)
			}
			if want[i].Anomaly {
				anomalies++
			}
		}
		if len(got) != len(want) || !slices.Equal(labels, whole.Labels) || opens != passes || sum.Rows != len(want) || sum.Anomalies != anomalies ||
			sum.Threshold.Value != wantTh.Value || sum.Threshold.Method != wantTh.Method {
			t.Errorf("ScoreFile(%q): %d results in %d passes, summary %+v (threshold %+v); want %d in %d, %d anomalous at %+v",
				spec, len(got), opens, sum, sum.Threshold, len(want), passes, anomalies, wantTh)
		}
	}
	stop := errors.New("stop")
	if _, err := d.ScoreFile(context.Background(), open, FileOptions{}, func([]Result, []string, []string) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("ScoreFile whose emit fails: %v; want its error", err)
	}
	if _, err := d.FileThreshold(context.Background(), open, "mad:3", ScoreOptions{}); !errors.Is(err, ErrSpec) {
		t.Errorf("FileThreshold(mad:3): %v; want ErrSpec", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.FileThreshold(ctx, open, "contamination:0.1", ScoreOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("FileThreshold with a cancelled context: %v", err)
	}
}

func TestScoreImages(t *testing.T) {
	d, err := Open("mnist-denoise")
	if err != nil {
		t.Fatal(err)
	}
	var images []*imageio.Image
	for k := range 12 {
		img := imageio.New(1, 16, 16)
		for i := range img.Pix {
			img.Pix[i] = float32((i*(k+1))%16) / 16
		}
		images = append(images, img)
	}
	res, th, err := d.ScoreImages(images, "")
	if err != nil {
		t.Fatal(err)
	}
	if th.Method != MethodFAR || th.Rows != len(images) || th.FittedOn != "scored images" || len(res) != len(images) {
		t.Fatalf("ScoreImages = %d results at %+v; want %d at %s fitted on them", len(res), th, len(images), DefaultSpec)
	}
	for i, img := range images {
		r, err := d.ScoreImage(img, imagetask.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if res[i].Score != r.Score || res[i].Anomaly != (r.Score > th.Value) {
			t.Errorf("ScoreImages: picture %d scored %v (anomaly %v); ScoreImage says %v at threshold %v", i, res[i].Score, res[i].Anomaly, r.Score, th.Value)
		}
	}
	if _, _, err := d.ScoreImages(images, "f1"); !errors.Is(err, ErrSpec) {
		t.Errorf("ScoreImages(f1): %v; want ErrSpec", err)
	}
}
