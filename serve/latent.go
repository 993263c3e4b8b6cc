package serve

import (
	"bytes"
	"fmt"
	"image/png"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/internal/demodata"
	"github.com/bottleneck-ml/bottleneck/internal/report"
	"github.com/bottleneck-ml/bottleneck/latent"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// DefaultLatent are the shipped models GET /v1/latent/* shows: the MNIST
// VAE and the MNIST convolutional autoencoder.
func DefaultLatent() []string { return []string{"mnist-vae", "mnist-conv"} }

// The latent endpoints work on the 1,000 MNIST test digits embedded in the
// binary, so a latent model must read 28×28 grey pictures in [0, 1].
const digitSide = 28

// Limits of the latent endpoints' parameters.
const (
	maxLatentSamples = 256
	maxLatentSteps   = 64
)

// latentModel is one model of the latent endpoints with what its map
// needs, computed once.
type latentModel struct {
	*pool
	maps [2]struct { // t-SNE, PCA
		once sync.Once
		json []byte
		err  error
	}
}

// digits are the embedded test digits, read once.
var digits = sync.OnceValues(func() (*dataset.Dataset, error) {
	ds, err := dataset.LoadFS(demodata.FS, demodata.TestImages, dataset.LoadOptions{Format: dataset.FormatIDX})
	if err != nil {
		return nil, fmt.Errorf("serve: the embedded test digits: %w", err)
	}
	return ds, nil
})

// latentModels opens the latent endpoints' models and checks each reads
// the embedded digits and has a code.
func latentModels(names []string) (map[string]*latentModel, error) {
	out := map[string]*latentModel{}
	for _, name := range names {
		if out[name] != nil {
			continue
		}
		m, err := openModel(name)
		if err != nil {
			return nil, fmt.Errorf("serve: latent model: %w", err)
		}
		if m.CodeSize() == 0 {
			return nil, fmt.Errorf("serve: latent model %s is fully convolutional: it has no code of fixed size to sample or map", name)
		}
		if in := m.Config.Input; tensor.Size(in) != digitSide*digitSide || m.Config.InChannels() != 1 {
			return nil, fmt.Errorf("serve: latent model %s reads %v; the latent pages show 28×28 grey digits (MNIST), so it must read those", name, in)
		}
		if pre := m.Preprocess; pre != nil && (pre.Kind != dataset.KindImage || pre.Scale != dataset.ScaleUnit) {
			return nil, fmt.Errorf("serve: latent model %s was not trained on pictures scaled to [0, 1]", name)
		}
		out[name] = &latentModel{pool: &pool{name: name, model: m}}
	}
	return out, nil
}

// latent finds the model a latent request names (the first one when it
// names none).
func (s *Server) latent(w http.ResponseWriter, r *http.Request) *latentModel {
	name := r.URL.Query().Get("model")
	if name == "" && len(s.opt.Latent) > 0 {
		name = s.opt.Latent[0]
	}
	lm := s.latents[name]
	if lm == nil {
		s.writeError(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("no latent model %q on this server; it has %s", capText(name, maxQuoted), strings.Join(s.opt.Latent, ", "))})
	}
	return lm
}

// intParam reads an integer query parameter in [lo, hi], def when absent.
func intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s %q: want a whole number from %d to %d", name, capText(v, maxQuoted), lo, hi)
	}
	return n, nil
}

