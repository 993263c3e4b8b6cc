// Package imageio reads and writes images as float32 planes and converts
// between colour spaces: grey, RGB, YCbCr (ITU-R BT.601 studio range, as
// the super-resolution literature computes it with MATLAB's rgb2ycbcr) and
// CIE L*a*b* (sRGB, D65). It also resizes with MATLAB-compatible bicubic
// interpolation, runs a function over overlapping tiles of an image, and
// measures PSNR and SSIM.
//
// An Image is C planes of H×W float32 samples in channel-major order, with
// the nominal range [0, 1] for grey, RGB and Y.
package imageio

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // register JPEG
	"image/png"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	_ "golang.org/x/image/bmp" // register BMP

	"github.com/bottleneck-ml/bottleneck/internal/atomicfile"
)

// MaxPixels is the largest image Read accepts (width × height), so a
// corrupt or hostile header cannot make it allocate gigabytes.
const MaxPixels = 1 << 26

// ErrFormat is wrapped when a file is not a PNG, JPEG or BMP image.
var ErrFormat = errors.New("not a PNG, JPEG or BMP image; convert it to one of these")

// Image is C planes of H×W samples, channel-major: Pix[(c*H+y)*W+x].
type Image struct {
	C, H, W int
	Pix     []float32
}

// New returns a zeroed c×h×w image.
func New(c, h, w int) *Image {
	return &Image{C: c, H: h, W: w, Pix: make([]float32, c*h*w)}
}

// Plane returns channel c's samples (a view).
func (m *Image) Plane(c int) []float32 { return m.Pix[c*m.H*m.W : (c+1)*m.H*m.W] }

// At returns channel c at (y, x).
func (m *Image) At(c, y, x int) float32 { return m.Pix[(c*m.H+y)*m.W+x] }

// Clone returns a deep copy.
func (m *Image) Clone() *Image {
	return &Image{C: m.C, H: m.H, W: m.W, Pix: slices.Clone(m.Pix)}
}

// Channels returns a new image holding channels [lo, hi) of m.
func (m *Image) Channels(lo, hi int) *Image {
	return &Image{C: hi - lo, H: m.H, W: m.W, Pix: slices.Clone(m.Pix[lo*m.H*m.W : hi*m.H*m.W])}
}

// Stack concatenates the channels of images of equal size.
func Stack(ims ...*Image) *Image {
	c := 0
	for _, im := range ims {
		if im.H != ims[0].H || im.W != ims[0].W {
			panic("imageio: Stack of different sizes")
		}
		c += im.C
	}
	out := &Image{C: c, H: ims[0].H, W: ims[0].W}
	for _, im := range ims {
		out.Pix = append(out.Pix, im.Pix...)
	}
	return out
}

// Crop returns the h×w window at (y0, x0).
func (m *Image) Crop(y0, x0, h, w int) *Image {
	out := New(m.C, h, w)
	for c := range m.C {
		for y := range h {
			copy(out.Pix[(c*h+y)*w:(c*h+y+1)*w], m.Pix[(c*m.H+y0+y)*m.W+x0:])
		}
	}
	return out
}

// Clamp limits every sample to [0, 1].
func (m *Image) Clamp() {
	for i, v := range m.Pix {
		m.Pix[i] = min(max(v, 0), 1)
	}
}

// Quantize rounds every sample to the nearest of 256 levels in [0, 1], as
// saving to an 8-bit file does.
func (m *Image) Quantize() {
	for i, v := range m.Pix {
		m.Pix[i] = float32(to8(v)) / 255
	}
}

func to8(v float32) uint8 {
	v = v*255 + 0.5
	if v <= 0 || v != v {
		return 0
	}
	if v >= 255 {
		return 255
	}
	return uint8(v)
}

// Read decodes a PNG, JPEG or BMP file.
func Read(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("imageio: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("imageio: %s is a folder; pass one image file here (eval and train take folders)", path)
	}
	img, err := Decode(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("imageio: %s: %w", path, err)
	}
	return img, nil
}

