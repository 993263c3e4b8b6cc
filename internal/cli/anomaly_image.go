package cli

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/internal/atomicfile"
)

// scoreImages is a pass of a conv autoencoder over images: one score per
// image (the mean squared error over its pixels and channels).
type scoreImages struct {
	m      *ae.ConvModel
	get    func(i int) (*imageio.Image, error)
	n      int
	names  []string // file names (folders) or nil
	labels []string // IDX labels or nil
}

// openScoreImages reads an IDX file (MNIST-size models) or lists a folder
// of pictures (fully convolutional models take any size).
func openScoreImages(m *ae.ConvModel, path string) (*scoreImages, error) {
	s := &scoreImages{m: m}
	ext := filepath.Ext(path)
	if m.Config.InputShape != nil || ext == ".gz" || ext == ".idx" {
		ds, err := dataset.Load(path, dataset.LoadOptions{})
		if err != nil {
			return nil, err
		}
		if len(ds.Shape) != 3 {
			return nil, usagef("--data %s: samples have shape %v; want images", path, ds.Shape)
		}
		c, h, w := ds.Shape[0], ds.Shape[1], ds.Shape[2]
		s.n, s.labels = ds.Len(), ds.Labels
		s.get = func(i int) (*imageio.Image, error) {
			return &imageio.Image{C: c, H: h, W: w, Pix: ds.X.Row(i)}, nil
		}
		return s, nil
	}
	files, err := imageio.List(path)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, usagef("--data %s: no images (.png, .jpg, .bmp) there", path)
	}
	s.n, s.names = len(files), files
	s.get = func(i int) (*imageio.Image, error) {
		img, err := readImage(files[i])
		if err != nil {
			return nil, err
		}
		if img.C != m.Config.InChannels {
			if m.Config.InChannels == 1 {
				img = imageio.RGBToGrey(img)
			} else {
				img = imageio.GreyToRGB(img)
			}
		}
		return img, nil
	}
	return s, nil
}

// errorMap runs the model on image i: the input, its reconstruction and
// the per-pixel squared error (mean over channels), and the image's score.
func (s *scoreImages) errorMap(i int) (in, out *imageio.Image, perPixel []float32, score float64, err error) {
	in, err = s.get(i)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	out, err = s.m.Run(in)
	if err != nil {
		return nil, nil, nil, 0, fmt.Errorf("image %d: %w", i, err)
	}
	hw := in.H * in.W
	perPixel = make([]float32, hw)
	var sum float64
	for c := 0; c < in.C; c++ {
		a, b := in.Plane(c), out.Plane(c)
		for p := range perPixel {
			d := float64(b[p] - a[p])
			perPixel[p] += float32(d * d / float64(in.C))
			sum += d * d
		}
	}
	return in, out, perPixel, sum / float64(in.C*hw), nil
}

