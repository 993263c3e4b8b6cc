package ae

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// ErrNotPictures is wrapped by the errors of LoadData and
// StreamPreprocessor for data that holds no pictures when the model reads
// pictures: a table, or a file format without images. Callers tell a
// wrong file from a broken one by it.
var ErrNotPictures = errors.New("ae: the model reads pictures")

// picturesError is an ErrNotPictures error whose text, naming the file
// first, is the whole message.
type picturesError struct{ msg string }

func (e *picturesError) Error() string { return e.msg }
func (e *picturesError) Unwrap() error { return ErrNotPictures }

// LoadData reads the data file at path the way m reads data, so that the
// rows are what m was trained on: with m's own preprocessing when it has
// one (the label and dropped columns, scaling and categories of its
// training file), else as the pixels or arrays image models are trained
// on (dataset.Load's own scaling), whatever opt.Scale says. window
// is the number of consecutive rows one sample of a time-series model
// spans (1 otherwise). The rows are shaped as m's input, and a file laid
// out otherwise is refused, naming path.
func (m *Model) LoadData(path string, opt dataset.LoadOptions, window int) (*dataset.Dataset, error) {
	var ds *dataset.Dataset
	var err error
	if pre := m.Preprocess; pre != nil {
		if ds, err = dataset.LoadWith(path, pre, opt); err != nil {
			return nil, err
		}
	} else {
		opt.Scale = "" // pixels as image models are trained on them
		if ds, err = dataset.Load(path, opt); err != nil {
			return nil, err
		}
		if ds.Pre.Kind == dataset.KindTable {
			return nil, m.tableError(path)
		}
	}
	switch in := m.Config.Input; {
	case in == nil:
		if len(ds.Shape) != 3 || ds.Shape[0] != m.Config.Channels {
			return nil, fmt.Errorf("%s: samples of shape %v; the model takes %d-channel images", path, ds.Shape, m.Config.Channels)
		}
	case ds.Dim()*window != tensor.Size(in):
		return nil, fmt.Errorf("%s: %d values per row after preprocessing, the model expects %d (shape %v); pass data laid out like the training data", path, ds.Dim(), tensor.Size(in)/window, in)
	default:
		if window == 1 && !slices.Equal(ds.Shape, in) {
			ds.X = tensor.From(ds.X.Data, append([]int{ds.Len()}, in...)...)
			ds.Shape = in
		}
	}
	return ds, nil
}

// StreamPreprocessor is the preprocessing to stream the data file at path
// through m with (dataset.OpenStream), and the per-sample shape m takes:
// m's own, or for an image model, which reads pixels, one made for the
// file: IDX and integer NPY pixels 0–255 scaled to [0, 1], float NPY
// images taken as they are (already scaled). An image model of any size
// takes the shape of the file's first sample.
func (m *Model) StreamPreprocessor(path string, opt dataset.LoadOptions) (*dataset.Preprocessor, []int, error) {
	if m.Preprocess != nil {
		return m.Preprocess, m.Config.Input, nil
	}
	shape := m.Config.Input
	if f, _ := dataset.DetectFormat(path); f == dataset.FormatCSV && opt.Format == "" {
		return nil, nil, m.tableError(path)
	}
	if shape == nil {
		probe := opt
		probe.MaxRows = 1
		ds, err := dataset.Load(path, probe)
		if err != nil {
			return nil, nil, err
		}
		if len(ds.Shape) != 3 || ds.Shape[0] != m.Config.Channels {
			return nil, nil, fmt.Errorf("%s: samples of shape %v, the model takes %d-channel images", path, ds.Shape, m.Config.Channels)
		}
		shape = ds.Shape
	}
	format := dataset.Format(strings.ToLower(string(opt.Format)))
	if format == "" {
		format, _ = dataset.DetectFormat(path)
	}
	if format != dataset.FormatIDX && format != dataset.FormatNPY {
		return nil, nil, &picturesError{fmt.Sprintf("%s is not an IDX or NPY file of images, and the model reads images (%s); pass one", path, m.pictureInput())}
	}
	scale := dataset.ScaleUnit
	if format == dataset.FormatNPY {
		if dt, _, err := dataset.NPYDtype(path); err == nil && strings.ContainsRune(dt, 'f') {
			scale = dataset.ScaleNone
		}
	}
	return &dataset.Preprocessor{Kind: dataset.KindImage, Format: format, InputShape: shape, Scale: scale, LabelIndex: -1, Missing: "error"}, shape, nil
}

// tableError refuses the table at path for an image model.
func (m *Model) tableError(path string) error {
	return &picturesError{fmt.Sprintf("%s is a table, and the model reads images (%s); pass an IDX or NPY file of images", path, m.pictureInput())}
}

// pictureInput describes the pictures an image model takes.
func (m *Model) pictureInput() string {
	if in := m.Config.Input; len(in) == 3 {
		return fmt.Sprintf("%d×%d, %d channel(s)", in[2], in[1], in[0])
	}
	return fmt.Sprintf("%d channel(s), any size", m.Config.InChannels())
}

// FeatureNames names n columns of m's input or output for a table of
// them (a CSV file of reconstructions, of samples): the features of
// m's preprocessing when it has n of them ("duration", "service=http",
// …), else x0, x1, … .
func (m *Model) FeatureNames(n int) []string {
	if pre := m.Preprocess; pre != nil {
		if f := pre.Features(); len(f) == n {
			return f
		}
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("x%d", i)
	}
	return names
}
