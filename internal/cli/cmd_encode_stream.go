package cli

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/internal/atomicfile"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// encodeStream encodes the data file d in batches and writes the codes to
// output (.npy or .csv), holding one batch of inputs at a time: NPY and CSV
// inputs are read incrementally (dataset.Stream). A VAE writes its mean
// code. The output appears atomically; NPY values go to a temporary file
// first, since the header needs the row count. It returns the rows written.
func encodeStream(m *ae.Model, d *dataFlags, output string, batch int) (int, error) {
	pre, err := preprocessor(m)
	if err != nil {
		return 0, err
	}
	return streamCodes(pre, d, output, batch, m.Config.Input(), m.Config.Code, func(x *tensor.Tensor) (*tensor.Tensor, error) {
		return m.Encode(x), nil
	})
}

// streamCodes is encodeStream for any encoder: rows of dim model-space
// values (after pre) in, k code values per row out.
func streamCodes(pre *dataset.Preprocessor, d *dataFlags, output string, batch, dim, k int, encode func(x *tensor.Tensor) (*tensor.Tensor, error)) (int, error) {
	ext := strings.ToLower(filepath.Ext(output))
	if ext != ".npy" && ext != ".csv" {
		return 0, usagef("output %s: unknown extension; use .npy or .csv", output)
	}
	opt, err := d.options()
	if err != nil {
		return 0, err
	}
	s, err := dataset.OpenStream(d.path, pre, opt, batch)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	each := func(emit func(code []float32) error) error {
		for {
			x, err := s.Next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if x.Cols() != dim {
				return fmt.Errorf("%s: %d features per row after preprocessing, the model expects %d", d.path, x.Cols(), dim)
			}
			z, err := encode(x)
			if err != nil {
				return err
			}
			for i := 0; i < z.Rows(); i++ {
				if err := emit(z.Data[i*k : (i+1)*k]); err != nil {
					return err
				}
			}
		}
	}
	defer func() {
		if d.warn != nil {
			for _, w := range s.Warnings {
				fmt.Fprintf(d.warn, "warning: %s\n", w)
			}
		}
	}()
	if ext == ".csv" {
		err := atomicfile.WriteFile(output, func(w io.Writer) error {
			bw := bufio.NewWriterSize(w, 1<<16)
			bw.WriteString(strings.Join(codeNames(k), ",") + "\n")
			buf := make([]byte, 0, 32)
			err := each(func(code []float32) error {
				for j, v := range code {
					if j > 0 {
						bw.WriteByte(',')
					}
					buf = strconv.AppendFloat(buf[:0], float64(v), 'g', -1, 32)
					bw.Write(buf)
				}
				return bw.WriteByte('\n')
			})
			if err != nil {
				return err
			}
			return bw.Flush()
		}, 0o644)
		return s.Rows(), err
	}
	tmp, err := os.CreateTemp(filepath.Dir(output), ".encode-*.f32")
	if err != nil {
		return 0, fmt.Errorf("encode: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	bw := bufio.NewWriterSize(tmp, 1<<16)
	var b4 [4]byte
	rows := 0
	err = each(func(code []float32) error {
		for _, v := range code {
			binary.LittleEndian.PutUint32(b4[:], math.Float32bits(v))
			bw.Write(b4[:])
		}
		rows++
		return nil
	})
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return 0, err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("encode: %w", err)
	}
	err = atomicfile.WriteFile(output, func(w io.Writer) error {
		if err := dataset.WriteNPYHeader(w, []int{rows, k}); err != nil {
			return err
		}
		_, err := io.Copy(w, tmp)
		return err
	}, 0o644)
	return rows, err
}

// encodeConv writes the codes of a convolutional image model (its encoder
// output, flattened; a VAE's mean) for the images of o.data, scaled to
// [0,1] as image tasks train on them. A model with a fixed input size is
// streamed like a dense one (NPY read incrementally); a fully
// convolutional one takes its image size from the data, loaded whole.
func encodeConv(cm *ae.ConvModel, o *encodeOptions, stdout io.Writer) error {
	shape := cm.Config.InputShape
	if shape == nil {
		opt, err := o.data.options()
		if err != nil {
			return err
		}
		ds, err := dataset.Load(o.data.path, opt)
		if err != nil {
			return err
		}
		if len(ds.Shape) != 3 || ds.Shape[0] != cm.Config.InChannels {
			return fmt.Errorf("%s: samples of shape %v, the conv model takes %d-channel images", o.data.path, ds.Shape, cm.Config.InChannels)
		}
		shape = ds.Shape
	}
	format := dataset.Format(strings.ToLower(o.data.format))
	if format == "" {
		format, _ = dataset.DetectFormat(o.data.path)
	}
	scale := dataset.ScaleUnit // pixels 0–255, as IDX and uint8 NPY hold them
	if format == dataset.FormatNPY {
		if dt, _, err := dataset.NPYDtype(o.data.path); err == nil && strings.ContainsRune(dt, 'f') {
			scale = dataset.ScaleNone // float images are taken as already in [0,1]
		}
	}
	pre := &dataset.Preprocessor{Kind: dataset.KindImage, Format: format, InputShape: shape, Scale: scale, LabelIndex: -1, Missing: "error"}
	k := 0
	if z, err := cm.Encode(tensor.New(append([]int{1}, shape...)...)); err == nil {
		k = len(z.Data)
	} else {
		return err
	}
	rows, err := streamCodes(pre, &o.data, o.output, max(1, o.batch), tensor.Size(shape), k, func(x *tensor.Tensor) (*tensor.Tensor, error) {
		return cm.Encode(tensor.From(x.Data, append([]int{x.Rows()}, shape...)...))
	})
	if err != nil {
		return err
	}
	if rows == 0 {
		return fmt.Errorf("%s: no rows to encode", o.data.path)
	}
	fmt.Fprintf(stdout, "wrote %s: %d codes of size %d\n", o.output, rows, k)
	return nil
}
