package serve

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/internal/demo"
	"github.com/bottleneck-ml/bottleneck/internal/synth"
)

// testPicture is a w×h grey picture of smooth shapes: a gradient, a disk
// and a bar, the kind of content the denoiser restores well.
func testPicture(w, h int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := 40 + 120*float64(x)/float64(w)
			if dx, dy := float64(x-w/3), float64(y-h/2); dx*dx+dy*dy < float64(w*w)/25 {
				v = 220
			}
			if x > 2*w/3 && x < 2*w/3+6 {
				v = 20
			}
			img.SetGray(x, y, color.Gray{Y: uint8(v)})
		}
	}
	return img
}

func pngBytes(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// multipartBody makes a multipart/form-data body of named PNG parts.
func multipartBody(t testing.TB, parts map[string][]byte) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for name, data := range parts {
		w, err := mw.CreateFormFile(name, name+".png")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(data)
	}
	_ = mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

// imageServer serves the shipped image and latent models (and the page).
func imageServer(t testing.TB, det *anomaly.Detector, opt Options) *Server {
	t.Helper()
	if opt.Images == nil {
		opt.Images = DefaultImages()
	}
	if opt.Latent == nil {
		opt.Latent = DefaultLatent()
	}
	opt.Page = true
	s, err := New(det, opt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func send(h http.Handler, method, path, ctype string, body []byte, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func decodePNG(t testing.TB, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the answer is not a PNG: %v (%.200q)", err, b)
	}
	return img
}

// jsonError checks w is a JSON error of the code and returns its message.
func jsonError(t testing.TB, w *httptest.ResponseRecorder, code int) string {
	t.Helper()
	if w.Code != code {
		t.Fatalf("status %d, want %d: %s", w.Code, code, w.Body.String())
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	var e apiError
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
		t.Fatalf("not a JSON error (%v): %s", err, w.Body.String())
	}
	return e.Error
}

func TestImageEndpoints(t *testing.T) {
	s := imageServer(t, nil, Options{})
	clean := testPicture(96, 80)
	cleanPNG := pngBytes(t, clean)

	t.Run("denoise PNG", func(t *testing.T) {
		// a noisy picture in, a PNG of the same size out, closer to the clean one
		ref := imageio.Grey(clean)
		noisy := ref.Clone()
		rng := newNoise(3)
		for i := range noisy.Pix {
			noisy.Pix[i] = float32(math.Min(1, math.Max(0, float64(noisy.Pix[i])+25.0/255*rng())))
		}
		noisy.Quantize()
		ni, _ := noisy.ToImage()
		w := send(s, "POST", "/v1/images/denoise", "image/png", pngBytes(t, ni))
		if w.Code != 200 || w.Header().Get("Content-Type") != "image/png" {
			t.Fatalf("status %d %s: %s", w.Code, w.Header().Get("Content-Type"), w.Body.String())
		}
		out := imageio.Grey(decodePNG(t, w.Body.Bytes()))
		if out.W != 96 || out.H != 80 {
			t.Fatalf("result %d×%d, want 96×80", out.W, out.H)
		}
		pOut, _ := imageio.PSNR(out, ref, 0)
		pIn, _ := imageio.PSNR(noisy, ref, 0)
		if pOut < pIn+3 {
			t.Errorf("denoised PSNR %.2f dB, noisy %.2f: want at least 3 dB better", pOut, pIn)
		}
	})

	t.Run("denoise reference and sigma", func(t *testing.T) {
		ct, body := multipartBody(t, map[string][]byte{"reference": cleanPNG})
		w := send(s, "POST", "/v1/images/denoise?sigma=30&seed=2", ct, body)
		var r imageResponse
		if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &r) != nil {
			t.Fatalf("status %d: %s", w.Code, w.Body.String())
		}
		if r.PSNR == nil || r.BaselinePSNR == nil || r.Baseline != "noisy" {
			t.Fatalf("no PSNR against the reference: %+v", r)
		}
		if *r.PSNR < *r.BaselinePSNR+3 || *r.SSIM <= *r.BaselineSSIM {
			t.Errorf("denoised %.2f dB / %.3f, noisy %.2f dB / %.3f", *r.PSNR, *r.SSIM, *r.BaselinePSNR, *r.BaselineSSIM)
		}
		// the noisy input is returned, and its PSNR is the baseline's
		in := dataImage(t, r.Input)
		p, _ := imageio.PSNR(imageio.Grey(in), imageio.Grey(clean), 0)
		if math.Abs(p-*r.BaselinePSNR) > 0.01 {
			t.Errorf("the returned noisy input has PSNR %.3f, the baseline %.3f", p, *r.BaselinePSNR)
		}
		out := dataImage(t, r.Image)
		if b := out.Bounds(); b.Dx() != 96 || b.Dy() != 80 || r.Width != 96 || r.Height != 80 {
			t.Errorf("result %v (says %d×%d), want 96×80", b, r.Width, r.Height)
		}
	})

	t.Run("upscale", func(t *testing.T) {
		for _, scale := range []int{2, 3, 4} {
			w := send(s, "POST", "/v1/images/upscale?scale="+string(rune('0'+scale)), "image/png", pngBytes(t, testPicture(24, 20)))
			if w.Code != 200 {
				t.Fatalf("×%d: status %d: %s", scale, w.Code, w.Body.String())
			}
			b := decodePNG(t, w.Body.Bytes()).Bounds()
			if b.Dx() != 24*scale || b.Dy() != 20*scale {
				t.Errorf("×%d: %v", scale, b)
			}
			if want := map[int]string{2: "upscale-x2", 3: "upscale-x3", 4: "upscale-x4"}[scale]; w.Header().Get("X-Bottleneck-Model") != want {
				t.Errorf("×%d served by %s, want %s", scale, w.Header().Get("X-Bottleneck-Model"), want)
			}
		}
		ct, body := multipartBody(t, map[string][]byte{"reference": cleanPNG})
		w := send(s, "POST", "/v1/images/upscale?scale=2", ct, body)
		var r imageResponse
		if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &r) != nil || r.PSNR == nil || r.Baseline != "bicubic" {
			t.Fatalf("status %d: %s", w.Code, w.Body.String())
		}
	})

	t.Run("colorize and JPEG", func(t *testing.T) {
		rgb := image.NewRGBA(image.Rect(0, 0, 64, 48))
		for y := range 48 {
			for x := range 64 {
				rgb.Set(x, y, color.RGBA{uint8(4 * x), uint8(5 * y), 90, 255})
			}
		}
		var jb bytes.Buffer
		_ = jpeg.Encode(&jb, rgb, &jpeg.Options{Quality: 90})
		w := send(s, "POST", "/v1/images/colorize", "image/jpeg", jb.Bytes())
		if w.Code != 200 {
			t.Fatalf("status %d: %s", w.Code, w.Body.String())
		}
		if b := decodePNG(t, w.Body.Bytes()).Bounds(); b.Dx() != 64 || b.Dy() != 48 {
			t.Errorf("result %v", b)
		}
	})

	t.Run("reconstruct and score a fixed-size model", func(t *testing.T) {
		w := send(s, "POST", "/v1/images/reconstruct", "image/png", cleanPNG)
		if w.Code != 200 || !strings.Contains(w.Header().Get("X-Bottleneck-Note"), "28×28") {
			t.Fatalf("status %d, note %q: %s", w.Code, w.Header().Get("X-Bottleneck-Note"), w.Body.String())
		}
		if b := decodePNG(t, w.Body.Bytes()).Bounds(); b.Dx() != 28 {
			t.Errorf("mnist-conv reconstruction %v, want 28×28", b)
		}
		w = send(s, "POST", "/v1/images/score", "image/png", cleanPNG)
		if w.Code != 200 || w.Header().Get("X-Bottleneck-Score") == "" {
			t.Fatalf("status %d, score %q: %s", w.Code, w.Header().Get("X-Bottleneck-Score"), w.Body.String())
		}
		if b := decodePNG(t, w.Body.Bytes()).Bounds(); b.Dx() != 3*b.Dy() {
			t.Errorf("heat-map %v: want input, reconstruction and error side by side", b)
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		for _, c := range []struct {
			name, path, ctype string
			body              []byte
			code              int
			want              string
		}{
			{"wrong type", "/v1/images/denoise", "text/plain", []byte("hello"), 415, "PNG or JPEG"},
			{"no type", "/v1/images/denoise", "", cleanPNG, 415, "Content-Type"},
			{"not a picture", "/v1/images/denoise", "image/png", []byte("GIF89a not really"), 400, "not a PNG or JPEG"},
			{"empty", "/v1/images/denoise", "image/png", nil, 400, "empty"},
			{"truncated", "/v1/images/denoise", "image/png", cleanPNG[:len(cleanPNG)/2], 400, "damaged"},
			{"bad scale", "/v1/images/upscale?scale=5", "image/png", cleanPNG, 400, "2, 3 or 4"},
			{"scale elsewhere", "/v1/images/denoise?scale=2", "image/png", cleanPNG, 400, "upscale"},
			{"bad sigma", "/v1/images/denoise?sigma=-3", "image/png", cleanPNG, 400, "sigma"},
			{"unknown parameter", "/v1/images/denoise?strength=9", "image/png", cleanPNG, 400, "strength"},
			{"unknown task", "/v1/images/sharpen", "image/png", cleanPNG, 404, "sharpen"},
		} {
			t.Run(c.name, func(t *testing.T) {
				msg := jsonError(t, send(s, "POST", c.path, c.ctype, c.body), c.code)
				if !strings.Contains(msg, c.want) {
					t.Errorf("error %q lacks %q", msg, c.want)
				}
			})
		}
		ct, body := multipartBody(t, map[string][]byte{"picture": cleanPNG})
		if msg := jsonError(t, send(s, "POST", "/v1/images/denoise", ct, body), 400); !strings.Contains(msg, `"picture"`) {
			t.Errorf("unknown part: %q", msg)
		}
		ct, body = multipartBody(t, map[string][]byte{"image": cleanPNG, "reference": pngBytes(t, testPicture(50, 50))})
		if msg := jsonError(t, send(s, "POST", "/v1/images/denoise", ct, body), 400); !strings.Contains(msg, "reference is 50×50") {
			t.Errorf("reference of another size: %q", msg)
		}
	})
}

func TestImageLimits(t *testing.T) {
	s := imageServer(t, nil, Options{MaxImageBytes: 5000, MaxImagePixels: 100 * 100, Token: "sesame"})
	auth := []string{"Authorization", "Bearer sesame"}
	small := pngBytes(t, testPicture(40, 40))

	if w := send(s, "POST", "/v1/images/denoise", "image/png", small, auth...); w.Code != 200 {
		t.Fatalf("good request: %d %s", w.Code, w.Body.String())
	}
	// too many pixels: refused before decoding, and an upscale counts its output
	if msg := jsonError(t, send(s, "POST", "/v1/images/denoise", "image/png", pngBytes(t, image.NewGray(image.Rect(0, 0, 200, 120))), auth...), 413); !strings.Contains(msg, "200×120") {
		t.Errorf("too many pixels: %q", msg)
	}
	if msg := jsonError(t, send(s, "POST", "/v1/images/upscale?scale=3", "image/png", small, auth...), 413); !strings.Contains(msg, "×3") {
		t.Errorf("upscale over the pixel limit: %q", msg)
	}
	// too many bytes: declared, and streamed without a length
	noise := image.NewGray(image.Rect(0, 0, 99, 99))
	r := newNoise(1)
	for i := range noise.Pix {
		noise.Pix[i] = uint8(128 + 60*r())
	}
	big := pngBytes(t, noise)
	if len(big) <= 5000 {
		t.Fatalf("test picture of %d bytes is not over the limit", len(big))
	}
	jsonError(t, send(s, "POST", "/v1/images/denoise", "image/png", big, auth...), 413)
	req := httptest.NewRequest("POST", "/v1/images/denoise", io.MultiReader(bytes.NewReader(big)))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "image/png")
	req.Header.Set(auth[0], auth[1])
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	jsonError(t, w, 413)
	// wrong or missing token
	if msg := jsonError(t, send(s, "POST", "/v1/images/denoise", "image/png", small, "Authorization", "Bearer nope"), 401); !strings.Contains(msg, "token") {
		t.Errorf("wrong token: %q", msg)
	}
	jsonError(t, send(s, "POST", "/v1/images/denoise", "image/png", small), 401)
	jsonError(t, send(s, "GET", "/v1/latent/sample", "", nil), 401)
	// /v1/info and the page do not need it, and say a token is needed
	w = send(s, "GET", "/v1/info", "", nil)
	var in serverInfo
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &in) != nil || !in.Token || in.MaxImagePixels != 10000 {
		t.Errorf("/v1/info: %d %s", w.Code, w.Body.String())
	}
}

