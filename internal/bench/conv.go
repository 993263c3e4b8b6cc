package bench

import (
	"fmt"

	"github.com/bottleneck-ml/bottleneck/nn"
)

// newConvLayer makes the nn layers for the convolution kinds.
func newConvLayer(l Layer) (nn.Layer, error) {
	return nil, fmt.Errorf("bench: %v layers are not in package nn yet", l.Kind)
}
