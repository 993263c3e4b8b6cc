package latent

import (
	"fmt"
	"math/rand/v2"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/probe"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Codes encodes the rows of x [N, ...input] with m, in batches, and
// returns one code per row as an N × K matrix: a VAE's mean code, a
// convolutional code [C, H, W] flattened. It is the input of a probe, a
// map or a fitted Gaussian.
func Codes(m *ae.Model, x *tensor.Tensor) (*tensor.Tensor, error) {
	z, err := ae.Batched(m.Encode, x, 256)
	if err != nil {
		return nil, err
	}
	return tensor.From(z.Data, z.Rows(), len(z.Data)/z.Rows()), nil
}

// The projections Project knows.
const (
	ProjectAuto = "auto" // the code itself when it has 1 or 2 units, else PCA
	ProjectPCA  = "pca"  // the first two principal components of the codes
	ProjectTSNE = "tsne" // exact t-SNE (TSNE)
)

// ProjectOptions configure Project. The zero value is ProjectAuto.
type ProjectOptions struct {
	Method     string  // ProjectAuto (or ""), ProjectPCA or ProjectTSNE
	Perplexity float64 // t-SNE's effective number of neighbours (0: 30)
	Seed       uint64  // t-SNE's start
}

// Projection is a set of codes laid out in 2-D, ready to draw.
type Projection struct {
	X, Y         []float64 // one point per code
	XName, YName string    // axis names: "z0", "PC1", "t-SNE 1", …
	// How says what the axes are, for a caption: "the 2-d code", "PCA of
	// the 32-d codes (17% of their variance)", …
	How string
}

// Project lays the rows of codes (N × K) out in 2-D, so that codes of any
// width can be looked at: a 2-d code as it is, a 1-d code on a line, a
// wider one by PCA (its two directions of largest variance, global
// distances kept) or by t-SNE (neighbourhoods kept, global distances not;
// at most MaxTSNEPoints rows).
func Project(codes *tensor.Tensor, o ProjectOptions) (*Projection, error) {
	method := o.Method
	switch method {
	case "":
		method = ProjectAuto
	case ProjectAuto, ProjectPCA, ProjectTSNE:
	default:
		return nil, fmt.Errorf("latent: projection %q: want %s, %s or %s", method, ProjectAuto, ProjectPCA, ProjectTSNE)
	}
	n := codes.Rows()
	if n == 0 {
		return nil, fmt.Errorf("latent: no codes to project; pass at least one row")
	}
	codes = tensor.From(codes.Data, n, len(codes.Data)/n)
	k := codes.Cols()
	p := &Projection{XName: "z0", YName: "z1", How: "the 2-d code"}
	xy := codes
	switch {
	case method == ProjectTSNE:
		perp := o.Perplexity
		if perp == 0 {
			perp = 30 // TSNE's default
		}
		y, err := TSNE(codes.Data, n, k, TSNEOptions{Perplexity: perp, Seed: o.Seed})
		if err != nil {
			return nil, err
		}
		p.X, p.Y = make([]float64, n), make([]float64, n)
		for i := range n { // kept in float64, as TSNE gives them
			p.X[i], p.Y[i] = y[2*i], y[2*i+1]
		}
		p.XName, p.YName = "t-SNE 1", "t-SNE 2"
		p.How = fmt.Sprintf("t-SNE of the %d-d codes (perplexity %g)", k, perp)
		return p, nil
	case k == 1:
		xy = tensor.New(n, 2)
		for i := range n {
			xy.Data[2*i] = codes.Data[i]
		}
		p.How = "the 1-d code"
	case k > 2 || method == ProjectPCA:
		pca, err := probe.FitPCA(codes, 2)
		if err != nil {
			return nil, err
		}
		if xy, err = pca.Transform(codes); err != nil {
			return nil, err
		}
		p.XName, p.YName = "PC1", "PC2"
		p.How = fmt.Sprintf("PCA of the %d-d codes (%.0f%% of their variance)", k, 100*pca.Explained())
	}
	p.X, p.Y = make([]float64, n), make([]float64, n)
	for i := range n {
		p.X[i], p.Y[i] = float64(xy.Data[2*i]), float64(xy.Data[2*i+1])
	}
	return p, nil
}

// MapOptions configure DrawMap. The zero value draws every row, projected
// by ProjectAuto.
type MapOptions struct {
	ProjectOptions
	// Max draws at most this many rows, picked at random with Seed (0: all
	// rows). t-SNE costs O(N²), so bound it there.
	Max int
	// Name names the model in the picture's title, e.g. its file name.
	Name string
}

// DrawMap encodes the rows of ds with m (Codes), lays the codes out in 2-D
// (Project) and writes them to path as a PNG scatter plot coloured by
// ds's labels (Map), titled with the model's name, what was drawn and
// how. It returns the projection, whose How says what the picture shows.
func DrawMap(path string, m *ae.Model, ds *dataset.Dataset, o MapOptions) (*Projection, error) {
	if n := ds.Len(); o.Max > 0 && n > o.Max {
		ds = ds.Subset(rand.New(rand.NewPCG(o.Seed, 0x6d6170)).Perm(n)[:o.Max])
	}
	codes, err := Codes(m, ds.X)
	if err != nil {
		return nil, err
	}
	p, err := Project(codes, o.ProjectOptions)
	if err != nil {
		return nil, err
	}
	what := "codes"
	if m.IsVAE() {
		what = "mean codes"
	}
	title := fmt.Sprintf("%s of %d rows, %s", what, len(p.X), p.How)
	if o.Name != "" {
		title = o.Name + ": " + title
	}
	if err := Map(path, p.X, p.Y, ds.Labels, title, p.XName, p.YName); err != nil {
		return nil, err
	}
	return p, nil
}

// Strip puts the inputs a and b at the ends of an interpolation path
// [steps, ...] between them (from Interpolate), for a picture that shows
// where the walk starts and ends: [steps+2, ...]. ok is false, and path
// comes back as it is, when the model's outputs differ in size from its
// inputs (a colorizer, an upscaler), so a and b cannot stand beside them.
func Strip(path *tensor.Tensor, a, b []float32) (strip *tensor.Tensor, ok bool) {
	steps, d := path.Rows(), len(a)
	if steps == 0 || len(b) != d || len(path.Data)/steps != d {
		return path, false
	}
	strip = tensor.New(append([]int{steps + 2}, path.Shape[1:]...)...)
	copy(strip.Data[:d], a)
	copy(strip.Data[d:], path.Data)
	copy(strip.Data[(steps+1)*d:], b)
	return strip, true
}