// Decode decodes a PNG, JPEG or BMP stream, refusing images over MaxPixels
// before allocating them.
func Decode(r io.Reader) (img image.Image, err error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReader(r)
	}
	head, _ := br.Peek(512)
	cfg, _, err := image.DecodeConfig(bytesReader(head))
	if err != nil && len(head) < 512 {
		if errors.Is(err, image.ErrFormat) {
			return nil, ErrFormat
		}
		return nil, fmt.Errorf("damaged image header (%w): truncated or corrupt; re-export or re-download it", err)
	}
	if err == nil && (cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > MaxPixels) {
		return nil, fmt.Errorf("image is %d×%d; sizes up to %d pixels are supported", cfg.Width, cfg.Height, MaxPixels)
	}
	defer func() {
		if r := recover(); r != nil { // decoders of x/image must not crash the caller
			img, err = nil, fmt.Errorf("damaged image (%v); re-export or re-download it", r)
		}
	}()
	img, _, err = image.Decode(br)
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return nil, ErrFormat
		}
		return nil, fmt.Errorf("damaged image (%w): truncated or corrupt; re-export or re-download it", err)
	}
	b := img.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 || b.Dx()*b.Dy() > MaxPixels {
		return nil, fmt.Errorf("image is %d×%d; sizes up to %d pixels are supported", b.Dx(), b.Dy(), MaxPixels)
	}
	return img, nil
}

type byteReader struct {
	b []byte
	i int
}

func bytesReader(b []byte) io.Reader { return &byteReader{b: b} }

func (r *byteReader) Read(p []byte) (int, error) {
	if r.i >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.i:])
	r.i += n
	return n, nil
}

// IsGrey reports whether img is stored as a grey image, or every pixel has
// R = G = B.
func IsGrey(img image.Image) bool {
	switch img.(type) {
	case *image.Gray, *image.Gray16:
		return true
	}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r != g || g != bl {
				return false
			}
		}
	}
	return true
}

// RGB converts img to a 3-channel image in [0, 1] (alpha is ignored).
func RGB(img image.Image) *Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	out := New(3, h, w)
	n := w * h
	for y := range h {
		for x := range w {
			r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			i := y*w + x
			out.Pix[i] = float32(r) / 65535
			out.Pix[n+i] = float32(g) / 65535
			out.Pix[2*n+i] = float32(bl) / 65535
		}
	}
	return out
}

// Grey converts img to one channel in [0, 1]: grey images as stored,
// colour images by BT.601 luma (0.299 R + 0.587 G + 0.114 B).
func Grey(img image.Image) *Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	out := New(1, h, w)
	if g, ok := img.(*image.Gray); ok {
		for y := range h {
			for x := range w {
				out.Pix[y*w+x] = float32(g.Pix[(y)*g.Stride+x]) / 255
			}
		}
		return out
	}
	for y := range h {
		for x := range w {
			r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			out.Pix[y*w+x] = (0.299*float32(r) + 0.587*float32(g) + 0.114*float32(bl)) / 65535
		}
	}
	return out
}

// RGBToGrey is Grey for a 3-channel image (BT.601 luma).
func RGBToGrey(m *Image) *Image {
	if m.C == 1 {
		return m.Clone()
	}
	out := New(1, m.H, m.W)
	r, g, b := m.Plane(0), m.Plane(1), m.Plane(2)
	for i := range out.Pix {
		out.Pix[i] = 0.299*r[i] + 0.587*g[i] + 0.114*b[i]
	}
	return out
}

// GreyToRGB replicates one channel three times.
func GreyToRGB(m *Image) *Image { return Stack(m, m, m) }

