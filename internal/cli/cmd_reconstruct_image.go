package cli

import (
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strings"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/internal/report"
	"github.com/bottleneck-ml/bottleneck/noise"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// runImageReconstruct is reconstruct for conv image models: on an IDX file
// a grid of originals above outputs (.png) or the outputs (.npy/.csv); on a
// picture the model's output picture (its task: denoised, colorized, or
// reconstructed; upscalers need the upscale command).
func runImageReconstruct(o *reconstructOptions, stdout io.Writer) error {
	m, err := loadConvModel(o.model)
	if err != nil {
		return err
	}
	switch strings.ToLower(filepath.Ext(o.data.path)) {
	case ".png", ".jpg", ".jpeg", ".bmp":
		img, err := readImage(o.data.path)
		if err != nil {
			return err
		}
		var out *imageio.Image
		switch m.Config.Task {
		case ae.TaskColorize:
			out, err = m.Colorize(img)
		case ae.TaskUpscale:
			return usagef("model %s is an upscaler; use 'bottleneck upscale -m %s --scale S'", o.model, o.model)
		default:
			out, err = m.Denoise(img)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", o.data.path, err)
		}
		out.Clamp()
		if err := imageio.WritePNG(o.output, out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s (%d×%d)\n", o.output, out.W, out.H)
		return nil
	}
	ds, err := dataset.Load(o.data.path, dataset.LoadOptions{})
	if err != nil {
		return err
	}
	if len(ds.Shape) != 3 || ds.Shape[0] != m.Config.InChannels {
		return usagef("--data %s: samples have shape %v; the model takes [%d H W] images", o.data.path, ds.Shape, m.Config.InChannels)
	}
	per := tensor.Size(ds.Shape)
	n := ds.Len()
	if strings.EqualFold(filepath.Ext(o.output), ".png") {
		n = max(1, min(o.n, n))
	}
	x := &tensor.Tensor{Shape: append([]int{n}, ds.Shape...), Data: ds.X.Data[:n*per]}
	outT := tensor.New(n, m.Config.OutChannels*ds.Shape[1]*ds.Shape[2])
	bs := max(1, o.batch)
	for lo := 0; lo < n; lo += bs {
		k := min(bs, n-lo)
		xb := &tensor.Tensor{Shape: append([]int{k}, ds.Shape...), Data: x.Data[lo*per : (lo+k)*per]}
		y, err := m.Apply(xb)
		if err != nil {
			return err
		}
		copy(outT.Data[lo*outT.Cols():], y.Data)
	}
	if strings.EqualFold(filepath.Ext(o.output), ".png") {
		rows := [][][]float32{{}, {}}
		for i := range n {
			rows[0] = append(rows[0], x.Data[i*per:(i+1)*per])
			rows[1] = append(rows[1], outT.Row(i))
		}
		if err := report.ImageGrid(o.output, rows, ds.Shape, n); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s: %d originals above their reconstructions\n", o.output, n)
		return nil
	}
	if err := writeMatrix(o.output, outT, nil); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d reconstructions\n", o.output, n)
	return nil
}

// demoDenoise shows the shipped MNIST conv denoiser on the demo's test
// digits: clean, noisy (Gaussian std 0.5, clipped) and denoised rows, with
// the mean PSNR of each.
func demoDenoise(dir string, ds *dataset.Dataset, stdout io.Writer) error {
	const name = "mnist-denoise"
	m, err := loadConvModel(name)
	if err != nil {
		fmt.Fprintf(stdout, "denoising: skipped (%v)\n", err)
		return nil
	}
	nm, _ := noise.Parse("gaussian:127.5,clip")
	r, err := idxScore(m, ds, &nm, 1)
	if err != nil {
		return err
	}
	const n = 12
	per := tensor.Size(ds.Shape)
	noisy := tensor.New(append([]int{n}, ds.Shape...)...)
	rng := rand.New(rand.NewPCG(1, 7))
	for i := range n {
		nm.Apply(noisy.Data[i*per:(i+1)*per], ds.X.Data[i*per:(i+1)*per], rng)
	}
	y, err := m.Apply(noisy)
	if err != nil {
		return err
	}
	rows := [][][]float32{{}, {}, {}}
	big := ds.Shape
	for i := range n {
		var a, b, c []float32
		a, big = enlarge(ds.X.Data[i*per:(i+1)*per], ds.Shape, 3)
		b, _ = enlarge(noisy.Data[i*per:(i+1)*per], ds.Shape, 3)
		c, _ = enlarge(y.Data[i*per:(i+1)*per], ds.Shape, 3)
		rows[0], rows[1], rows[2] = append(rows[0], a), append(rows[1], b), append(rows[2], c)
	}
	path := filepath.Join(dir, "denoising.png")
	if err := report.ImageGrid(path, rows, big, n); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "denoising (shipped %s, Gaussian noise std 0.5, clipped): PSNR noisy %.2f dB → denoised %.2f dB (%d digits)\n", name, r.NoisyPSNR, r.PSNR, r.N)
	fmt.Fprintf(stdout, "wrote %s (rows: clean, noisy, denoised)\n", path)
	return nil
}
