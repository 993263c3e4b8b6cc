package anomaly

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/bottleneck-ml/bottleneck/dataset"
)

// EvaluateWith measures what Evaluate measures, beside the reconstruction
// error, and leaves Metrics out where labels cannot say what is normal.
func TestEvaluateWith(t *testing.T) {
	d, _ := trainTable(t, smallOptions(1))
	ds, err := dataset.LoadWithFS(mapFS("e.csv", tableCSV(100, 10, 3)), "e.csv", d.Preprocessor(), dataset.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantEval, err := d.Model().Evaluate(ds.X, 7)
	if err != nil {
		t.Fatal(err)
	}
	m, res, y, err := Evaluate(d, ds, "ok")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := EvaluateWith(d, ds, EvaluateOptions{Normal: "ok", Batch: 7})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Eval != wantEval {
		t.Errorf("EvaluateWith: Eval %+v; want the model's %+v", ev.Eval, wantEval)
	}
	if !reflect.DeepEqual(ev.Metrics, m) || !reflect.DeepEqual(ev.Anomalous, y) || !reflect.DeepEqual(ev.Results, res) {
		t.Errorf("EvaluateWith: metrics %+v; want Evaluate's %+v", ev.Metrics, m)
	}
	// The JSON is one flat object, without the results.
	b, _ := json.Marshal(ev)
	var keys map[string]any
	if err := json.Unmarshal(b, &keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"mse", "rows", "features", "roc_auc", "f1", "normal"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("EvaluateWith JSON lacks %q: %s", k, b)
		}
	}
	if strings.Contains(string(b), "Results") || strings.Contains(string(b), "Anomalous") {
		t.Errorf("EvaluateWith JSON holds the results: %s", b)
	}

	// The normal label guessed: "ok" and "fraud" are not 0/1, so no metrics.
	ev, err = EvaluateWith(d, ds, EvaluateOptions{})
	if err != nil || ev.Metrics != nil || ev.Results != nil || ev.Eval.Rows != 100 {
		t.Errorf("EvaluateWith without a normal label = %+v, %v; want the reconstruction error alone", ev, err)
	}
	unlabelled := *ds
	unlabelled.Labels = nil
	ev, err = EvaluateWith(d, &unlabelled, EvaluateOptions{Normal: "ok"})
	if err != nil || ev.Metrics != nil {
		t.Fatalf("EvaluateWith without labels = %+v, %v; want the reconstruction error alone", ev, err)
	}
	if b, _ := json.Marshal(ev); !strings.HasPrefix(string(b), `{"mse":`) || strings.Contains(string(b), "roc_auc") {
		t.Errorf("unlabelled JSON %s; want the reconstruction error alone", b)
	}
	if _, err := EvaluateWith(d, ds, EvaluateOptions{Normal: "nope"}); err == nil || !strings.Contains(err.Error(), "e.csv") {
		t.Errorf("EvaluateWith with a normal label no row has: %v; want an error naming e.csv", err)
	}
}

// A time-series detector is measured per time step.
func TestEvaluateWithSeries(t *testing.T) {
	ds := loadCSV(t, seriesCSV(120), dataset.LoadOptions{})
	o := smallOptions(1)
	o.Window, o.Stride, o.Score = 6, 2, MetricMSE
	d, err := Train(context.Background(), ds, o)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := EvaluateWith(d, ds, EvaluateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Rows != 120 || ev.Features != 2 || len(ev.Results) != 120 || ev.Metrics == nil || ev.Metrics.Anomalies != 4 {
		t.Errorf("EvaluateWith of a series: %d rows × %d, %d results, metrics %+v; want 120 × 2, 120, 4 anomalies", ev.Rows, ev.Features, len(ev.Results), ev.Metrics)
	}
	var mse float64
	for _, r := range ev.Results {
		mse += r.MSE / 120
	}
	if ev.MSE != mse || ev.BCE != nil {
		t.Errorf("MSE %v, BCE %v; want the mean of the steps' %v and no BCE", ev.MSE, ev.BCE, mse)
	}
}

func TestLabelledAnomalies(t *testing.T) {
	ds := loadCSV(t, tableCSV(50, 5, 1), dataset.LoadOptions{})
	a := LabelledAnomalies(ds, "ok")
	if a == nil || a.Len() != 5 || a.Labels[0] != "fraud" || a.Dim() != ds.Dim() {
		t.Fatalf("LabelledAnomalies = %+v; want the 5 fraud rows", a)
	}
	if !reflect.DeepEqual(a.X.Row(0), ds.X.Row(45)) {
		t.Errorf("first anomaly %v; want row 45 %v", a.X.Row(0), ds.X.Row(45))
	}
	if a := LabelledAnomalies(ds, "fraud"); a == nil || a.Len() != 45 {
		t.Errorf("LabelledAnomalies(normal fraud) has %v rows; want 45", a)
	}
	if a := LabelledAnomalies(loadCSV(t, tableCSV(20, 0, 1), dataset.LoadOptions{}), "ok"); a != nil {
		t.Errorf("LabelledAnomalies of normal rows only = %d rows; want nil", a.Len())
	}
}