// ToImage converts a 1- or 3-channel image to an 8-bit image.Gray or
// image.RGBA, clamping to [0, 1] and rounding.
func (m *Image) ToImage() (image.Image, error) {
	switch m.C {
	case 1:
		g := image.NewGray(image.Rect(0, 0, m.W, m.H))
		for i, v := range m.Pix {
			g.Pix[i] = to8(v)
		}
		return g, nil
	case 3:
		o := image.NewRGBA(image.Rect(0, 0, m.W, m.H))
		n := m.H * m.W
		for i := range n {
			o.Pix[4*i] = to8(m.Pix[i])
			o.Pix[4*i+1] = to8(m.Pix[n+i])
			o.Pix[4*i+2] = to8(m.Pix[2*n+i])
			o.Pix[4*i+3] = 255
		}
		return o, nil
	}
	return nil, fmt.Errorf("imageio: %d channels cannot be written as an image; want 1 or 3", m.C)
}

// WritePNG writes m atomically as an 8-bit PNG (grey or RGB).
func WritePNG(path string, m *Image) error {
	img, err := m.ToImage()
	if err != nil {
		return err
	}
	if ext := strings.ToLower(filepath.Ext(path)); ext != ".png" {
		return fmt.Errorf("imageio: %s: only PNG output is supported; name the file *.png", path)
	}
	if err := atomicfile.WriteFile(path, func(w io.Writer) error { return png.Encode(w, img) }, 0o644); err != nil {
		return fmt.Errorf("imageio: write %s: %w", path, err)
	}
	return nil
}

// WriteImagePNG writes any image.Image atomically as PNG.
func WriteImagePNG(path string, img image.Image) error {
	if err := atomicfile.WriteFile(path, func(w io.Writer) error { return png.Encode(w, img) }, 0o644); err != nil {
		return fmt.Errorf("imageio: write %s: %w", path, err)
	}
	return nil
}

// IsSet tells whether path names a set of pictures as List reads one: a
// folder, or, not existing as spelled, a glob pattern or a comma list. A
// file, or a missing path without those, is not a set.
func IsSet(path string) bool {
	fi, err := os.Stat(path)
	if err == nil {
		return fi.IsDir()
	}
	return errors.Is(err, fs.ErrNotExist) && strings.ContainsAny(path, "*?[,")
}

// List returns the image files (.png, .jpg, .jpeg, .bmp) in dir, sorted; a
// file path is returned as itself. A path that does not exist but holds a
// glob pattern (sr/urban100/img_0[0-7]*) lists the image files it matches,
// so a set can be split into training and held-out pictures without copying.
// A path that does not exist but holds commas is a list of such paths,
// listed in the order given (each part sorted), as train's --data takes.
func List(path string) ([]string, error) {
	fi, err := os.Stat(path)
	missing := err != nil && errors.Is(err, fs.ErrNotExist)
	if missing && strings.Contains(path, ",") {
		var out []string
		seen := map[string]bool{}
		for _, part := range strings.Split(path, ",") {
			files, err := List(part)
			if err != nil {
				return nil, err
			}
			for _, f := range files {
				if !seen[f] {
					seen[f] = true
					out = append(out, f)
				}
			}
		}
		return out, nil
	}
	if missing && strings.ContainsAny(path, "*?[") {
		return glob(path)
	}
	if err != nil {
		return nil, fmt.Errorf("imageio: %w", err)
	}
	if !fi.IsDir() {
		return []string{path}, nil
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("imageio: %w", err)
	}
	var out []string
	for _, e := range ents {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".png", ".jpg", ".jpeg", ".bmp":
			if !e.IsDir() {
				out = append(out, filepath.Join(path, e.Name()))
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("imageio: %s holds no .png, .jpg or .bmp files", path)
	}
	slices.Sort(out)
	return out, nil
}

func glob(pattern string) ([]string, error) {
	matches, err := filepath.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("imageio: pattern %s: %w", pattern, err)
	}
	var out []string
	for _, m := range matches {
		switch strings.ToLower(filepath.Ext(m)) {
		case ".png", ".jpg", ".jpeg", ".bmp":
			if fi, err := os.Stat(m); err == nil && !fi.IsDir() {
				out = append(out, m)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("imageio: %s matches no .png, .jpg or .bmp files", pattern)
	}
	return out, nil // filepath.Glob sorts
}

var _ color.Model = color.GrayModel