// writePNG answers with a grid picture of the rows of x ([n, 784]), cols
// a row.
func (s *Server) writeGrid(w http.ResponseWriter, x []float32, n, cols int) {
	img, err := report.Grid(report.Tiles(x, n, cols), []int{1, digitSide, digitSide}, cols)
	var buf bytes.Buffer
	if err == nil {
		err = png.Encode(&buf, img)
	}
	if err != nil {
		s.writeError(w, http.StatusInternalServerError, apiError{Error: "internal error: the picture could not be made: " + err.Error()})
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// handleLatentSample serves GET /v1/latent/sample?model=&n=&seed=: a grid
// of n new samples (a VAE's prior; for a plain autoencoder a Gaussian
// fitted to the test digits' codes).
func (s *Server) handleLatentSample(w http.ResponseWriter, r *http.Request) {
	lm := s.latent(w, r)
	if lm == nil {
		return
	}
	n, err := intParam(r, "n", 64, 1, maxLatentSamples)
	if err != nil {
		s.writeError(w, http.StatusBadRequest, apiError{Error: err.Error()})
		return
	}
	seed, err := intParam(r, "seed", 1, 0, 1<<31-1)
	if err != nil {
		s.writeError(w, http.StatusBadRequest, apiError{Error: err.Error()})
		return
	}
	var data *tensor.Tensor
	if !lm.model.IsVAE() {
		ds, err := digits()
		if err != nil {
			s.writeError(w, http.StatusInternalServerError, apiError{Error: err.Error()})
			return
		}
		data = ds.X
	}
	m := lm.get()
	defer lm.put(m)
	x, how, err := latent.Generate(m, n, rand.New(rand.NewPCG(uint64(seed), 0x67656e)), data)
	if err != nil {
		s.writeError(w, http.StatusInternalServerError, apiError{Error: err.Error()})
		return
	}
	w.Header().Set("X-Bottleneck-Note", "codes from "+how)
	s.writeGrid(w, x.Data, n, min(n, 8))
}

// handleLatentInterpolate serves GET
// /v1/latent/interpolate?model=&from=&to=&steps=: test digit from, the
// decoded codes between its code and to's, and digit to, in a strip.
func (s *Server) handleLatentInterpolate(w http.ResponseWriter, r *http.Request) {
	lm := s.latent(w, r)
	if lm == nil {
		return
	}
	ds, err := digits()
	if err != nil {
		s.writeError(w, http.StatusInternalServerError, apiError{Error: err.Error()})
		return
	}
	var idx [2]int
	for i, name := range []string{"from", "to"} {
		if idx[i], err = intParam(r, name, i, 0, ds.Len()-1); err != nil {
			s.writeError(w, http.StatusBadRequest, apiError{Error: err.Error()})
			return
		}
	}
	steps, err := intParam(r, "steps", 10, 2, maxLatentSteps)
	if err != nil {
		s.writeError(w, http.StatusBadRequest, apiError{Error: err.Error()})
		return
	}
	m := lm.get()
	defer lm.put(m)
	a, b := ds.X.Row(idx[0]), ds.X.Row(idx[1])
	out, err := latent.Interpolate(m, a, b, steps, m.IsVAE())
	if err != nil {
		s.writeError(w, http.StatusInternalServerError, apiError{Error: err.Error()})
		return
	}
	strip := slices.Concat(a, out.Data, b)
	s.writeGrid(w, strip, steps+2, steps+2)
}

// handleLatentDigit serves GET /v1/latent/digit?i=: one test digit.
func (s *Server) handleLatentDigit(w http.ResponseWriter, r *http.Request) {
	ds, err := digits()
	if err != nil {
		s.writeError(w, http.StatusInternalServerError, apiError{Error: err.Error()})
		return
	}
	i, err := intParam(r, "i", 0, 0, ds.Len()-1)
	if err != nil {
		s.writeError(w, http.StatusBadRequest, apiError{Error: err.Error()})
		return
	}
	w.Header().Set("X-Bottleneck-Label", ds.Labels[i])
	s.writeGrid(w, ds.X.Row(i), 1, 1)
}

// latentMap is GET /v1/latent/map's answer.
type latentMap struct {
	Model string `json:"model"`
	// Points are [x, y, label, index of the test digit].
	Points [][4]any `json:"points"`
	How    string   `json:"how"`
}

// handleLatentMap serves GET /v1/latent/map?model=&method=tsne|pca: the
// codes of the test digits (mean codes for a VAE) projected to 2-D, by
// t-SNE (the default; some seconds the first time) or by their first two
// principal components, with labels. Each is computed once per model.
func (s *Server) handleLatentMap(w http.ResponseWriter, r *http.Request) {
	lm := s.latent(w, r)
	if lm == nil {
		return
	}
	var k int
	switch method := r.URL.Query().Get("method"); method {
	case "", "tsne":
	case "pca":
		k = 1
	default:
		s.writeError(w, http.StatusBadRequest, apiError{Error: fmt.Sprintf("method %q: want tsne or pca", capText(method, maxQuoted))})
		return
	}
	mp := &lm.maps[k]
	mp.once.Do(func() { mp.json, mp.err = s.computeMap(lm, k == 0) })
	if mp.err != nil {
		s.writeError(w, http.StatusInternalServerError, apiError{Error: mp.err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(mp.json)
}

// computeMap is the latent map's JSON: the test digits' codes
// (latent.Codes) laid out by t-SNE or PCA (latent.Project).
func (s *Server) computeMap(lm *latentModel, tsne bool) ([]byte, error) {
	ds, err := digits()
	if err != nil {
		return nil, err
	}
	m := lm.get()
	codes, err := latent.Codes(m, ds.X)
	lm.put(m)
	if err != nil {
		return nil, err
	}
	n, d := codes.Rows(), codes.Cols()
	what := "codes"
	if lm.model.IsVAE() {
		what = "mean codes"
	}
	po := latent.ProjectOptions{Method: latent.ProjectPCA}
	how := fmt.Sprintf("the first two principal components of the %d-d %s of %d test digits", d, what, n)
	if tsne {
		po = latent.ProjectOptions{Method: latent.ProjectTSNE, Seed: 1}
		how = fmt.Sprintf("t-SNE of the %d-d %s of %d test digits", d, what, n)
	}
	p, err := latent.Project(codes, po)
	if err != nil {
		return nil, fmt.Errorf("latent map: %w", err)
	}
	out := latentMap{Model: lm.name, How: how, Points: make([][4]any, n)}
	for i := range n {
		out.Points[i] = [4]any{p.X[i], p.Y[i], ds.Labels[i], i}
	}
	return marshalJSON(out)
}
