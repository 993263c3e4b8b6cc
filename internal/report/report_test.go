package report

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s is not a valid PNG: %v", path, err)
	}
	return img
}

func checkSize(t *testing.T, img image.Image, w, h int) {
	t.Helper()
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Errorf("picture is %d×%d; want %d×%d", b.Dx(), b.Dy(), w, h)
	}
}

// distinctColors counts colours in img, enough to tell a drawn plot from
// a blank canvas.
func distinctColors(img image.Image) int {
	seen := map[color.RGBA]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), uint8(a >> 8)}] = true
		}
	}
	return len(seen)
}

func TestLossCurve(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name       string
		train, val []float64
	}{
		{"train and val", []float64{0.9, 0.5, 0.3, 0.25, 0.2}, []float64{1.0, 0.6, 0.4, 0.35, 0.33}},
		{"val empty", []float64{0.9, 0.5, 0.3}, nil},
		{"NaN entries", []float64{0.9, nan, 0.3, 0.2, nan, 0.1, nan}, []float64{nan, 1, nan, 0.5, 0.4, math.Inf(1), 0.3}},
		{"all NaN", []float64{nan, nan}, []float64{nan}},
		{"log scale", []float64{100, 10, 1, 0.1, 0.01}, []float64{120, 12, 1.2, 0.12, 0.015}},
		{"log scale with NaN", []float64{100, nan, 1, 0.1, 0.001}, nil},
		{"negative losses", []float64{5, -3, -100, -200}, nil},
		{"single epoch", []float64{0.5}, []float64{0.6}},
		{"constant", []float64{1, 1, 1}, []float64{1, 1, 1}},
		{"val only", nil, []float64{3, 2, 1}},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".png")
			if err := LossCurve(path, tt.train, tt.val, "loss: "+tt.name); err != nil {
				t.Fatalf("LossCurve = %v", err)
			}
			img := decodePNG(t, path)
			checkSize(t, img, LossCurveWidth, LossCurveHeight)
			if n := distinctColors(img); n < 3 {
				t.Errorf("picture has %d colours; want a drawn plot", n)
			}
		})
	}
}

func TestLossCurveErrors(t *testing.T) {
	dir := t.TempDir()
	err := LossCurve(filepath.Join(dir, "x.png"), nil, nil, "t")
	if err == nil || !strings.HasPrefix(err.Error(), "report: ") {
		t.Errorf("LossCurve(no losses) = %v; want report: error", err)
	}
	err = LossCurve(filepath.Join(dir, "missing", "x.png"), []float64{1}, nil, "t")
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("LossCurve(missing dir) = %v; want error", err)
	}
}

