package anomaly

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Windows turns a time series (T rows × D, one row per time step, in time
// order) into sliding windows of size consecutive rows every stride rows,
// each flattened into one sample of size·D values. The last window is
// aligned to the end so every row is covered. It returns the windows and
// the first row of each.
func Windows(x *tensor.Tensor, size, stride int) (*tensor.Tensor, []int, error) {
	t, d := x.Rows(), tensor.Size(x.Shape[1:])
	if size < 1 || stride < 1 {
		return nil, nil, fmt.Errorf("anomaly: window %d, stride %d; both must be at least 1", size, stride)
	}
	if t < size {
		return nil, nil, fmt.Errorf("anomaly: %d rows, fewer than one window of %d; pass a smaller window or more data", t, size)
	}
	var starts []int
	for s := 0; s+size <= t; s += stride {
		starts = append(starts, s)
	}
	if last := t - size; starts[len(starts)-1] != last {
		starts = append(starts, last)
	}
	w := tensor.New(len(starts), size*d)
	for k, s := range starts {
		copy(w.Row(k), x.Data[s*d:(s+size)*d])
	}
	return w, starts, nil
}

// windowDataset is Windows over a dataset: a window is labelled with the
// first label in it that is not normal, else with its first step's (a window
// holding any anomalous step is anomalous).
func windowDataset(ds *dataset.Dataset, size, stride int, normal string) (*dataset.Dataset, error) {
	w, starts, err := Windows(ds.X, size, stride)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ds.Source, err)
	}
	var labels []string
	if ds.Labels != nil {
		labels = make([]string, len(starts))
		isNormal := dataset.NormalMatch(normal)
		for k, s := range starts {
			labels[k] = ds.Labels[s]
			for _, l := range ds.Labels[s : s+size] {
				if !isNormal(l) {
					labels[k] = l
					break
				}
			}
		}
	}
	feats := make([]string, 0, size*ds.Dim())
	for i := range size {
		for _, f := range ds.Features {
			feats = append(feats, "t"+strconv.Itoa(i)+":"+f)
		}
	}
	return &dataset.Dataset{X: w, Shape: []int{w.Cols()}, Labels: labels, Features: feats, Pre: ds.Pre, Source: ds.Source, Warnings: ds.Warnings}, nil
}

// scoreSeries scores every time step of a series x [T, D] with a windowed
// detector: each step gets the mean score of the windows covering it, and
// the mean of its own errors across them.
func (d *Detector) scoreSeries(x *tensor.Tensor, o ScoreOptions) ([]Result, error) {
	rowD := tensor.Size(d.rowShape) / d.window
	if len(x.Shape) < 2 || tensor.Size(x.Shape[1:]) != rowD {
		return nil, fmt.Errorf("anomaly: input %v; this detector scores a time series of rows of %d values (windows of %d rows)", x.Shape, rowD, d.window)
	}
	stride := max(o.Stride, 1)
	win, starts, err := Windows(x, d.window, stride)
	if err != nil {
		return nil, err
	}
	inner := *d // the windows as rows, undecided
	inner.threshold, inner.window = nil, 1
	wo := o
	wo.Errors, wo.Top = true, -1
	ws, err := inner.ScoreWith(win, wo)
	if err != nil {
		return nil, err
	}
	t := x.Rows()
	sum := make([]float64, t)
	mse := make([]float64, t)
	cnt := make([]int, t)
	perr := tensor.New(t, rowD)
	for k, s := range starts {
		for i := range d.window {
			sum[s+i] += ws[k].Score
			mse[s+i] += ws[k].MSE
			cnt[s+i]++
			dst := perr.Row(s + i)
			src := ws[k].Errors[i*rowD : (i+1)*rowD]
			for j := range dst {
				dst[j] += src[j]
			}
		}
	}
	top := o.top()
	res := make([]Result, t)
	for r := range res {
		c := float64(max(cnt[r], 1))
		row := perr.Row(r)
		for j := range row {
			row[j] /= float32(c)
		}
		res[r] = Result{Score: sum[r] / c, MSE: mse[r] / c}
		if d.threshold != nil {
			res[r].Anomaly = d.threshold.IsAnomaly(res[r].Score)
		}
		if top > 0 {
			res[r].Top = Attribute(row, d.groups, top)
		}
		if o.Errors {
			res[r].Errors = slices.Clone(row)
		}
	}
	return res, nil
}