// runScoreImages scores every image with a conv autoencoder: a CSV of
// per-image scores and, with --heatmap DIR, PNG heat-maps of the per-pixel
// error of the most anomalous images.
func runScoreImages(o *scoreOptions, stdout, stderr io.Writer) error {
	m, err := loadConvModel(o.model)
	if err != nil {
		return err
	}
	if m.Config.OutChannels != m.Config.InChannels {
		return usagef("model %s maps %d channels to %d (task %s); anomaly scores need an autoencoder that reconstructs its input (train --task reconstruct)", o.model, m.Config.InChannels, m.Config.OutChannels, m.Config.Task)
	}
	if o.data.path == "" {
		return usagef("--data is required: an IDX file or a folder of images")
	}
	s, err := openScoreImages(m, o.data.path)
	if err != nil {
		return err
	}
	scores := make([]float64, s.n)
	for i := range scores {
		if _, _, _, scores[i], err = s.errorMap(i); err != nil {
			return err
		}
	}
	// Conv model files carry no threshold: decide by --threshold, else by
	// median + 3.5·MAD of these images' scores (the table default).
	spec, fittedOn := anomaly.Spec{Method: anomaly.MethodMAD, Param: 3.5}, "scored images"
	if o.threshold != "" {
		if spec, err = anomaly.ParseSpec(o.threshold); err != nil {
			return usageError{fmt.Errorf("--threshold: %w", err)}
		}
		if spec.Method == anomaly.MethodF1 {
			return usagef("--threshold f1 needs labelled validation rows; pass value:X, contamination:P, mad:K, sigma:K or pot:Q")
		}
	}
	th, err := anomaly.Fit(spec, scores, nil, fittedOn)
	if err != nil {
		return err
	}
	th.Score = anomaly.MetricMSE
	flagged := 0
	for _, v := range scores {
		if th.IsAnomaly(v) {
			flagged++
		}
	}
	fmt.Fprintf(stderr, "scored %d images: %d anomalous (%.2f%%) at %s\n", s.n, flagged, 100*float64(flagged)/float64(s.n), th.Describe())
	write := func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		bw.WriteString("row,score,anomaly")
		if s.labels != nil {
			bw.WriteString(",label")
		}
		if s.names != nil {
			bw.WriteString(",file")
		}
		bw.WriteByte('\n')
		for i, v := range scores {
			flag := "0"
			if th.IsAnomaly(v) {
				flag = "1"
			}
			bw.WriteString(strconv.Itoa(i) + "," + strconv.FormatFloat(v, 'g', 8, 64) + "," + flag)
			if s.labels != nil {
				bw.WriteString("," + csvField(s.labels[i]))
			}
			if s.names != nil {
				bw.WriteString("," + csvField(s.names[i]))
			}
			bw.WriteByte('\n')
		}
		return bw.Flush()
	}
	if o.output == "" {
		err = write(stdout)
	} else if err = atomicfile.WriteFile(o.output, write, 0o644); err == nil {
		fmt.Fprintf(stderr, "wrote %s\n", o.output)
	}
	if err != nil || o.heatmap == "" {
		return err
	}
	return writeHeatmaps(o, s, scores, stderr)
}

// writeHeatmaps draws, for the --heatmap-top highest-scoring images, a PNG
// of three panels: the input, its reconstruction, and the input in grey
// with the per-pixel squared error laid over it in red (full red at the
// largest pixel error among the images drawn, so maps compare).
func writeHeatmaps(o *scoreOptions, s *scoreImages, scores []float64, stderr io.Writer) error {
	if err := os.MkdirAll(o.heatmap, 0o755); err != nil {
		return err
	}
	order := byScore(scores)[:min(max(o.heatmapTop, 0), s.n)]
	type panel struct {
		in, out *imageio.Image
		err     []float32
	}
	panels := make([]panel, len(order))
	var peak float32
	for k, i := range order {
		in, out, e, _, err := s.errorMap(i)
		if err != nil {
			return err
		}
		panels[k] = panel{in.Clone(), out, e}
		for _, v := range e {
			peak = max(peak, v)
		}
	}
	if peak <= 0 {
		peak = 1
	}
	for k, i := range order {
		p := panels[k]
		h, w := p.in.H, p.in.W
		zoom := max(1, int(math.Ceil(112/float64(min(h, w)))))
		canvas := imageio.New(3, h*zoom, 3*w*zoom)
		for y := 0; y < h*zoom; y++ {
			for x := 0; x < w*zoom; x++ {
				sy, sx := y/zoom, x/zoom
				var g, r float32
				for c := 0; c < p.in.C; c++ {
					g += p.in.At(c, sy, sx) / float32(p.in.C)
				}
				a := min(p.err[sy*w+sx]/peak, 1)
				a = float32(math.Sqrt(float64(a))) // show small errors too
				for c := 0; c < 3; c++ {
					ic, oc := min(c, p.in.C-1), min(c, p.out.C-1)
					canvas.Pix[(c*canvas.H+y)*canvas.W+x] = p.in.At(ic, sy, sx)
					canvas.Pix[(c*canvas.H+y)*canvas.W+w*zoom+x] = min(max(p.out.At(oc, sy, sx), 0), 1)
					r = g * (1 - a)
					if c == 0 {
						r += a
					}
					canvas.Pix[(c*canvas.H+y)*canvas.W+2*w*zoom+x] = r
				}
			}
		}
		name := filepath.Join(o.heatmap, fmt.Sprintf("rank%03d-row%d.png", k+1, i))
		if err := imageio.WritePNG(name, canvas); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "wrote %d heat-maps to %s (input | reconstruction | error in red), most anomalous first\n", len(order), o.heatmap)
	return nil
}
