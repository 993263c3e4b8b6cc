package anomaly

import (
	"reflect"
	"strings"
	"testing"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
)

// TestCalibrateIsTrainsFit calibrates the weights Train made on the same
// rows with the same seed: the score statistics and the threshold are
// Train's, since Train fits them the same way.
func TestCalibrateIsTrainsFit(t *testing.T) {
	for _, score := range []string{MetricMahal, MetricNMSE} {
		o := smallOptions(1)
		o.Score = score
		d, ds := trainTable(t, o)
		m := d.Model().Clone()
		m.Meta, m.Preprocess = nil, nil
		c, err := Calibrate(m, ds, CalibrateOptions{Score: score, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c.Scoring(), d.Scoring()) || c.Threshold().Value != d.Threshold().Value || c.Version() != d.Version() {
			t.Errorf("%s: Calibrate gave %v, threshold %v, version %s; Train %v, %v, %s", score, c.Scoring().Metric, c.Threshold().Value, c.Version(),
				d.Scoring().Metric, d.Threshold().Value, d.Version())
		}
		if c.Preprocessor() != ds.Pre {
			t.Error("the calibrated detector does not have the data's preprocessing")
		}
	}
}

func TestCalibrateErrors(t *testing.T) {
	_, ds := trainTable(t, smallOptions(1))
	wide, err := ae.DenseConfig([]int{9}, false, ae.Dense{Code: 2})
	if err != nil {
		t.Fatal(err)
	}
	conv := ae.Config{Channels: 1, Encoder: []string{"conv:2:3"}, Decoder: []string{"conv:1:3"}, Loss: ae.LossMSE}
	for _, tc := range []struct {
		cfg  ae.Config
		ds   *dataset.Dataset
		o    CalibrateOptions
		want string
	}{
		{wide, ds, CalibrateOptions{}, "the model takes 9"},
		{conv, ds, CalibrateOptions{}, "any image size"},
		{wide, &dataset.Dataset{}, CalibrateOptions{}, "no rows"},
	} {
		m, err := ae.New(tc.cfg, 1)
		if err != nil {
			t.Fatal(err)
		}
		if tc.ds.X == nil {
			tc.ds = nil
		}
		if _, err := Calibrate(m, tc.ds, tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Calibrate = %v; want an error containing %q", err, tc.want)
		}
	}
}
