package anomaly

import (
	"math"
	"testing"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

func TestScorerMatchesReconstruction(t *testing.T) {
	cfg := ae.Config{InputShape: []int{5}, Hidden: []int{4}, Code: 2}
	cfg.Defaults(false)
	m, err := ae.New(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(7, 5)
	for i := range x.Data {
		x.Data[i] = float32(math.Sin(float64(i)))
	}
	want := make([]float64, 7)
	out := m.Reconstruct(x).Clone()
	for i := range want {
		var s float64
		for j := 0; j < 5; j++ {
			d := float64(out.Row(i)[j] - x.Row(i)[j])
			s += d * d
		}
		want[i] = s / 5
	}
	for _, batch := range []int{1, 3, 256} {
		sc := &Scorer{Model: m, Batch: batch}
		got, errs := sc.Errors(x)
		again := sc.Score(x)
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-6 || got[i] != again[i] {
				t.Errorf("batch %d row %d: score %v (again %v); want %v", batch, i, got[i], again[i], want[i])
			}
		}
		if errs.Rows() != 7 || errs.Cols() != 5 {
			t.Errorf("errors shape %v", errs.Shape)
		}
	}
}

func TestAttribute(t *testing.T) {
	pre := &dataset.Preprocessor{Kind: dataset.KindTable, Columns: []dataset.ColumnSpec{
		{Name: "amount", Role: dataset.RoleFeature, Type: dataset.TypeNumeric},
		{Name: "label", Role: dataset.RoleLabel},
		{Name: "country", Role: dataset.RoleFeature, Type: dataset.TypeCategorical, Categories: []string{"de", "fr", "us"}},
		{Name: "hour", Role: dataset.RoleFeature, Type: dataset.TypeNumeric},
	}}
	g := Groups(pre)
	if len(g) != 3 || g[1] != (Group{"country", 1, 4}) || g[2] != (Group{"hour", 4, 5}) {
		t.Fatalf("Groups = %+v", g)
	}
	errs := []float32{1, 2, 3, 1, 3} // amount 1, country 6, hour 3 → total 10
	top := Attribute(errs, g, 2)
	if len(top) != 2 || top[0].Feature != "country" || math.Abs(top[0].Share-0.6) > 1e-9 || top[1].Feature != "hour" {
		t.Errorf("Attribute = %+v; want country 0.6, hour 0.3", top)
	}
	all := Attribute(make([]float32, 5), g, 0)
	if len(all) != 3 || all[0].Share != 0 {
		t.Errorf("zero error attribution = %+v", all)
	}
}
