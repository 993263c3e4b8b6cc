package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// probeConv runs the probe for a convolutional image model (ae.ConvModel):
// images are read scaled to [0,1] as image tasks train on them, the code
// is the encoder's output flattened.
func probeConv(ctx context.Context, o *probeOptions, g *globalOptions, cm *ae.ConvModel, stdout, stderr io.Writer) error {
	load := func(path string) (*dataset.Dataset, error) {
		d := o.data
		d.path = path
		opt, err := d.options()
		if err != nil {
			return nil, err
		}
		ds, err := dataset.Load(path, opt)
		if err != nil {
			return nil, err
		}
		if !ds.HasLabels() {
			return nil, fmt.Errorf("%s has no labels; the probe needs them: put the labels file beside the IDX images", path)
		}
		if len(ds.Shape) != 3 || ds.Shape[0] != cm.Config.InChannels {
			return nil, fmt.Errorf("%s: samples of shape %v, the conv model takes %d-channel images", path, ds.Shape, cm.Config.InChannels)
		}
		return ds, nil
	}
	tr, err := load(o.train)
	if err != nil {
		return err
	}
	te, err := load(o.test)
	if err != nil {
		return err
	}
	encode := func(ds *dataset.Dataset) (*tensor.Tensor, error) {
		n, d := ds.X.Rows(), ds.X.Cols()
		var out *tensor.Tensor
		const batch = 256
		for lo := 0; lo < n; lo += batch {
			hi := min(lo+batch, n)
			x := tensor.From(ds.X.Data[lo*d:hi*d], append([]int{hi - lo}, ds.Shape...)...)
			z, err := cm.Encode(x)
			if err != nil {
				return nil, err
			}
			k := len(z.Data) / (hi - lo)
			if out == nil {
				out = tensor.New(n, k)
			}
			copy(out.Data[lo*k:hi*k], z.Data)
		}
		return out, nil
	}
	codeTr, err := encode(tr)
	if err != nil {
		return err
	}
	codeTe, err := encode(te)
	if err != nil {
		return err
	}
	return finishProbe(ctx, o, g, "conv", tr, te, codeTr, codeTe, stdout, stderr)
}
