package cli

import (
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/latent"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// generate and interpolate for convolutional models with a code (a fixed
// input shape): the conv VAE samples its prior, a conv autoencoder a
// Gaussian fitted to the codes of --data, as the dense commands do.

// convImages loads an IDX file (or NPY of images) for a conv model with a
// fixed input shape, as flat rows of pixels in [0,1].
func convImages(m *ae.ConvModel, path string) (*tensor.Tensor, error) {
	if path == "" {
		return nil, usagef("--data is required: an IDX file of images of the model's size")
	}
	ds, err := dataset.Load(path, dataset.LoadOptions{})
	if err != nil {
		return nil, err
	}
	return convRows(m, ds)
}

// convRows checks that a dataset's samples fit the conv model and returns
// them as flat rows.
func convRows(m *ae.ConvModel, ds *dataset.Dataset) (*tensor.Tensor, error) {
	shape := m.Config.InputShape
	if tensor.Size(ds.Shape) != tensor.Size(shape) {
		return nil, usagef("--data %s: samples of shape %v; the model takes %v", ds.Source, ds.Shape, shape)
	}
	return tensor.From(ds.X.Data, ds.Len(), tensor.Size(shape)), nil
}

// convEncodeRows encodes flat rows of images in batches.
func convEncodeRows(m *ae.ConvModel, x *tensor.Tensor) (*tensor.Tensor, error) {
	k, d := m.CodeSize(), x.Cols()
	out := tensor.New(x.Rows(), k)
	const batch = 256
	for lo := 0; lo < x.Rows(); lo += batch {
		hi := min(lo+batch, x.Rows())
		c, err := m.Encode(tensor.From(x.Data[lo*d:hi*d], append([]int{hi - lo}, m.Config.InputShape...)...))
		if err != nil {
			return nil, err
		}
		copy(out.Data[lo*k:hi*k], c.Data)
	}
	return out, nil
}

// convDecodeRows decodes codes into flat rows of images.
func convDecodeRows(m *ae.ConvModel, z *tensor.Tensor) (*tensor.Tensor, error) {
	k := z.Cols()
	var out *tensor.Tensor
	const batch = 256
	for lo := 0; lo < z.Rows(); lo += batch {
		hi := min(lo+batch, z.Rows())
		y, err := m.Decode(tensor.From(z.Data[lo*k:hi*k], hi-lo, k))
		if err != nil {
			return nil, err
		}
		d := len(y.Data) / (hi - lo)
		if out == nil {
			out = tensor.New(z.Rows(), d)
		}
		copy(out.Data[lo*d:hi*d], y.Data)
	}
	return out, nil
}

// writeConvSamples writes flat rows of the model's output images as a PNG
// grid or a matrix (.npy/.csv).
func writeConvSamples(path string, m *ae.ConvModel, x *tensor.Tensor, cols int) error {
	shape := append([]int{m.Config.OutChannels}, m.Config.InputShape[1:]...)
	if isPNG(path) {
		return writeGrid(path, shape, x, cols)
	}
	names := make([]string, x.Cols())
	for i := range names {
		names[i] = "x" + strconv.Itoa(i)
	}
	return writeMatrix(path, x, names)
}

func generateConv(o *generateOptions, m *ae.ConvModel, stdout io.Writer) error {
	if m.CodeSize() == 0 {
		return usagef("%s is a fully convolutional image model without a code to sample", o.model)
	}
	rng := rand.New(rand.NewPCG(o.seed, 0x67656e))
	how := "the prior N(0, I)"
	var z *tensor.Tensor
	if m.IsVAE() {
		z = tensor.New(o.n, m.CodeSize())
		for i := range z.Data {
			z.Data[i] = float32(rng.NormFloat64())
		}
	} else {
		if o.data.path == "" {
			return usagef("%s is not a VAE and has no prior to sample: pass --data, and codes are drawn from a Gaussian fitted to that data's codes", o.model)
		}
		x, err := convImages(m, o.data.path)
		if err != nil {
			return err
		}
		codes, err := convEncodeRows(m, x)
		if err != nil {
			return err
		}
		mean, std := columnStats(codes)
		k := codes.Cols()
		z = tensor.New(o.n, k)
		for i := range o.n {
			for j := range k {
				z.Data[i*k+j] = float32(mean[j] + std[j]*rng.NormFloat64())
			}
		}
		how = fmt.Sprintf("a Gaussian fitted to the codes of %d images of %s", x.Rows(), o.data.path)
	}
	samples, err := convDecodeRows(m, z)
	if err != nil {
		return err
	}
	if err := writeConvSamples(o.output, m, samples, o.cols); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d samples from %s (seed %d)\n", o.output, o.n, how, o.seed)
	return nil
}

func interpolateConv(o *interpolateOptions, m *ae.ConvModel, stdout io.Writer) error {
	if m.CodeSize() == 0 {
		return usagef("%s is a fully convolutional image model without a code to interpolate", o.model)
	}
	shape := m.Config.InputShape
	var data *tensor.Tensor
	input := func(ref string) ([]float32, error) {
		if idx, err := strconv.Atoi(ref); err == nil {
			if data == nil {
				if data, err = convImages(m, o.data.path); err != nil {
					return nil, err
				}
			}
			if idx < 0 || idx >= data.Rows() {
				return nil, usagef("row %d: %s has rows 0 to %d", idx, o.data.path, data.Rows()-1)
			}
			return data.Row(idx), nil
		}
		return readPicture(ref, shape)
	}
	a, err := input(o.from)
	if err != nil {
		return err
	}
	b, err := input(o.to)
	if err != nil {
		return err
	}
	d := tensor.Size(shape)
	ends := tensor.New(2, d)
	copy(ends.Row(0), a)
	copy(ends.Row(1), b)
	z, err := convEncodeRows(m, ends)
	if err != nil {
		return err
	}
	path, kind := latent.Lerp(z.Row(0), z.Row(1), o.steps), "linear"
	if m.IsVAE() && !o.linear {
		path, kind = latent.Slerp(z.Row(0), z.Row(1), o.steps), "spherical"
	}
	zs := tensor.New(o.steps, z.Cols())
	for i, p := range path {
		copy(zs.Row(i), p)
	}
	out, err := convDecodeRows(m, zs)
	if err != nil {
		return err
	}
	if isPNG(o.output) && m.Config.OutChannels == shape[0] {
		strip := tensor.New(o.steps+2, d)
		copy(strip.Row(0), a)
		copy(strip.Data[d:], out.Data)
		copy(strip.Row(o.steps+1), b)
		out = strip
	}
	if err := writeConvSamples(o.output, m, out, out.Rows()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %s interpolation in %d steps from %s to %s\n", o.output, kind, o.steps, o.from, o.to)
	return nil
}
