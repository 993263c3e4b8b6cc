package dataset

import (
	"errors"
	"fmt"
	"io"

	"github.com/bottleneck-ml/bottleneck/tensor"
)

// MapTo runs f, a model's encoder or its whole pass, say, over the
// batches of s, each viewed as samples of shape (the model's input
// shape), and writes f's outputs to w as they come, one row per input
// row: a file larger than memory is encoded or reconstructed in the
// memory of a few batches. f writes into dst when it can (nil at first),
// and its output must have w's columns per row. MapTo stops at the first
// error; w is the caller's to Close, or to Abort after an error.
func (s *Stream) MapTo(w *MatrixWriter, shape []int, f func(dst, x *tensor.Tensor) (*tensor.Tensor, error)) error {
	var y *tensor.Tensor
	for {
		x, err := s.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err == nil && tensor.Size(x.Shape[1:]) != tensor.Size(shape) {
			err = fmt.Errorf("%s: %d features per row after preprocessing, the model expects %d", s.path, x.Cols(), tensor.Size(shape))
		}
		if err == nil {
			y, err = f(y, tensor.From(x.Data, append([]int{x.Rows()}, shape...)...))
		}
		if err == nil {
			err = w.Write(y)
		}
		if err != nil {
			return err
		}
	}
}
