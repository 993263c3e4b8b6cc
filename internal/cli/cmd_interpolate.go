package cli

import (
	"context"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // decode JPEG inputs
	_ "image/png"  // decode PNG inputs
	"io"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/latent"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

type interpolateOptions struct {
	model    string
	data     dataFlags
	from, to string
	steps    int
	output   string
	linear   bool
}

func newInterpolateCommand(g *globalOptions) *cobra.Command {
	o := &interpolateOptions{}
	cmd := &cobra.Command{
		Use:   "interpolate -m MODEL --from A --to B --steps 10 -o strip.png",
		Short: "Decode the path between the codes of two inputs",
		Long: `Encode two inputs, walk from one code to the other in --steps steps and
decode every point. A and B are image files (PNG or JPEG, the model's
height × width) or row indices of --data. The walk is a straight line for
autoencoders and spherical (slerp) for VAEs, whose prior puts typical
codes on a shell rather than near the origin; --linear forces the line.

A .png output is a strip: A, the decoded steps, B. .npy or .csv writes
the decoded steps, one per row.`,
		Example: `  bottleneck interpolate -m mnist-vae --data t10k-images-idx3-ubyte.gz --from 3 --to 2 --steps 10 -o strip.png
  bottleneck interpolate -m mnist-vae --from a.png --to b.png -o strip.png`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.data.warn = cmd.ErrOrStderr()
			return runInterpolate(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.model, "model", "m", "", "model file or shipped model name (required)")
	o.data.add(f)
	f.StringVar(&o.from, "from", "", "start: image file or row index of --data (required)")
	f.StringVar(&o.to, "to", "", "end: image file or row index of --data (required)")
	f.IntVar(&o.steps, "steps", 10, "points on the path, ends included")
	f.StringVarP(&o.output, "output", "o", "", "output: .png strip, .npy or .csv (required)")
	f.BoolVar(&o.linear, "linear", false, "straight line even for a VAE")
	return cmd
}

func runInterpolate(ctx context.Context, o *interpolateOptions, stdout io.Writer) error {
	if o.output == "" || o.from == "" || o.to == "" {
		return usagef("--from, --to and -o/--output are required")
	}
	if o.steps < 2 || o.steps > 1000 {
		return usagef("--steps %d: want 2 to 1000", o.steps)
	}
	if isConvModel(o.model) {
		cm, err := loadConvModel(o.model)
		if err != nil {
			return err
		}
		return interpolateConv(o, cm, stdout) // latent_conv.go
	}
	m, err := loadModel(o.model)
	if err != nil {
		return err
	}
	var ds *dataset.Dataset
	input := func(ref string) ([]float32, error) {
		if idx, err := strconv.Atoi(ref); err == nil {
			if o.data.path == "" {
				return nil, usagef("%q is a row index: pass --data to pick rows from", ref)
			}
			if ds == nil {
				if ds, err = loadForModel(m, &o.data); err != nil {
					return nil, err
				}
			}
			if idx < 0 || idx >= ds.Len() {
				return nil, usagef("row %d: %s has rows 0 to %d", idx, o.data.path, ds.Len()-1)
			}
			return ds.X.Row(idx), nil
		}
		return readImageInput(ref, m)
	}
	a, err := input(o.from)
	if err != nil {
		return err
	}
	b, err := input(o.to)
	if err != nil {
		return err
	}
	d, k := m.Config.Input(), m.Config.Code
	codes := tensor.New(2, d)
	copy(codes.Row(0), a)
	copy(codes.Row(1), b)
	z := mapRows(m.Encode, codes, k, 2)
	path, kind := latent.Lerp(z.Row(0), z.Row(1), o.steps), "linear"
	if m.IsVAE() && !o.linear {
		path, kind = latent.Slerp(z.Row(0), z.Row(1), o.steps), "spherical"
	}
	zs := tensor.New(o.steps, k)
	for i, p := range path {
		copy(zs.Row(i), p)
	}
	dec := mapRows(m.Decode, zs, d, 256)
	out := dec
	if isPNG(o.output) {
		out = tensor.New(o.steps+2, d)
		copy(out.Row(0), a)
		copy(out.Data[d:], dec.Data)
		copy(out.Row(o.steps+1), b)
	}
	if err := writeSamples(o.output, m, out, out.Rows()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %s interpolation in %d steps from %s to %s\n", o.output, kind, o.steps, o.from, o.to)
	return nil
}

func isPNG(path string) bool {
	n := len(path)
	return n > 4 && (path[n-4:] == ".png" || path[n-4:] == ".PNG")
}

// readImageInput reads an image file as one model input: the model must
// take images scaled to [0,1] (pixels/255), with the file's size.
func readImageInput(path string, m *ae.Model) ([]float32, error) {
	shape, err := pictureShape(m)
	if err != nil {
		return nil, err
	}
	if pre, err := preprocessor(m); err == nil && (pre.Kind != dataset.KindImage || pre.Scale != dataset.ScaleUnit) {
		return nil, usagef("%s: the model was not trained on images scaled to [0,1]; pass row indices of --data instead", path)
	}
	return readPicture(path, shape)
}

// readPicture reads an image file of exactly shape [C H W] as pixels/255.
func readPicture(path string, shape []int) ([]float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w; pass an image file or a row index of --data", path, err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: not a PNG or JPEG image: %w", path, err)
	}
	c, h, w := shape[0], shape[1], shape[2]
	bounds := img.Bounds()
	if bounds.Dx() != w || bounds.Dy() != h {
		return nil, fmt.Errorf("%s: image is %d×%d, the model takes %d×%d", path, bounds.Dx(), bounds.Dy(), w, h)
	}
	out := make([]float32, c*h*w)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			px := img.At(bounds.Min.X+x, bounds.Min.Y+y)
			if c == 1 {
				g := color.GrayModel.Convert(px).(color.Gray)
				out[y*w+x] = float32(g.Y) / 255
				continue
			}
			r, gg, bb, _ := px.RGBA()
			out[0*h*w+y*w+x] = float32(r>>8) / 255
			out[1*h*w+y*w+x] = float32(gg>>8) / 255
			out[2*h*w+y*w+x] = float32(bb>>8) / 255
		}
	}
	return out, nil
}