func TestImageModelsChecked(t *testing.T) {
	for _, c := range []struct {
		images map[string]string
		want   string
	}{
		{map[string]string{"upscale": "denoise-gray"}, "not upscale"},
		{map[string]string{"colorize": "upscale-x2"}, "not colorize"},
		{map[string]string{"upscale-x3": "upscale-x3"}, ""},
		{map[string]string{"upscale-x3": "upscale-x2"}, "upscale-x3"},
		{map[string]string{"upscale-x5": "upscale-x4"}, "upscale-x5"},
		{map[string]string{"sharpen": "denoise-gray"}, "sharpen"},
		{map[string]string{"denoise": "no-such-model"}, "no-such-model"},
	} {
		_, err := New(nil, Options{Images: c.images})
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v: %v", c.images, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%v: error %v, want one naming %q", c.images, err, c.want)
		}
	}
	if _, err := New(nil, Options{Latent: []string{"denoise-gray"}}); err == nil || !strings.Contains(err.Error(), "no code") {
		t.Errorf("a fully convolutional latent model: %v", err)
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("a server with nothing to serve was made")
	}
	// a server without image models says so
	s, err := New(nil, Options{Latent: DefaultLatent()})
	if err != nil {
		t.Fatal(err)
	}
	if msg := jsonError(t, send(s, "POST", "/v1/images/denoise", "image/png", pngBytes(t, testPicture(8, 8))), 404); !strings.Contains(msg, "no model") {
		t.Errorf("no image models: %q", msg)
	}
	if msg := jsonError(t, send(s, "POST", "/v1/score", "text/csv", []byte("a\n1\n")), 404); !strings.Contains(msg, "no table model") {
		t.Errorf("no table model: %q", msg)
	}
	if w := send(s, "GET", "/readyz", "", nil); w.Code != 200 {
		t.Errorf("a server of latent models is not ready: %d", w.Code)
	}
}

