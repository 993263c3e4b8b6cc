package ui_test

// End-to-end tests of the page in a real headless Chromium, driven over
// the DevTools protocol by chromedp. They need a chromium (Debian:
// apt-get install -y chromium; or set BOTTLENECK_CHROMIUM to a Chrome or
// Chromium binary) and skip, saying so, without one. With
// BOTTLENECK_SCREENSHOTS=DIR they also write a screenshot of each tab to
// DIR (how docs/images/page-*.png are made).

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/internal/demo"
	"github.com/bottleneck-ml/bottleneck/internal/synth"
	"github.com/bottleneck-ml/bottleneck/serve"
)

// chromium finds the browser, or skips the test saying how to get one.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("BOTTLENECK_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("SKIP: no chromium on PATH: the page's browser tests need one (apt-get install -y chromium, or set BOTTLENECK_CHROMIUM)")
	return ""
}

// fraudDetector trains the demo's card-transaction detector, small.
func fraudDetector(t *testing.T) *anomaly.Detector {
	t.Helper()
	var b bytes.Buffer
	if err := synth.WriteCSV(&b, 1500, 0.03, 1); err != nil {
		t.Fatal(err)
	}
	det, _, err := demo.TrainFraud(t.Context(), fstest.MapFS{"t.csv": {Data: b.Bytes()}}, "t.csv", 1, 15)
	if err != nil {
		t.Fatal(err)
	}
	return det
}

// testPicture is a grey picture of smooth shapes, and its noisy copy
// (Gaussian σ = 25, seeded), both as PNG files in dir.
func testPictures(t *testing.T, dir string) (cleanPath, noisyPath string, clean, noisy *imageio.Image) {
	t.Helper()
	const w, h = 160, 120
	clean = imageio.New(1, h, w)
	for y := range h {
		for x := range w {
			v := 0.15 + 0.5*float64(x)/w
			if dx, dy := float64(x-w/3), float64(y-h/2); dx*dx+dy*dy < 900 {
				v = 0.85
			}
			if x > 2*w/3 && x < 2*w/3+8 {
				v = 0.1
			}
			clean.Pix[y*w+x] = float32(v)
		}
	}
	clean.Quantize()
	noisy = clean.Clone()
	rng := rand.New(rand.NewPCG(5, 0))
	for i := range noisy.Pix {
		noisy.Pix[i] += float32(25.0 / 255 * rng.NormFloat64())
	}
	noisy.Clamp()
	noisy.Quantize()
	cleanPath, noisyPath = filepath.Join(dir, "clean.png"), filepath.Join(dir, "noisy.png")
	for path, m := range map[string]*imageio.Image{cleanPath: clean, noisyPath: noisy} {
		if err := imageio.WritePNG(path, m); err != nil {
			t.Fatal(err)
		}
	}
	return
}

// problems collects what the page logs as errors or warnings: console
// errors, uncaught exceptions, failed loads.
type problems struct {
	mu   sync.Mutex
	list []string
}

func (p *problems) watch(ctx context.Context) {
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			switch m.Type {
			case chromedp.ConsoleError, chromedp.ConsoleWarning, chromedp.ConsoleException:
				p.mu.Lock()
				p.list = append(p.list, m.String())
				p.mu.Unlock()
			}
		}
	}()
}

func (p *problems) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.list
	p.list = nil
	return l
}

// get runs one action that returns a value.
func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// poll waits (up to 100 s: a loaded CI machine is slow) until the
// JavaScript expression is true.
func poll(expr string) chromedp.Action[bool] {
	return chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(100*time.Second))
}

// byID selects the element of that id.
func byID(id string) chromedp.CSS { return chromedp.CSS("#" + id) }

func TestPageInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("the browser tests take half a minute; run without -short")
	}
	exe := chromium(t)
	// a long queue wait: a loaded CI machine must not turn the page's
	// concurrent requests into 503s (the limits have tests of their own)
	srv, err := serve.New(fraudDetector(t), serve.Options{Page: true, Images: serve.DefaultImages(), Latent: serve.DefaultLatent(), MaxQueueWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	dir := t.TempDir()
	cleanPath, noisyPath, clean, noisy := testPictures(t, dir)
	shots := os.Getenv("BOTTLENECK_SCREENSHOTS")

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox cannot start
		chromedp.DisableGPU,
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1100, 1100),
	)
	actx, cancel := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	// the first call starts the browser, with no timeout (a timeout on it
	// would stop the browser); the steps after it have theirs
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	var probs problems
	probs.watch(ctx)
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			t.Fatalf("%s: %v (page problems: %v)", what, err, probs.take())
		}
	}
	text := func(id string) string { t.Helper(); return get(t, ctx, "text of #"+id, chromedp.TextContent(byID(id))) }
	attr := func(id, name string) string {
		t.Helper()
		return get(t, ctx, "attribute "+name+" of #"+id, chromedp.AttributeValue(byID(id), name)).Value
	}
	noProblems := func(tab string) {
		t.Helper()
		for _, p := range probs.take() {
			t.Errorf("%s tab: %s", tab, p)
		}
	}
	shoot := func(name string, full bool) {
		t.Helper()
		if shots == "" {
			return
		}
		a := chromedp.CaptureScreenshot()
		if full {
			a = chromedp.FullScreenshot(100)
		}
		buf := get(t, ctx, "screenshot", a)
		if err := os.WriteFile(filepath.Join(shots, name), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Images: a noisy picture, with its clean original as the reference
	do("load the page", chromedp.Navigate(ts.URL+"/"), chromedp.WaitVisible(byID("panel-images")))
	do("denoise a picture",
		chromedp.SetUploadFiles(byID("image-file"), []string{noisyPath}),
		chromedp.SetUploadFiles(byID("ref-file"), []string{cleanPath}),
		chromedp.Click(byID("run-image")),
		chromedp.WaitVisible(byID("compare")),
	)
	metrics := text("image-metrics")
	if w, h := attr("compare", "data-width"), attr("compare", "data-height"); w != "160" || h != "120" {
		t.Errorf("the result is %s×%s, want 160×120", w, h)
	}
	p, _ := strconv.ParseFloat(attr("compare", "data-psnr"), 64)
	bp, _ := strconv.ParseFloat(attr("compare", "data-baseline-psnr"), 64)
	if !(p > bp+3) || !strings.Contains(metrics, "PSNR") {
		t.Errorf("the page shows PSNR %.2f against the noisy %.2f (%q): want the denoised picture 3 dB better", p, bp, metrics)
	}
	// and the picture the page shows is that good
	out := imageio.Grey(decodeDataURL(t, attr("img-after", "src")))
	pOut, _ := imageio.PSNR(out, clean, 0)
	pNoisy, _ := imageio.PSNR(noisy, clean, 0)
	if math.Abs(pOut-p) > 0.01 || pOut < pNoisy+3 {
		t.Errorf("the shown result has PSNR %.2f dB (the page says %.2f), the noisy picture %.2f", pOut, p, pNoisy)
	}
	if pic := os.Getenv("BOTTLENECK_SCREENSHOT_PICTURE"); shots != "" && pic != "" {
		// a real picture for the documentation's screenshot, noise added
		// by the server
		do("denoise "+pic,
			chromedp.Click(byID("degrade")),
			chromedp.SetUploadFiles(byID("image-file"), []string{pic}),
			chromedp.Click(byID("run-image")),
		)
		get(t, ctx, "the result", poll(`document.getElementById("image-metrics").textContent.includes("noise")`))
	}
	do("slide before/after", chromedp.SetValue(byID("reveal"), "45"))
	get(t, ctx, "slide", chromedp.Evaluate[bool](`document.getElementById("reveal").dispatchEvent(new Event("input"))`))
	shoot("page-images.png", false)
	noProblems("Images")

	// Anomalies: paste rows, then the bundled sample; move the threshold
	var rows bytes.Buffer
	cw := csv.NewWriter(&rows)
	_ = cw.Write(synth.TransactionColumns)
	_ = cw.WriteAll(synth.Transactions(40, 0.1, 9))
	cw.Flush()
	do("paste rows and score them",
		chromedp.Click(byID("tab-anomalies")),
		chromedp.WaitVisible(byID("panel-anomalies")),
	)
	get(t, ctx, "the table model", poll(`document.getElementById("table-note").textContent.startsWith("Model")`))
	get(t, ctx, "paste", chromedp.Evaluate[any](fmt.Sprintf(`(() => { const t = document.getElementById("csv"); t.value = %q; t.dispatchEvent(new Event("input")); return true; })()`, rows.String())))
	do("score", chromedp.Click(byID("score")), chromedp.WaitVisible(byID("score-out")))
	n := get(t, ctx, "rows", chromedp.Evaluate[int](`document.querySelectorAll("#results tbody tr").length`))
	if caption := text("hist-caption"); n != 40 || !strings.Contains(caption, "of 40 rows") {
		t.Errorf("40 pasted rows: the table has %d rows, the histogram says %q", n, caption)
	}
	do("score the sample", chromedp.Click(byID("sample")))
	get(t, ctx, "sample rows", poll(`document.getElementById("csv").value.trim().split("\n").length === 301`))
	do("score it", chromedp.Click(byID("score")))
	get(t, ctx, "300 rows scored", poll(`document.querySelectorAll("#results tbody tr").length === 300`))
	caption, note := text("hist-caption"), text("table-note")
	before := flagged(t, caption)
	if !strings.Contains(caption, "of 300 rows") || !strings.Contains(note, "Scored 300 rows") {
		t.Errorf("300 sample rows: caption %q, note %q", caption, note)
	}
	do("lower the threshold with the keyboard", chromedp.Focus(byID("hist")), chromedp.KeyEvent(strings.Repeat(kb.ArrowLeft, 3)))
	if caption = text("hist-caption"); flagged(t, caption) <= before || !strings.Contains(caption, "what-if") {
		t.Errorf("lowering the threshold: %d flagged before, then %q", before, caption)
	}
	if card := text("card-body"); !strings.Contains(card, "threshold") || !strings.Contains(card, "ROC-AUC") {
		t.Errorf("the model card lacks the threshold or the validation metrics:\n%s", card)
	}
	shoot("page-anomalies.png", false)
	noProblems("Anomalies")

	// Latent space: the sample grid, the strip, the map
	do("open the latent space", chromedp.Click(byID("tab-latent")))
	get(t, ctx, "the sample grid", poll(`document.getElementById("samples").naturalWidth > 0 && document.getElementById("strip").naturalWidth > 0`))
	gridW := get(t, ctx, "grid width", chromedp.Evaluate[int](`document.getElementById("samples").naturalWidth`))
	stripW := get(t, ctx, "strip width", chromedp.Evaluate[int](`document.getElementById("strip").naturalWidth`))
	if gridW != 8*28+7*2 || stripW != 12*28+11*2 {
		t.Errorf("sample grid %d px wide, interpolation strip %d: want 8 and 12 digits", gridW, stripW)
	}
	get(t, ctx, "the map", poll(`document.getElementById("latent-status").textContent.startsWith("Map:")`))
	if st := text("latent-status"); !strings.Contains(st, "1000 test digits") {
		t.Errorf("latent status %q", st)
	}
	src := attr("samples", "src")
	do("new samples", chromedp.Click(byID("resample")))
	get(t, ctx, "new samples", poll(fmt.Sprintf(`document.getElementById("samples").src !== %q`, src)))
	do("walk the map with the keyboard", chromedp.Focus(byID("map")), chromedp.KeyEvent(kb.ArrowRight))
	get(t, ctx, "the digit under the point", poll(`!document.getElementById("tooltip").hidden && document.getElementById("tip-img").naturalWidth === 28`))
	strip := attr("strip", "src")
	do("pick the start of the path on the map", chromedp.KeyEvent(kb.Enter))
	get(t, ctx, "the new path", poll(fmt.Sprintf(`document.getElementById("strip").src !== %q && document.getElementById("latent-status").textContent.startsWith("Picked")`, strip)))
	shoot("page-latent.png", false)
	noProblems("Latent space")

	// phone width, dark: nothing wider than the screen
	do("phone width", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Click(byID("tab-images")))
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}}); err != nil {
		t.Fatal(err)
	}
	if get(t, ctx, "overflow", chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`)) {
		t.Error("at phone width (390 px) the page is wider than the screen")
	}
	shoot("page-phone-dark.png", true)
	noProblems("phone width")
}

var flaggedRE = regexp.MustCompile(`flags (\d+) of`)

func flagged(t *testing.T, caption string) int {
	t.Helper()
	m := flaggedRE.FindStringSubmatch(caption)
	if m == nil {
		t.Fatalf("histogram caption %q does not say how many rows are flagged", caption)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func decodeDataURL(t *testing.T, url string) image.Image {
	t.Helper()
	b64, ok := strings.CutPrefix(url, "data:image/png;base64,")
	if !ok {
		t.Fatalf("the result is not a PNG data: URL: %.60q", url)
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return img
}
