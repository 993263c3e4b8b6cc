package serve

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // DecodeConfig of JPEG bodies
	"image/png"
	"io"
	"mime"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/imagetask"
	"github.com/bottleneck-ml/bottleneck/internal/report"
	"github.com/bottleneck-ml/bottleneck/noise"
	"github.com/bottleneck-ml/bottleneck/zoo"
)

// The image endpoints, POST /v1/images/{task}.
const (
	ImageDenoise     = "denoise"
	ImageUpscale     = "upscale"
	ImageColorize    = "colorize"
	ImageReconstruct = "reconstruct"
	ImageScore       = "score"
)

// imageTasks are the endpoints' names, in the order errors list them.
var imageTasks = []string{ImageDenoise, ImageUpscale, ImageColorize, ImageReconstruct, ImageScore}

// DefaultImages are the shipped models the image endpoints use: the blind
// denoiser, the upscalers (one model a scale: ×4 is the endpoint's own,
// ×2 and ×3 are chosen by the scale asked for), the colorizer, and the
// MNIST convolutional autoencoder to reconstruct and score pictures (as
// 28×28 grey digits).
func DefaultImages() map[string]string {
	return map[string]string{
		ImageDenoise:         "denoise-gray",
		ImageUpscale:         "upscale-x4",
		ImageUpscale + "-x2": "upscale-x2",
		ImageUpscale + "-x3": "upscale-x3",
		ImageColorize:        "colorize",
		ImageReconstruct:     "mnist-conv",
		ImageScore:           "mnist-conv",
	}
}

// Defaults of the image limits.
const (
	DefaultMaxImagePixels = 8 << 20  // 8.4 Mpx: about 340 MB of working memory for an RGB output
	DefaultMaxImageBytes  = 32 << 20 // request body
)

// pool is a model and copies of it to run: an ae.Model is not safe for
// concurrent use.
type pool struct {
	name   string
	model  *ae.Model // never run; copies are
	copies sync.Pool
}

func (p *pool) get() *ae.Model {
	if m, ok := p.copies.Get().(*ae.Model); ok {
		return m
	}
	return p.model.Clone()
}

func (p *pool) put(m *ae.Model) { p.copies.Put(m) }

// openModel opens a model file, or a shipped model by name when no file
// of that name exists.
func openModel(name string) (*ae.Model, error) {
	if _, err := os.Stat(name); err == nil {
		return ae.Open(name)
	}
	m, err := zoo.Open(name)
	if errors.Is(err, zoo.ErrUnknown) {
		return nil, fmt.Errorf("%q is neither a model file nor a shipped model (shipped: %s)", name, strings.Join(zoo.Names(), ", "))
	}
	return m, err
}

// endpointTask is the imagetask task of an endpoint: score reads pictures
// as reconstruct does.
func endpointTask(endpoint string) string {
	if endpoint == ImageScore {
		return ae.TaskReconstruct
	}
	return endpoint
}

// imageModels opens the models of the image endpoints (keys as in
// Options.Images), each file once, and checks each fits its endpoint.
func imageModels(spec map[string]string) (map[string]*pool, error) {
	out := map[string]*pool{}
	opened := map[string]*pool{}
	keys := make([]string, 0, len(spec))
	for k := range spec {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		name := spec[key]
		task, scale := key, 0
		if s, ok := strings.CutPrefix(key, ImageUpscale+"-x"); ok {
			n, err := strconv.Atoi(s)
			if err != nil || n < 2 || n > 4 {
				return nil, fmt.Errorf("serve: image endpoint %q: want one of %s, or upscale-x2, upscale-x3, upscale-x4 for one scale", key, strings.Join(imageTasks, ", "))
			}
			task, scale = ImageUpscale, n
		}
		if !slices.Contains(imageTasks, task) {
			return nil, fmt.Errorf("serve: image endpoint %q: want one of %s, or upscale-x2, upscale-x3, upscale-x4 for one scale", key, strings.Join(imageTasks, ", "))
		}
		p := opened[name]
		if p == nil {
			m, err := openModel(name)
			if err != nil {
				return nil, fmt.Errorf("serve: image model for %s: %w", key, err)
			}
			p = &pool{name: name, model: m}
			opened[name] = p
		}
		if err := imagetask.Check(p.model, endpointTask(task), scale); err != nil {
			return nil, fmt.Errorf("serve: image model %s cannot serve %s: %w", name, key, err)
		}
		out[key] = p
	}
	return out, nil
}