func TestLatentEndpoints(t *testing.T) {
	s := imageServer(t, nil, Options{})
	for _, c := range []struct {
		path string
		w, h int
	}{
		{"/v1/latent/sample?n=16&seed=3", 8*28 + 7*2, 2*28 + 2},
		{"/v1/latent/sample?model=mnist-conv&n=5", 5*28 + 4*2, 28},
		{"/v1/latent/interpolate?from=3&to=2&steps=6", 8*28 + 7*2, 28},
		{"/v1/latent/digit?i=7", 28, 28},
	} {
		w := send(s, "GET", c.path, "", nil)
		if w.Code != 200 {
			t.Fatalf("%s: %d %s", c.path, w.Code, w.Body.String())
		}
		if b := decodePNG(t, w.Body.Bytes()).Bounds(); b.Dx() != c.w || b.Dy() != c.h {
			t.Errorf("%s: %v, want %d×%d", c.path, b, c.w, c.h)
		}
	}
	// the same seed gives the same samples, another seed others
	a := send(s, "GET", "/v1/latent/sample?n=4&seed=9", "", nil).Body.String()
	b := send(s, "GET", "/v1/latent/sample?n=4&seed=9", "", nil).Body.String()
	c := send(s, "GET", "/v1/latent/sample?n=4&seed=10", "", nil).Body.String()
	if a != b || a == c {
		t.Error("samples are not reproducible by seed")
	}
	w := send(s, "GET", "/v1/latent/map?model=mnist-vae&method=pca", "", nil)
	var m latentMap
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &m) != nil {
		t.Fatalf("map: %d %s", w.Code, w.Body.String())
	}
	if len(m.Points) != 1000 || !strings.Contains(m.How, "principal components") {
		t.Fatalf("map of %d points (%s)", len(m.Points), m.How)
	}
	labels := map[any]bool{}
	for _, p := range m.Points {
		labels[p[2]] = true
	}
	if len(labels) != 10 {
		t.Errorf("map labels %v, want the 10 digits", labels)
	}
	for _, bad := range []string{"/v1/latent/sample?n=0", "/v1/latent/sample?n=x", "/v1/latent/interpolate?from=1000", "/v1/latent/digit?i=-1", "/v1/latent/map?method=umap"} {
		jsonError(t, send(s, "GET", bad, "", nil), 400)
	}
	jsonError(t, send(s, "GET", "/v1/latent/sample?model=colorize", "", nil), 404)
}

