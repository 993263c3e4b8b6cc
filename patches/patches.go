// Package patches samples training patches from folders of images, with
// random flips and 90° rotations, and turns them into the input/target
// pairs of the image tasks: denoising (noise applied fresh every batch),
// super-resolution on the Y channel (bicubic down and up by a random
// scale), colorization (Lab: L in, a,b out) and plain reconstruction.
package patches

import (
	"fmt"
	"image"
	"math/rand/v2"

	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/noise"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Pool holds decoded images as 8-bit planes (grey: 1, colour: 3), so a
// pool of a few hundred photographs stays small.
type Pool struct {
	Colour    bool
	NoAugment bool // no flips or rotations (digits, text)
	ims       []plane8
	pixels    int
}

type plane8 struct {
	h, w int
	pix  []uint8 // channel-major
}

// Load reads every image in the folders or files paths. colour keeps RGB;
// otherwise images are made grey.
func Load(paths []string, colour bool) (*Pool, error) {
	p := &Pool{Colour: colour}
	for _, dir := range paths {
		files, err := imageio.List(dir)
		if err != nil {
			return nil, fmt.Errorf("patches: %w", err)
		}
		for _, f := range files {
			img, err := imageio.Read(f)
			if err != nil {
				return nil, fmt.Errorf("patches: %w", err)
			}
			p.add(img)
		}
	}
	if len(p.ims) == 0 {
		return nil, fmt.Errorf("patches: no images in %v", paths)
	}
	return p, nil
}

// FromImages builds a pool from decoded images (tests, embedded data).
func FromImages(colour bool, imgs ...image.Image) *Pool {
	p := &Pool{Colour: colour}
	for _, im := range imgs {
		p.add(im)
	}
	return p
}

func (p *Pool) add(img image.Image) {
	var m *imageio.Image
	if p.Colour {
		m = imageio.RGB(img)
	} else {
		m = imageio.Grey(img)
	}
	q := plane8{h: m.H, w: m.W, pix: make([]uint8, len(m.Pix))}
	for i, v := range m.Pix {
		q.pix[i] = uint8(min(max(v*255+0.5, 0), 255))
	}
	p.ims = append(p.ims, q)
	p.pixels += m.H * m.W
}

// Len is the number of images.
func (p *Pool) Len() int { return len(p.ims) }

// Image returns image i of the pool as floats in [0, 1].
func (p *Pool) Image(i int) *imageio.Image {
	q := p.ims[i]
	c := len(q.pix) / (q.h * q.w)
	m := imageio.New(c, q.h, q.w)
	for j, v := range q.pix {
		m.Pix[j] = float32(v) / 255
	}
	return m
}

// Pixels is the number of pixels over all images.
func (p *Pool) Pixels() int { return p.pixels }

// MaxSide is the largest patch side the pool can give: the largest
// min(height, width) over its images.
func (p *Pool) MaxSide() int {
	s := 0
	for _, q := range p.ims {
		s = max(s, min(q.h, q.w))
	}
	return s
}

// Sample draws a size×size patch from a random image (weighted by area;
// images smaller than the patch are skipped) at
// a random place, flipped and rotated by one of the 8 symmetries of the
// square, into dst (channels × size × size).
func (p *Pool) Sample(dst *imageio.Image, rng *rand.Rand) {
	size := dst.H
	var q plane8
	for {
		r := rng.IntN(p.pixels)
		for _, c := range p.ims {
			if r < c.h*c.w {
				q = c
				break
			}
			r -= c.h * c.w
		}
		if q.h >= size && q.w >= size {
			break
		}
	}
	y0, x0 := rng.IntN(q.h-size+1), rng.IntN(q.w-size+1)
	sym := 0
	if !p.NoAugment {
		sym = rng.IntN(8)
	}
	for c := range dst.C {
		src := q.pix[c*q.h*q.w:]
		d := dst.Plane(c)
		for y := range size {
			for x := range size {
				sy, sx := y, x
				if sym&1 != 0 {
					sx = size - 1 - sx
				}
				if sym&2 != 0 {
					sy = size - 1 - sy
				}
				if sym&4 != 0 {
					sy, sx = sx, sy
				}
				d[y*size+x] = float32(src[(y0+sy)*q.w+x0+sx]) / 255
			}
		}
	}
}

// Task makes input/target pairs of one kind from a pool.
type Task struct {
	Kind   string       // reconstruct, denoise, upscale, colorize
	Pool   *Pool        //
	Patch  int          // side of the target patch
	Noise  *noise.Model // denoise (and optionally reconstruct): corruption
	Scales []int        // upscale: the scales to draw from

	buf *imageio.Image
}

// Channels returns the input and output channels of the task.
func (t *Task) Channels() (in, out int) {
	switch t.Kind {
	case "colorize":
		return 1, 2
	case "upscale":
		return 1, 1
	}
	if t.Pool.Colour {
		return 3, 3
	}
	return 1, 1
}

// Check reports whether the task can run on its pool.
func (t *Task) Check() error {
	switch t.Kind {
	case "reconstruct", "denoise", "upscale", "colorize":
	default:
		return fmt.Errorf("patches: unknown task %q; want reconstruct, denoise, upscale or colorize", t.Kind)
	}
	if t.Patch < 8 {
		return fmt.Errorf("patches: patch %d is too small; use at least 8", t.Patch)
	}
	if s := t.Pool.MaxSide(); s < t.Patch {
		return fmt.Errorf("patches: no image is %d pixels on both sides (largest patch: %d); lower --patch", t.Patch, s)
	}
	if t.Kind == "denoise" && t.Noise == nil {
		return fmt.Errorf("patches: denoise needs a noise model (--noise gaussian:25)")
	}
	if t.Kind == "upscale" {
		if len(t.Scales) == 0 {
			return fmt.Errorf("patches: upscale needs --scale")
		}
		for _, s := range t.Scales {
			if s < 2 || t.Patch%s != 0 {
				return fmt.Errorf("patches: --patch %d must be a multiple of every scale (%d)", t.Patch, s)
			}
		}
	}
	if (t.Kind == "upscale" || t.Kind == "colorize") && !t.Pool.Colour {
		// grey pools are fine: Y of a grey image is itself, L·a·b of grey has a=b=0
		_ = 0
	}
	return nil
}

// Fill fills x [N, in, P, P] and y [N, out, P, P] with fresh pairs.
func (t *Task) Fill(x, y *tensor.Tensor, rng *rand.Rand) {
	n := x.Rows()
	ch := 1
	if t.Pool.Colour {
		ch = 3
	}
	if t.buf == nil || t.buf.C != ch || t.buf.H != t.Patch {
		t.buf = imageio.New(ch, t.Patch, t.Patch)
	}
	in, out := t.Channels()
	px := t.Patch * t.Patch
	for i := range n {
		t.Pool.Sample(t.buf, rng)
		xs := x.Data[i*in*px : (i+1)*in*px]
		ys := y.Data[i*out*px : (i+1)*out*px]
		switch t.Kind {
		case "reconstruct", "denoise":
			copy(ys, t.buf.Pix)
			if t.Noise != nil {
				t.Noise.Apply(xs, ys, rng)
			} else {
				copy(xs, ys)
			}
		case "upscale":
			hr := luma(t.buf)
			copy(ys, hr.Pix)
			s := t.Scales[rng.IntN(len(t.Scales))]
			lr := imageio.Downscale(hr, s)
			lr.Quantize()
			up := imageio.Upscale(lr, s)
			copy(xs, up.Pix)
		case "colorize":
			rgb := t.buf
			if rgb.C == 1 {
				rgb = imageio.GreyToRGB(rgb)
			}
			lab := imageio.RGBToLab(rgb)
			for j, v := range lab.Plane(0) {
				xs[j] = v / 100
			}
			for j, v := range lab.Pix[px:] {
				ys[j] = v / ABScale
			}
		}
	}
}

// ABScale divides Lab's a and b in colorization models (imageio.ABScale).
const ABScale = imageio.ABScale

// luma is the BT.601 Y of an RGB image, or the grey image itself.
func luma(m *imageio.Image) *imageio.Image {
	if m.C == 1 {
		return m.Clone()
	}
	return imageio.RGBToYCbCr(m).Channels(0, 1)
}