// imageRequest is a parsed image request.
type imageRequest struct {
	task      string
	scale     int
	sigma     float64 // add Gaussian noise of this σ (0–255) first; 0: none
	seed      uint64
	image     *imageio.Image // the input (nil: made from reference)
	reference *imageio.Image // the clean picture to compare with (nil: none)
	asJSON    bool           // a multipart request gets JSON
}

// httpError is a request's fault, with its status code.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func imgError(code int, format string, args ...any) *httpError {
	return &httpError{code: code, msg: fmt.Sprintf(format, args...)}
}

// imageResponse is the JSON answer to a multipart image request.
type imageResponse struct {
	Task    string  `json:"task"`
	Model   string  `json:"model"`
	Width   int     `json:"width"`
	Height  int     `json:"height"`
	Seconds float64 `json:"seconds"`
	// Image is the result, a PNG as a data: URL.
	Image string `json:"image"`
	// Input is the picture the model was given when the server made it
	// (noise added, shrunk, made grey, resized to the model's input), as
	// a PNG data: URL; absent when it is the picture sent.
	Input string `json:"input,omitempty"`
	// Note says what was done to the input.
	Note string `json:"note,omitempty"`
	// With a reference: the result's PSNR (dB) and SSIM against it, and
	// those of the baseline — the noisy input, the bicubic upscale, the
	// grey picture, or the input as sent.
	PSNR         *float64 `json:"psnr,omitempty"`
	SSIM         *float64 `json:"ssim,omitempty"`
	Baseline     string   `json:"baseline,omitempty"`
	BaselinePSNR *float64 `json:"baseline_psnr,omitempty"`
	BaselineSSIM *float64 `json:"baseline_ssim,omitempty"`
	// Score and Anomaly: /v1/images/score's verdict on the picture.
	Score   *float64 `json:"score,omitempty"`
	Anomaly *bool    `json:"anomaly,omitempty"`
}

// handleImage serves POST /v1/images/{task}.
func (s *Server) handleImage(w http.ResponseWriter, r *http.Request) {
	task := r.PathValue("task")
	if !slices.Contains(imageTasks, task) {
		s.writeError(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("no image endpoint %q; use %s", capText(task, maxQuoted), "/v1/images/"+strings.Join(imageTasks, ", /v1/images/"))})
		return
	}
	req, herr := s.parseImageRequest(w, r, task)
	if herr != nil {
		s.writeError(w, herr.code, apiError{Error: herr.msg})
		return
	}
	key := task
	if task == ImageUpscale {
		key = ImageUpscale + "-x" + strconv.Itoa(req.scale)
	}
	p := s.images[key]
	if p == nil {
		p = s.images[task]
	}
	if p == nil {
		s.writeError(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("this server has no model for /v1/images/%s; start it with --images-model %s=MODEL", task, key)})
		return
	}
	if task == ImageUpscale && len(p.model.Config.Scales) > 0 && !slices.Contains(p.model.Config.Scales, req.scale) {
		s.writeError(w, http.StatusBadRequest, apiError{Error: fmt.Sprintf("the upscaler %s was trained for the scales %v, not %d", p.name, p.model.Config.Scales, req.scale)})
		return
	}
	start := time.Now()
	resp, out, herr := s.runImage(p, req)
	if herr != nil {
		s.writeError(w, herr.code, apiError{Error: herr.msg})
		return
	}
	resp.Seconds = time.Since(start).Seconds()
	var buf bytes.Buffer
	if err := encodePNG(&buf, out); err != nil {
		s.writeError(w, http.StatusInternalServerError, apiError{Error: "internal error: the result could not be encoded: " + err.Error()})
		return
	}
	if req.asJSON {
		resp.Image = dataURL(buf.Bytes())
		s.writeJSON(w, http.StatusOK, resp)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "image/png")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("X-Bottleneck-Model", p.name)
	if resp.Note != "" {
		h.Set("X-Bottleneck-Note", resp.Note)
	}
	if resp.Score != nil {
		h.Set("X-Bottleneck-Score", strconv.FormatFloat(*resp.Score, 'g', 8, 64))
		if resp.Anomaly != nil {
			h.Set("X-Bottleneck-Anomaly", strconv.FormatBool(*resp.Anomaly))
		}
	}
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(buf.Bytes()); err != nil {
		s.metrics.failures.Inc()
		s.log.Error("response not sent", "status", http.StatusOK, "error", err)
	}
}