// fraudDetector trains the demo's card-transaction detector, small.
func fraudDetector(t testing.TB) *anomaly.Detector {
	t.Helper()
	var b bytes.Buffer
	if err := synth.WriteCSV(&b, 400, 0.05, 1); err != nil {
		t.Fatal(err)
	}
	det, _, err := demo.TrainFraud(t.Context(), fstest.MapFS{"t.csv": {Data: b.Bytes()}}, "t.csv", 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	return det
}

func TestPageEndpoints(t *testing.T) {
	s := imageServer(t, fraudDetector(t), Options{})
	w := send(s, "GET", "/", "", nil)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "<title>bottleneck</title>") || w.Header().Get("Content-Security-Policy") == "" {
		t.Fatalf("/: %d %s", w.Code, w.Header())
	}
	for _, p := range []string{"/ui/", "/app.js", "/ui/style.css"} {
		if w := send(s, "GET", p, "", nil); w.Code != 200 {
			t.Errorf("%s: %d", p, w.Code)
		}
	}
	jsonError(t, send(s, "GET", "/ui/secret.txt", "", nil), 404)
	var in serverInfo
	if w := send(s, "GET", "/v1/info", "", nil); json.Unmarshal(w.Body.Bytes(), &in) != nil || in.Table == nil || !in.Table.Sample || len(in.Table.Columns) != 10 {
		t.Fatalf("/v1/info: %s", w.Body.String())
	}
	w = send(s, "GET", "/v1/sample?rows=50", "", nil)
	rows, err := csv.NewReader(strings.NewReader(w.Body.String())).ReadAll()
	if w.Code != 200 || err != nil || len(rows) != 51 {
		t.Fatalf("/v1/sample: %d rows, %v", len(rows), err)
	}
	// the sample scores as it is
	w = send(s, "POST", "/v1/score", "text/csv", w.Body.Bytes())
	if w.Code != 200 {
		t.Fatalf("scoring the sample: %d %s", w.Code, w.Body.String())
	}
	w = send(s, "GET", "/v1/model", "", nil)
	var card anomaly.Card
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &card) != nil || card.Threshold == nil || len(card.Facts) == 0 {
		t.Fatalf("/v1/model: %d %s", w.Code, w.Body.String())
	}
	if card.Validation == nil || card.Validation.Anomalies == 0 {
		t.Errorf("the card has no validation metrics though training had labelled frauds: %s", w.Body.String())
	}
}

// dataImage decodes a data:image/png;base64 URL.
func dataImage(t testing.TB, url string) image.Image {
	t.Helper()
	b64, ok := strings.CutPrefix(url, "data:image/png;base64,")
	if !ok {
		t.Fatalf("not a PNG data URL: %.60q", url)
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	return decodePNG(t, b)
}

// newNoise is a seeded standard normal generator.
func newNoise(seed uint64) func() float64 {
	return rand.New(rand.NewPCG(seed, 0)).NormFloat64
}
