package nn

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Layer specs are the text form of a layer, as model configs store them and
// the command line takes them:
//
//	dense:N                Dense to N features (needs a fixed input size)
//	conv:OUT:K[:sS][:dD]   Conv2D, "same" padding d·(K-1)/2, stride S, dilation D
//	convt:OUT:K[:sS]       ConvTranspose2D, output exactly S× the input
//	relu, leakyrelu, sigmoid, tanh, gelu, identity
//	bn                     BatchNorm2D (running statistics are saved)
//	maxpool:K, avgpool:K   pooling with stride K
//	upsample:S[:bilinear]  nearest (default) or bilinear upsampling
//	shuffle:R, unshuffle:R PixelShuffle / PixelUnshuffle
//	flatten, reshape:C:H:W, dropout:P
//	abmean:T               a colorizer's a,b from its class logits (see ABMean)
//
// A dense autoencoder and a DnCNN-style denoiser are two lists of specs.

// SpecInput is the input a list of specs is built for: the channel count,
// and the per-sample shape when it is fixed (nil for fully convolutional
// layers that take any image size).
type SpecInput struct {
	Channels int
	Shape    []int
}

// ParseSpecs builds fresh layers from specs, in order. Channels are tracked
// from in.Channels; with a fixed in.Shape the layers are set up along the
// way, so dense layers know their input width.
func ParseSpecs(specs []string, in SpecInput) ([]Layer, error) {
	ch, flat := in.Channels, 0
	var cur []int
	if in.Shape != nil {
		cur = slices.Clone(in.Shape)
		flat = tensor.Size(cur)
	}
	out := make([]Layer, 0, len(specs))
	for i, s := range specs {
		l, err := parseSpec(s, &ch, &flat)
		if err != nil {
			return nil, fmt.Errorf("layer %d %q: %w", i, s, err)
		}
		if cur != nil {
			if cur, err = l.Setup(cur); err != nil {
				return nil, fmt.Errorf("layer %d %q: %w", i, s, err)
			}
			flat = tensor.Size(cur)
			if len(cur) == 3 {
				ch = cur[0]
			}
		}
		out = append(out, l)
	}
	return out, nil
}

// SpecMultiple is the factor every input side must be a multiple of for
// specs: the product of the strides, pools and unshuffles on the way down
// to the deepest point.
func SpecMultiple(specs []string) int {
	m, best := 1, 1
	for _, s := range specs {
		f := strings.Split(s, ":")
		switch f[0] {
		case "conv":
			for _, o := range f[min(3, len(f)):] {
				if v, ok := strings.CutPrefix(o, "s"); ok {
					n, _ := strconv.Atoi(v)
					m *= max(n, 1)
				}
			}
		case "maxpool", "avgpool", "unshuffle":
			if len(f) > 1 {
				n, _ := strconv.Atoi(f[1])
				m *= max(n, 1)
			}
		case "convt", "upsample", "shuffle":
			// up again: the multiple is the deepest point
		}
		best = max(best, m)
	}
	return best
}

func specInt(f []string, i int, what string) (int, error) {
	if i >= len(f) {
		return 0, fmt.Errorf("missing %s", what)
	}
	n, err := strconv.Atoi(f[i])
	if err != nil || n < 1 || n > 1<<16 {
		return 0, fmt.Errorf("%s %q is not a positive integer up to 65536", what, f[i])
	}
	return n, nil
}

