package bench

import (
	"fmt"

	"github.com/bottleneck-ml/bottleneck/nn"
)

// newConvLayer makes the nn layers for the convolution and shape kinds.
func newConvLayer(l Layer) (nn.Layer, error) {
	switch l.Kind {
	case KindConv:
		return nn.NewConv2D(l.In, l.Out, l.K, l.Stride, l.Pad, 1), nil
	case KindConvT:
		return nn.NewConvTranspose2D(l.In, l.Out, l.K, l.Stride, l.Pad, l.OutPad), nil
	case KindFlatten:
		return nn.NewFlatten(), nil
	case KindReshape:
		return nn.NewReshape(l.Shape...), nil
	}
	return nil, fmt.Errorf("unknown layer kind %v", l.Kind)
}