func TestSpansDecades(t *testing.T) {
	tests := []struct {
		a, b []float64
		want bool
	}{
		{[]float64{1, 0.1}, nil, false},
		{[]float64{1, 0.01}, nil, false},
		{[]float64{1, 0.0099}, nil, true},
		{[]float64{1}, []float64{1000}, true},
		{[]float64{1000, 0, 1}, nil, false},
		{[]float64{math.NaN(), math.Inf(1), 1}, nil, false},
		{nil, nil, false},
	}
	for _, tt := range tests {
		if got := spansDecades(2, tt.a, tt.b); got != tt.want {
			t.Errorf("spansDecades(2, %v, %v) = %v; want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestImageGridGrey(t *testing.T) {
	// Two rows: 2 images, then 1 image (a blank tile follows). Shape
	// [1 2 2]; values outside [0, 1] and NaN are clamped.
	rows := [][][]float32{
		{{0, 1, 0.5, 2}, {-1, float32(math.NaN()), 0.2, 1}},
		{{1, 0, 0, 1}},
	}
	path := filepath.Join(t.TempDir(), "grid.png")
	if err := ImageGrid(path, rows, []int{1, 2, 2}, 0); err != nil {
		t.Fatalf("ImageGrid = %v", err)
	}
	img := decodePNG(t, path)
	checkSize(t, img, 2*2+Gap, 2*2+Gap)
	W := 255
	want := [6][6]int{ // G = gap, 0..255 = pixel
		{0, 255, W, W, 0, 0},
		{128, 255, W, W, 51, 255},
		{W, W, W, W, W, W},
		{W, W, W, W, W, W},
		{255, 0, W, W, W, W},
		{0, 255, W, W, W, W},
	}
	for y := range 6 {
		for x := range 6 {
			g := color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y
			if int(g) != want[y][x] {
				t.Errorf("pixel (%d, %d) = %d; want %d", x, y, g, want[y][x])
			}
		}
	}
	if _, ok := img.(*image.Gray); !ok {
		t.Errorf("grey images decoded as %T; want *image.Gray", img)
	}
}

func TestImageGridRGB(t *testing.T) {
	// One 1×2 RGB image in CHW order: pixel 0 red, pixel 1 (0, 0.5, 1).
	im := []float32{1, 0, 0, 0.5, 0, 1}
	path := filepath.Join(t.TempDir(), "rgb.png")
	if err := ImageGrid(path, [][][]float32{{im, im, im}}, []int{3, 1, 2}, 2); err != nil {
		t.Fatalf("ImageGrid = %v", err)
	}
	img := decodePNG(t, path)
	checkSize(t, img, 2*2+Gap, 1) // cols=2 drops the third image
	wants := map[int]color.RGBA{
		0: {255, 0, 0, 255}, 1: {0, 128, 255, 255},
		2: {255, 255, 255, 255}, 3: {255, 255, 255, 255},
		4: {255, 0, 0, 255}, 5: {0, 128, 255, 255},
	}
	for x, want := range wants {
		r, g, b, a := img.At(x, 0).RGBA()
		got := color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}
		if got != want {
			t.Errorf("pixel (%d, 0) = %v; want %v", x, got, want)
		}
	}
}

func TestImageGridSizes(t *testing.T) {
	dir := t.TempDir()
	mnist := make([]float32, 28*28)
	for i := range mnist {
		mnist[i] = float32(i%28) / 27
	}
	orig := [][]float32{mnist, mnist, mnist, mnist, mnist}
	tests := []struct {
		shape      []int
		cols, w, h int
	}{
		{[]int{28, 28}, 0, 5*28 + 4*Gap, 2*28 + Gap},
		{[]int{1, 28, 28}, 3, 3*28 + 2*Gap, 2*28 + Gap},
		{[]int{1, 28, 28}, 8, 8*28 + 7*Gap, 2*28 + Gap},
		{[]int{4, 196}, 1, 196, 2*4 + Gap},
	}
	for i, tt := range tests {
		path := filepath.Join(dir, "g"+string(rune('a'+i))+".png")
		if err := ImageGrid(path, [][][]float32{orig, orig}, tt.shape, tt.cols); err != nil {
			t.Fatalf("ImageGrid(shape %v, cols %d) = %v", tt.shape, tt.cols, err)
		}
		checkSize(t, decodePNG(t, path), tt.w, tt.h)
	}
}

func TestImageGridErrors(t *testing.T) {
	dir := t.TempDir()
	img := []float32{0, 0, 0, 0}
	tests := []struct {
		name  string
		rows  [][][]float32
		shape []int
		cols  int
		want  string
	}{
		{"bad rank", [][][]float32{{img}}, []int{4}, 0, "want [C H W] or [H W]"},
		{"bad channels", [][][]float32{{img}}, []int{2, 1, 2}, 0, "2 channels"},
		{"zero width", [][][]float32{{img}}, []int{1, 4, 0}, 0, "must be positive"},
		{"no rows", nil, []int{2, 2}, 0, "no rows"},
		{"empty rows", [][][]float32{{}, {}}, []int{2, 2}, 0, "every row is empty"},
		{"wrong length", [][][]float32{{img}, {img, img[:3]}}, []int{2, 2}, 0, "row 1 image 1 has 3 values; shape [2 2] needs 4"},
		{"too large", [][][]float32{{img}}, []int{1 << 27, 1}, 0, "too large"},
		{"too many pixels", [][][]float32{{img}}, []int{1 << 14, 1 << 14}, 0, "over the"},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, "x.png")
		err := ImageGrid(path, tt.rows, tt.shape, tt.cols)
		if err == nil || !strings.HasPrefix(err.Error(), "report: ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: ImageGrid = %v; want error containing %q", tt.name, err, tt.want)
		}
		if _, err := os.Stat(path); err == nil {
			t.Errorf("%s: ImageGrid wrote a file despite the error", tt.name)
		}
	}
}