func encodePNG(w io.Writer, m *imageio.Image) error {
	img, err := m.ToImage()
	if err != nil {
		return err
	}
	return png.Encode(w, img)
}

func dataURL(pngBytes []byte) string {
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(pngBytes)
}

// pngURL encodes m as a PNG data: URL ("" when it cannot be encoded).
func pngURL(m *imageio.Image) string {
	var buf bytes.Buffer
	if encodePNG(&buf, m) != nil {
		return ""
	}
	return dataURL(buf.Bytes())
}

// parseImageRequest reads the query and the body: a PNG or JPEG picture,
// or multipart/form-data with an "image" part, a "reference" part, or
// both.
func (s *Server) parseImageRequest(w http.ResponseWriter, r *http.Request, task string) (*imageRequest, *httpError) {
	req := &imageRequest{task: task, seed: 1}
	q := r.URL.Query()
	for k := range q {
		if !slices.Contains([]string{"scale", "sigma", "seed"}, k) {
			return nil, imgError(http.StatusBadRequest, "unknown query parameter %q; /v1/images takes scale (upscale: 2, 3 or 4), sigma and seed (denoise: add noise first)", capText(k, maxQuoted))
		}
	}
	if v := q.Get("scale"); v != "" || task == ImageUpscale {
		if task != ImageUpscale {
			return nil, imgError(http.StatusBadRequest, "scale is for /v1/images/upscale")
		}
		if v == "" {
			v = "2"
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 2 || n > 4 {
			return nil, imgError(http.StatusBadRequest, "scale %q: want 2, 3 or 4", capText(v, maxQuoted))
		}
		req.scale = n
	}
	if v := q.Get("sigma"); v != "" {
		if task != ImageDenoise {
			return nil, imgError(http.StatusBadRequest, "sigma is for /v1/images/denoise: the noise to add to a clean picture first")
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f > 0 && f <= 100) {
			return nil, imgError(http.StatusBadRequest, "sigma %q: want a noise level above 0 and at most 100 (on the 0–255 scale)", capText(v, maxQuoted))
		}
		req.sigma = f
	}
	if v := q.Get("seed"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, imgError(http.StatusBadRequest, "seed %q: want a whole number", capText(v, maxQuoted))
		}
		req.seed = n
	}
	limit := s.opt.MaxImageBytes
	if r.ContentLength > limit {
		return nil, imgError(http.StatusRequestEntityTooLarge, "the body is %d bytes, over the limit of %d; send a smaller picture", r.ContentLength, limit)
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil {
		mt = ""
	}
	scale := max(req.scale, 1)
	switch mt {
	case "image/png", "image/jpeg":
		img, herr := s.readPicture(body, "the body", scale, limit)
		if herr != nil {
			return nil, herr
		}
		req.image = img
		if req.sigma > 0 {
			req.reference = img.Clone()
			req.image = nil
		}
	case "multipart/form-data":
		req.asJSON = true
		if params["boundary"] == "" {
			return nil, imgError(http.StatusBadRequest, "multipart/form-data without a boundary")
		}
		mr, err := r.MultipartReader()
		if err != nil {
			return nil, imgError(http.StatusBadRequest, "the multipart body cannot be read: %v", err)
		}
		r.Body = body
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, bodyError(err, limit, "the multipart body cannot be read")
			}
			name := part.FormName()
			var dst **imageio.Image
			switch name {
			case "image":
				dst = &req.image
			case "reference":
				dst = &req.reference
			default:
				return nil, imgError(http.StatusBadRequest, "unknown part %q; send the parts image (the picture to process) and reference (the clean picture to compare with; alone, the server makes the input from it)", capText(name, maxQuoted))
			}
			if *dst != nil {
				return nil, imgError(http.StatusBadRequest, "two %s parts; send one", name)
			}
			sc := scale
			if name == "reference" {
				sc = 1
			}
			img, herr := s.readPicture(part, "part "+name, sc, limit)
			if herr != nil {
				return nil, herr
			}
			*dst = img
		}
		if req.image == nil && req.reference == nil {
			return nil, imgError(http.StatusBadRequest, "the multipart body has no image or reference part; send the picture as a part named image")
		}
		if req.sigma > 0 && req.image != nil {
			if req.reference != nil {
				return nil, imgError(http.StatusBadRequest, "sigma adds noise to a clean picture: send it as the reference part alone, or send the noisy image without sigma")
			}
			req.reference, req.image = req.image, nil
		}
	default:
		return nil, imgError(http.StatusUnsupportedMediaType, "Content-Type %q: send a PNG or JPEG picture as the body (Content-Type image/png or image/jpeg), or multipart/form-data with the parts image and reference", capText(ct, maxQuoted))
	}
	return req, nil
}

