package serve

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"slices"
	"sort"

	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/internal/synth"
	"github.com/bottleneck-ml/bottleneck/serve/ui"
)

// serverInfo is GET /v1/info: what this server serves, for the page.
type serverInfo struct {
	Table  *tableInfo        `json:"table"`
	Images map[string]string `json:"images"` // endpoint key → model
	Latent []string          `json:"latent"`
	// Token says the API needs a bearer token (the page asks for it).
	Token bool `json:"token"`
	// MaxImagePixels and MaxImageBytes are the image limits.
	MaxImagePixels int   `json:"max_image_pixels"`
	MaxImageBytes  int64 `json:"max_image_bytes"`
}

type tableInfo struct {
	Version   string   `json:"version"`
	Columns   []string `json:"columns"` // the feature columns a row needs
	Score     string   `json:"score"`
	Threshold float64  `json:"threshold"`
	Label     string   `json:"label,omitempty"` // the training file's label column, shown beside the scores
	// Sample says GET /v1/sample has rows for this model (the demo's
	// synthetic transactions fit it).
	Sample bool `json:"sample"`
}

// sampleFits reports whether the synthetic transactions fit pre: the
// same columns (the demo's fraud model).
func sampleFits(pre *dataset.Preprocessor) bool {
	var cols []string
	for _, c := range pre.Columns {
		cols = append(cols, c.Name)
	}
	want := slices.Clone(synth.TransactionColumns)
	sort.Strings(cols)
	sort.Strings(want)
	return slices.Equal(cols, want)
}

func (s *Server) handleInfo(w http.ResponseWriter, r *http.Request) {
	in := serverInfo{Images: map[string]string{}, Latent: s.opt.Latent, Token: s.opt.Token != "",
		MaxImagePixels: s.opt.MaxImagePixels, MaxImageBytes: s.opt.MaxImageBytes}
	if in.Latent == nil {
		in.Latent = []string{}
	}
	for k, p := range s.images {
		in.Images[k] = p.name
	}
	if l := s.cur.Load(); l != nil {
		t := &tableInfo{Version: l.version, Score: l.th.Score, Threshold: l.th.Value, Sample: sampleFits(l.pre), Label: l.pre.Label}
		for _, c := range l.pre.Columns {
			if c.Role == dataset.RoleFeature {
				t.Columns = append(t.Columns, c.Name)
			}
		}
		in.Table = t
	}
	s.writeJSON(w, http.StatusOK, in)
}

// handleModel serves GET /v1/model: the table model's card.
func (s *Server) handleModel(w http.ResponseWriter, r *http.Request) {
	l := s.cur.Load()
	if l == nil {
		s.writeError(w, http.StatusNotFound, apiError{Error: "no table model is loaded; start the server with a model trained by 'bottleneck train'"})
		return
	}
	s.writeJSON(w, http.StatusOK, l.det.Card())
}

// maxSampleRows bounds GET /v1/sample.
const maxSampleRows = 5000

// handleSample serves GET /v1/sample?rows=&seed=: rows of the demo's
// synthetic card transactions as CSV, for a model they fit.
func (s *Server) handleSample(w http.ResponseWriter, r *http.Request) {
	l := s.cur.Load()
	if l == nil || !sampleFits(l.pre) {
		s.writeError(w, http.StatusNotFound, apiError{Error: "no sample rows fit the served model; samples are the demo's synthetic transactions (bottleneck demo --serve)"})
		return
	}
	n, err := intParam(r, "rows", 300, 1, maxSampleRows)
	if err != nil {
		s.writeError(w, http.StatusBadRequest, apiError{Error: err.Error()})
		return
	}
	seed, err := intParam(r, "seed", 7, 0, 1<<31-1)
	if err != nil {
		s.writeError(w, http.StatusBadRequest, apiError{Error: err.Error()})
		return
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	_ = cw.Write(synth.TransactionColumns)
	_ = cw.WriteAll(synth.Transactions(n, 0.05, uint64(seed)))
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// page serves the web page (package ui) at / and /ui/.
func (s *Server) page() http.HandlerFunc {
	h := ui.Handler()
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" && r.URL.Path != "/ui/" && !s.pageFile(r.URL.Path) {
			s.notFound(w, r)
			return
		}
		r2 := r.Clone(r.Context())
		if p, ok := cutUI(r.URL.Path); ok {
			r2.URL.Path = p
		}
		h.ServeHTTP(w, r2)
	}
}

// pageFile reports whether path names one of the page's files.
func (s *Server) pageFile(path string) bool {
	p, _ := cutUI(path)
	switch p {
	case "/index.html", "/app.js", "/style.css":
		return true
	}
	return false
}

func cutUI(path string) (string, bool) {
	if len(path) >= 4 && path[:4] == "/ui/" {
		return path[3:], true
	}
	return path, false
}

// marshalJSON is json.Marshal with the newline writeJSON ends bodies with.
func marshalJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	return append(b, '\n'), err
}