func parseSpec(s string, ch, flat *int) (Layer, error) {
	f := strings.Split(strings.TrimSpace(s), ":")
	switch f[0] {
	case "conv", "convt":
		out, err := specInt(f, 1, "output channels")
		if err != nil {
			return nil, err
		}
		k, err := specInt(f, 2, "kernel size")
		if err != nil {
			return nil, err
		}
		stride, dil := 1, 1
		for _, o := range f[3:] {
			v, err := strconv.Atoi(o[min(1, len(o)):])
			if err != nil || v < 1 || v > 64 || len(o) < 2 {
				return nil, fmt.Errorf("option %q: want sN (stride) or dN (dilation)", o)
			}
			switch o[0] {
			case 's':
				stride = v
			case 'd':
				dil = v
			default:
				return nil, fmt.Errorf("option %q: want sN (stride) or dN (dilation)", o)
			}
		}
		if *ch < 1 {
			return nil, fmt.Errorf("no input channels: a convolution needs image input [C H W]")
		}
		in := *ch
		*ch = out
		if f[0] == "conv" {
			return NewConv2D(in, out, k, stride, dil*(k-1)/2, dil), nil
		}
		if dil != 1 {
			return nil, fmt.Errorf("convt has no dilation")
		}
		p := (k - 1) / 2
		op := stride + 2*p - k
		if op < 0 || op >= max(stride, 1) {
			return nil, fmt.Errorf("kernel %d with stride %d cannot give exactly %d× the input", k, stride, stride)
		}
		return NewConvTranspose2D(in, out, k, stride, p, op), nil
	case "bn":
		if *ch < 1 {
			return nil, fmt.Errorf("bn needs image input [C H W]")
		}
		return NewBatchNorm2D(*ch), nil
	case "maxpool", "avgpool":
		k, err := specInt(f, 1, "pool size")
		if err != nil {
			return nil, err
		}
		if f[0] == "maxpool" {
			return NewMaxPool2D(k, k, 0), nil
		}
		return NewAvgPool2D(k, k, 0), nil
	case "upsample":
		k, err := specInt(f, 1, "scale")
		if err != nil {
			return nil, err
		}
		mode := UpsampleNearest
		if len(f) > 2 {
			mode = f[2]
		}
		return NewUpsample(k, mode), nil
	case "shuffle", "unshuffle":
		r, err := specInt(f, 1, "factor")
		if err != nil {
			return nil, err
		}
		if f[0] == "shuffle" {
			if *ch%(r*r) != 0 {
				return nil, fmt.Errorf("%d channels are not a multiple of %d", *ch, r*r)
			}
			*ch /= r * r
			return NewPixelShuffle(r), nil
		}
		*ch *= r * r
		return NewPixelUnshuffle(r), nil
	case "flatten":
		return NewFlatten(), nil
	case "reshape":
		var dims []int
		for i := 1; i < len(f); i++ {
			d, err := specInt(f, i, "dimension")
			if err != nil {
				return nil, err
			}
			dims = append(dims, d)
		}
		if len(dims) != 3 {
			return nil, fmt.Errorf("want reshape:C:H:W")
		}
		*ch = dims[0]
		*flat = tensor.Size(dims)
		return NewReshape(dims...), nil
	case "dense":
		n, err := specInt(f, 1, "width")
		if err != nil {
			return nil, err
		}
		if *flat <= 0 {
			return nil, fmt.Errorf("dense needs a fixed input shape")
		}
		in := *flat
		*flat = n
		*ch = 0
		return NewDense(in, n), nil
	case "abmean":
		if len(f) < 2 {
			return nil, fmt.Errorf("want abmean:T (the temperature, e.g. 0.38)")
		}
		t, err := strconv.ParseFloat(f[1], 64)
		if err != nil || !(t > 0 && t <= 10) {
			return nil, fmt.Errorf("abmean %q: want a temperature 0 < T ≤ 10", f[1])
		}
		if *ch != ABClassCount() {
			return nil, fmt.Errorf("abmean needs %d input channels (one per a,b class), have %d", ABClassCount(), *ch)
		}
		*ch = 2
		return NewABMean(t), nil
	case "dropout":
		if len(f) < 2 {
			return nil, fmt.Errorf("want dropout:P")
		}
		p, err := strconv.ParseFloat(f[1], 64)
		if err != nil || p < 0 || p >= 1 {
			return nil, fmt.Errorf("dropout %q: want 0 ≤ P < 1", f[1])
		}
		return NewDropout(p), nil
	case "":
		return nil, fmt.Errorf("empty layer")
	}
	if len(f) == 1 {
		if a, err := NewActivation(f[0]); err == nil {
			return a, nil
		}
	}
	return nil, fmt.Errorf("unknown layer %q (see the layer specs in package nn)", f[0])
}