// bodyError maps a body read error to a status: 413 over the limit.
func bodyError(err error, limit int64, what string) *httpError {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return imgError(http.StatusRequestEntityTooLarge, "the body is over the limit of %d bytes; send a smaller picture", limit)
	}
	return imgError(http.StatusBadRequest, "%s: %v", what, err)
}

// readPicture reads one picture, refusing it before decoding when it (or
// its upscale by scale) would be over the pixel limit.
func (s *Server) readPicture(r io.Reader, what string, scale int, limit int64) (*imageio.Image, *httpError) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, bodyError(err, limit, what)
	}
	if len(b) == 0 {
		return nil, imgError(http.StatusBadRequest, "%s is empty; send a PNG or JPEG picture", what)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return nil, imgError(http.StatusBadRequest, "%s is not a PNG or JPEG picture (%v); send one", what, err)
	}
	if format != "png" && format != "jpeg" {
		return nil, imgError(http.StatusBadRequest, "%s is a %s picture, not a PNG or JPEG; convert it", what, strings.ToUpper(format))
	}
	maxPx := s.opt.MaxImagePixels
	if w, h := cfg.Width*scale, cfg.Height*scale; w <= 0 || h <= 0 || h > maxPx/w {
		return nil, imgError(http.StatusRequestEntityTooLarge, "%s is %d×%d pixels; ×%d that is %.1f Mpx, over this server's limit of %.1f Mpx; send a smaller picture",
			what, cfg.Width, cfg.Height, scale, float64(w)*float64(h)/1e6, float64(maxPx)/1e6)
	}
	img, err := imageio.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, imgError(http.StatusBadRequest, "%s: %v", what, err)
	}
	if imageio.IsGrey(img) {
		return imageio.Grey(img), nil
	}
	return imageio.RGB(img), nil
}

