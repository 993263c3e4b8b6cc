package latent

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// tiny is an untrained dense autoencoder of 8 inputs and a 3-unit code.
func tiny(t *testing.T) *ae.Model {
	t.Helper()
	cfg, err := ae.DenseConfig([]int{8}, true, ae.Dense{Hidden: []int{6}, Code: 3})
	if err != nil {
		t.Fatal(err)
	}
	m, err := ae.New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func ramp(n, d int) *tensor.Tensor {
	x := tensor.New(n, d)
	for i := range x.Data {
		x.Data[i] = float32(i%17) / 17
	}
	return x
}

func TestCodes(t *testing.T) {
	m := tiny(t)
	x := ramp(300, 8) // more than one batch of 256
	z, err := Codes(m, x)
	if err != nil {
		t.Fatal(err)
	}
	if z.Rows() != 300 || z.Cols() != 3 {
		t.Fatalf("Codes: shape %v; want [300 3]", z.Shape)
	}
	one, err := m.Encode(nil, tensor.From(x.Row(299), 1, 8))
	if err != nil {
		t.Fatal(err)
	}
	for j, v := range one.Data {
		if z.Row(299)[j] != v {
			t.Fatalf("Codes row 299 = %v; want Encode's %v", z.Row(299), one.Data)
		}
	}
}

func TestProject(t *testing.T) {
	two := tensor.From([]float32{0, 1, 2, 3, 4, 5}, 3, 2)
	p, err := Project(two, ProjectOptions{})
	if err != nil || p.How != "the 2-d code" || p.XName != "z0" || p.X[2] != 4 || p.Y[2] != 5 {
		t.Errorf("Project of a 2-d code = %+v, %v; want the code itself", p, err)
	}
	one := tensor.From([]float32{3, 1, 2}, 3, 1)
	if p, err := Project(one, ProjectOptions{Method: ProjectAuto}); err != nil || p.How != "the 1-d code" || p.X[0] != 3 || p.Y[0] != 0 {
		t.Errorf("Project of a 1-d code = %+v, %v; want it on the x axis", p, err)
	}
	// Three-d codes on a plane: PCA keeps all their variance.
	plane := tensor.New(50, 3)
	for i := range 50 {
		a, b := float32(i%7), float32(i%5)
		copy(plane.Row(i), []float32{a, b, a + b})
	}
	p, err = Project(plane, ProjectOptions{})
	if err != nil || p.XName != "PC1" || p.How != "PCA of the 3-d codes (100% of their variance)" || len(p.X) != 50 {
		t.Errorf("Project of 3-d codes = %q, %v; want PCA keeping 100%%", p.How, err)
	}
	if p, err := Project(two, ProjectOptions{Method: ProjectPCA}); err != nil || p.XName != "PC1" {
		t.Errorf("Project with pca of a 2-d code = %+v, %v; want principal components", p, err)
	}
	p, err = Project(plane, ProjectOptions{Method: ProjectTSNE, Seed: 1, Perplexity: 5})
	if err != nil || p.How != "t-SNE of the 3-d codes (perplexity 5)" || p.XName != "t-SNE 1" || len(p.Y) != 50 {
		t.Errorf("Project by t-SNE = %+v, %v", p, err)
	}
	if _, err := Project(two, ProjectOptions{Method: "umap"}); err == nil || !strings.Contains(err.Error(), `"umap"`) {
		t.Errorf("Project with method umap: %v; want an error naming it", err)
	}
	if _, err := Project(tensor.New(0, 2), ProjectOptions{}); err == nil {
		t.Error("Project of no codes: no error")
	}
}

func TestDrawMap(t *testing.T) {
	m := tiny(t)
	labels := make([]string, 40)
	for i := range labels {
		labels[i] = []string{"a", "b"}[i%2]
	}
	ds := &dataset.Dataset{X: ramp(40, 8), Shape: []int{8}, Labels: labels}
	path := filepath.Join(t.TempDir(), "map.png")
	p, err := DrawMap(path, m, ds, MapOptions{Max: 30, Name: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.X) != 30 || !strings.HasPrefix(p.How, "PCA of the 3-d codes") {
		t.Errorf("DrawMap drew %d points, %q; want 30, PCA", len(p.X), p.How)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("DrawMap wrote no PNG: %v", err)
	}
	if p, err := DrawMap(path, m, ds, MapOptions{}); err != nil || len(p.X) != 40 {
		t.Errorf("DrawMap of every row: %v; want 40 points", err)
	}
}

func TestStrip(t *testing.T) {
	path := tensor.From([]float32{1, 1, 2, 2, 3, 3}, 3, 1, 1, 2)
	s, ok := Strip(path, []float32{0, 0}, []float32{9, 9})
	if !ok || s.Rows() != 5 || len(s.Shape) != 4 || s.Data[0] != 0 || s.Data[2] != 1 || s.Data[9] != 9 {
		t.Errorf("Strip = %v (shape %v), %v; want a, the path, b", s.Data, s.Shape, ok)
	}
	if s, ok := Strip(path, []float32{0}, []float32{9}); ok || s != path {
		t.Error("Strip with ends of another size than the path's samples: ok")
	}
}
