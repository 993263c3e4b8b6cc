package cli

import (
	"encoding/json"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/imagetask"
	"github.com/bottleneck-ml/bottleneck/nn"
)

// writePictures writes n small colour PNGs with smooth gradients and a
// JPEG-free BMP-free set the image tasks can train on.
func writePictures(t *testing.T, dir string, n, w, h int) string {
	t.Helper()
	d := filepath.Join(dir, "pics")
	os.MkdirAll(d, 0o755)
	for i := range n {
		m := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				m.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8((y + 7*i) * 255 / (h + 7*n)), uint8(128 + 60*((x/5+y/7)%2)), 255})
			}
		}
		if err := imageio.WriteImagePNG(filepath.Join(d, "p"+string(rune('a'+i))+".png"), m); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// TestImageTasksEndToEnd trains a tiny model for each task for a few steps
// and runs the matching command and eval on it.
func TestImageTasksEndToEnd(t *testing.T) {
	dir := t.TempDir()
	pics := writePictures(t, dir, 3, 40, 36)
	one := filepath.Join(pics, "pa.png")
	den := filepath.Join(dir, "den.safetensors")
	mustRun(t, "-q", "train", "--task", "denoise", "--data", pics, "--noise", "gaussian:0-50", "--preset", "restore:3:8",
		"--patch", "16", "--steps", "5", "--epochs", "2", "-o", den, "--val-data", pics)
	out := filepath.Join(dir, "den.png")
	mustRun(t, "denoise", "-m", den, one, "-o", out)
	if img, err := imageio.Read(out); err != nil || img.Bounds().Dx() != 40 || img.Bounds().Dy() != 36 {
		t.Fatalf("denoise output: %v", err)
	}
	js := mustRun(t, "eval", "-m", den, "--data", pics, "--noise", "gaussian:25", "--json")
	var res imagetask.Benchmark
	if err := json.Unmarshal([]byte(js), &res); err != nil || len(res.Images) != 3 || res.BasePSNR < 15 {
		t.Fatalf("eval: %v %q", err, js)
	}
	// a grey denoiser measured on the colour pictures
	js = mustRun(t, "eval", "-m", den, "--data", pics, "--noise", "gaussian:25", "--colour", "--json")
	var col3 imagetask.Benchmark
	if err := json.Unmarshal([]byte(js), &col3); err != nil || len(col3.Images) != 3 || col3.PSNR == res.PSNR || col3.BasePSNR < 15 {
		t.Fatalf("eval --colour: %v %q (grey: %v dB)", err, js, res.PSNR)
	}
	mustRun(t, "reconstruct", "-m", den, "--data", one, "-o", filepath.Join(dir, "rec.png"))

	sr := filepath.Join(dir, "sr.safetensors")
	mustRun(t, "-q", "train", "--task", "upscale", "--data", pics, "--scale", "2,3", "--preset", "restore:3:8",
		"--patch", "12", "--steps", "3", "--epochs", "1", "-o", sr)
	up := filepath.Join(dir, "up.png")
	mustRun(t, "upscale", "-m", sr, "--scale", "3", one, "-o", up)
	if img, err := imageio.Read(up); err != nil || img.Bounds().Dx() != 120 || img.Bounds().Dy() != 108 {
		t.Fatalf("upscale output: %v %v", err, img.Bounds())
	}
	js = mustRun(t, "eval", "-m", sr, "--data", pics, "--scale", "2", "--json")
	if err := json.Unmarshal([]byte(js), &res); err != nil || res.Scale != 2 || res.Baseline != "bicubic" {
		t.Fatalf("eval upscale: %v %q", err, js)
	}

	// fine-tuning the upscaler with another loss keeps the first
	// training's record inside the new one
	tuned := filepath.Join(dir, "sr-l1.safetensors")
	mustRun(t, "-q", "train", "--task", "upscale", "--data", pics, "--scale", "2,3", "--preset", "restore:3:8",
		"--patch", "12", "--steps", "2", "--epochs", "1", "--loss", "l1", "--init", sr, "-o", tuned)
	tm, err := ae.Open(tuned)
	if err != nil {
		t.Fatal(err)
	}
	if tm.Config.Loss != ae.LossL1 || tm.Training.Init == nil || tm.Training.Init.Epochs != 1 ||
		tm.Training.Init.Steps != 3 || tm.Training.Steps != 2 {
		t.Fatalf("fine-tuned model: loss %s, init record %+v", tm.Config.Loss, tm.Training.Init)
	}

	col := filepath.Join(dir, "col.safetensors")
	mustRun(t, "-q", "train", "--task", "colorize", "--data", pics, "--preset", "colorize:4",
		"--patch", "32", "--steps", "3", "--epochs", "1", "-o", col)
	co := filepath.Join(dir, "col.png")
	mustRun(t, "colorize", "-m", col, one, "-o", co)
	if img, err := imageio.Read(co); err != nil || img.Bounds().Dx() != 40 {
		t.Fatalf("colorize output: %v", err)
	}
	// a colorizer that classifies colours: trained on the class logits,
	// its temperature set per run (lower: more saturated) and refused by
	// a colorizer that regresses a and b
	cls := filepath.Join(dir, "cls.safetensors")
	mustRun(t, "-q", "train", "--task", "colorize", "--data", pics, "--preset", "colorize-classes:4",
		"--patch", "32", "--steps", "3", "--epochs", "1", "-o", cls)
	if m, err := ae.Open(cls); err != nil || m.Config.Loss != ae.LossABClasses || m.Temperature() != 0.38 || len(m.Config.ClassWeights) != nn.ABClassCount() {
		t.Fatalf("colorize-classes model: %v, loss %s, temperature %v, %d class weights", err, m.Config.Loss, m.Temperature(), len(m.Config.ClassWeights))
	}
	flat := filepath.Join(dir, "flat.safetensors")
	mustRun(t, "-q", "train", "--task", "colorize", "--data", pics, "--preset", "colorize-classes:4", "--rebalance", "1",
		"--patch", "32", "--steps", "1", "--epochs", "1", "-o", flat)
	if m, err := ae.Open(flat); err != nil || m.Config.ClassWeights != nil {
		t.Fatalf("--rebalance 1: %v, class weights %v", err, m.Config.ClassWeights)
	}
	if code, _, stderr := run(t, "-q", "train", "--task", "colorize", "--data", pics, "--preset", "colorize-classes:4", "--rebalance", "2",
		"--patch", "32", "--steps", "1", "--epochs", "1", "-o", flat); code == 0 || !strings.Contains(stderr, "rebalance") {
		t.Errorf("--rebalance 2: exit %d, %q", code, stderr)
	}
	if code, _, stderr := run(t, "-q", "train", "--task", "colorize", "--data", pics, "--preset", "colorize:4", "--rebalance", "0.8",
		"--patch", "32", "--steps", "1", "--epochs", "1", "-o", flat); code == 0 || !strings.Contains(stderr, "colorize-classes") {
		t.Errorf("--rebalance on a regressing colorizer: exit %d, %q", code, stderr)
	}
	chroma := func(path string) float64 {
		pic, err := imageio.Read(path)
		if err != nil {
			t.Fatal(err)
		}
		img := imageio.RGB(pic)
		lab := imageio.RGBToLab(img)
		var s float64
		for i, a := range lab.Plane(1) {
			b := lab.Plane(2)[i]
			s += math.Hypot(float64(a), float64(b))
		}
		return s / float64(img.H*img.W)
	}
	hot, cold := filepath.Join(dir, "hot.png"), filepath.Join(dir, "cold.png")
	mustRun(t, "colorize", "-m", cls, one, "-o", hot, "--temperature", "1")
	mustRun(t, "colorize", "-m", cls, one, "-o", cold, "--temperature", "0.05")
	if h, c := chroma(hot), chroma(cold); !(c > h) {
		t.Errorf("chroma at T 0.05 %.2f, at T 1 %.2f: want the lower temperature more saturated", c, h)
	}
	if code, _, stderr := run(t, "colorize", "-m", col, one, "-o", hot, "--temperature", "0.5"); code == 0 || !strings.Contains(stderr, "abmean") {
		t.Errorf("--temperature on a regressing colorizer: exit %d, %q", code, stderr)
	}
	// a colorizer measured on a glob and a comma list: the grey picture
	// is named as skipped, not averaged in with an infinite grey PSNR
	greyDir := filepath.Join(dir, "grey")
	os.MkdirAll(greyDir, 0o755)
	gm := image.NewGray(image.Rect(0, 0, 40, 36))
	for i := range gm.Pix {
		gm.Pix[i] = uint8(i * 7)
	}
	if err := imageio.WriteImagePNG(filepath.Join(greyDir, "g.png"), gm); err != nil {
		t.Fatal(err)
	}
	js = mustRun(t, "eval", "-m", col, "--data", filepath.Join(pics, "p[ab].png")+","+filepath.Join(greyDir, "g.png"), "--json")
	res = imagetask.Benchmark{}
	if err := json.Unmarshal([]byte(js), &res); err != nil || len(res.Images) != 2 || len(res.Skipped) != 1 ||
		math.IsInf(res.BasePSNR, 0) || res.Baseline != "grey" {
		t.Fatalf("eval colorize on p[ab].png,g.png: %v %q", err, js)
	}
	if code, _, e := run(t, "eval", "-m", col, "--data", filepath.Join(greyDir, "*.png")); code == 0 || !strings.Contains(e, "only grey pictures") {
		t.Errorf("eval colorize on grey pictures only: exit %d, %q", code, e)
	}

	// clear errors
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"denoise", "-m", den, filepath.Join(dir, "missing.png"), "-o", out}, "no such file"},
		{[]string{"denoise", "-m", den, one}, "-o/--output is required"},
		{[]string{"upscale", "-m", den, "--scale", "2", one, "-o", up}, "trained for denoise"},
		{[]string{"denoise", "-m", "no-such-model", one, "-o", out}, "no shipped model"},
		{[]string{"train", "--task", "upscale", "--data", pics, "--scale", "5", "--patch", "12", "-o", sr}, "multiple"},
		{[]string{"train", "--task", "denoise", "--data", pics, "--noise", "gauss:3", "-o", den}, "unknown kind"},
		{[]string{"train", "--task", "denoise", "--data", pics, "--noise", "gaussian:3", "--patch", "64", "-o", den}, "lower --patch"},
		{[]string{"train", "--task", "upscale", "--data", pics, "--scale", "2,3", "--preset", "restore:2:8", "--patch", "12", "--init", sr, "-o", tuned}, "describe the same network"},
		{[]string{"eval", "-m", sr, "--data", pics, "--scale", "2", "--colour"}, "--colour is for denoisers"},
		{[]string{"eval", "-m", den, "--data", filepath.Join(dir, "rows.csv"), "--noise", "gaussian:25", "--colour"}, "--colour measures a denoiser on colour pictures"},
		{[]string{"train", "--task", "upscale", "--data", pics, "--scale", "2,3", "--preset", "restore:3:8", "--patch", "12", "--init", sr, "-o", sr}, "is the input"},
		{[]string{"train", "--task", "upscale", "--data", pics, "--init", filepath.Join(dir, "missing.safetensors"), "-o", tuned}, "--init"},
	} {
		code, o, e := run(t, c.args...)
		if code == 0 || !strings.Contains(o+e, c.want) {
			t.Errorf("bottleneck %s: exit %d, %q; want an error containing %q", strings.Join(c.args, " "), code, o+e, c.want)
		}
	}
	bad := filepath.Join(dir, "bad.png")
	os.WriteFile(bad, []byte("garbage"), 0o644)
	if code, _, e := run(t, "denoise", "-m", den, bad, "-o", out); code == 0 || !strings.Contains(e, "not a PNG") {
		t.Errorf("corrupt input: exit %d, %q", code, e)
	}
}

// TestShippedImageModels runs each command with its default shipped model
// on a small picture, and checks the output size.
func TestShippedImageModels(t *testing.T) {
	dir := t.TempDir()
	pics := writePictures(t, dir, 1, 30, 20)
	in := filepath.Join(pics, "pa.png")
	for _, c := range []struct {
		args []string
		w, h int
	}{
		{[]string{"denoise", in}, 30, 20},
		{[]string{"upscale", "--scale", "2", in}, 60, 40},
		{[]string{"upscale", "--scale", "3", in}, 90, 60},
		{[]string{"upscale", "--scale", "4", in}, 120, 80},
		{[]string{"colorize", in}, 30, 20},
		{[]string{"colorize", "-m", "colorize-vivid", "--temperature", "0.5", in}, 30, 20},
	} {
		out := filepath.Join(dir, c.args[0]+".png")
		mustRun(t, append(c.args, "-o", out)...)
		img, err := imageio.Read(out)
		if err != nil || img.Bounds().Dx() != c.w || img.Bounds().Dy() != c.h {
			t.Errorf("%v: output %v, %v; want %d×%d", c.args, err, img.Bounds(), c.w, c.h)
		}
	}
}