// runImage applies the task: makes the input from the reference when
// only that was sent, runs the model on a copy, and measures the result
// against the reference.
func (s *Server) runImage(p *pool, req *imageRequest) (*imageResponse, *imageio.Image, *httpError) {
	resp := &imageResponse{Task: req.task, Model: p.name}
	task := endpointTask(req.task)
	in, ref := req.image, req.reference
	made := false
	if in == nil { // degrade the clean reference the task's way
		d := imagetask.Degradation{Seed: req.seed, Scale: req.scale}
		if req.sigma > 0 {
			nm, err := noise.Parse("gaussian:" + strconv.FormatFloat(req.sigma, 'g', -1, 64))
			if err != nil {
				return nil, nil, imgError(http.StatusBadRequest, "sigma: %v", err)
			}
			d.Noise = &nm
		}
		var err error
		if in, ref, resp.Note, err = imagetask.Degrade(task, ref, d); err != nil {
			return nil, nil, imgError(http.StatusBadRequest, "the reference: %v", strings.TrimPrefix(err.Error(), "imagetask: "))
		}
		made = resp.Note != ""
	}
	m := p.get()
	defer p.put(m)
	opt := imagetask.Options{MaxPixels: s.opt.MaxImagePixels}
	modelIn, resized, err := imagetask.Fit(m, in)
	if err != nil {
		return nil, nil, imgError(http.StatusBadRequest, "the picture cannot be resized for the model: %v", err)
	}
	if resized {
		resp.Note = strings.TrimPrefix(resp.Note+"; ", "; ") + fmt.Sprintf("resized from %d×%d to the model's %d×%d input", in.W, in.H, modelIn.W, modelIn.H)
		made = true
		if ref != nil {
			if ref, err = imageio.Resize(ref, modelIn.H, modelIn.W); err != nil {
				return nil, nil, imgError(http.StatusBadRequest, "the reference cannot be resized: %v", err)
			}
		}
	}
	var out *imageio.Image
	if req.task == ImageScore {
		out, err = s.scoreImage(modelIn, opt, resp)
	} else {
		out, err = imagetask.Apply(m, task, modelIn, req.scale, opt)
	}
	if err != nil {
		if errors.Is(err, imagetask.ErrTooLarge) {
			return nil, nil, imgError(http.StatusRequestEntityTooLarge, "%v", err)
		}
		return nil, nil, imgError(http.StatusUnprocessableEntity, "the model cannot process this picture: %v", err)
	}
	out.Clamp()
	out.Quantize()
	resp.Width, resp.Height = out.W, out.H
	if made && req.asJSON {
		resp.Input = pngURL(modelIn)
	}
	if ref != nil && req.task != ImageScore {
		c, err := imagetask.Compare(task, out, modelIn, ref, req.scale)
		if err != nil {
			return nil, nil, imgError(http.StatusBadRequest, "%v (for upscale ×%d, %d×%d)", err, max(req.scale, 1), out.W, out.H)
		}
		resp.PSNR, resp.SSIM, resp.Baseline = &c.PSNR, &c.SSIM, c.Baseline
		resp.BaselinePSNR, resp.BaselineSSIM = &c.BaselinePSNR, &c.BaselineSSIM
	}
	return resp, out, nil
}

// scoreImage scores one picture with m as an image autoencoder and
// returns the heat-map picture (input, reconstruction, error).
func (s *Server) scoreImage(img *imageio.Image, opt imagetask.Options, resp *imageResponse) (*imageio.Image, error) {
	det := s.imageScorer
	opt.MaxPixels /= 3 // the heat-map is three pictures wide
	res, err := det.ScoreImage(img, opt)
	if err != nil {
		return nil, err
	}
	var peak float32
	for _, v := range res.Heat {
		peak = max(peak, v)
	}
	score, flagged := res.Score, res.Anomaly
	resp.Score = &score
	if det.Threshold() != nil {
		resp.Anomaly = &flagged
	}
	return report.HeatmapImage(img, res.Reconstruction, res.Heat, peak), nil
}
