package cli

import (
	"context"
	"fmt"
	_ "image/jpeg" // decode JPEG inputs
	_ "image/png"  // decode PNG inputs
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/latent"
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
			return runInterpolate(cmd.Context(), o, g.info(cmd, o.output))
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
	if err := refuseOverwrite(o.output, o.data.path, o.model, o.from, o.to); err != nil {
		return err
	}
	m, err := openModel(o.model)
	if err != nil {
		return err
	}
	if m.CodeSize() == 0 {
		return usagef("%s is a fully convolutional image model without a code to interpolate", o.model)
	}
	var ds *dataset.Dataset
	input := func(ref string) ([]float32, error) {
		if idx, err := strconv.Atoi(ref); err == nil {
			if o.data.path == "" {
				return nil, usagef("%q is a row index: pass --data to pick rows from", ref)
			}
			if ds == nil {
				if ds, err = loadData(m, &o.data, 1); err != nil {
					return nil, err
				}
			}
			if idx < 0 || idx >= ds.Len() {
				return nil, usagef("row %d: %s has rows 0 to %d", idx, o.data.path, ds.Len()-1)
			}
			return ds.X.Row(idx), nil
		}
		shape, err := pictureShape(m.Config.Input)
		if err != nil {
			return nil, err
		}
		if pre := m.Preprocess; pre != nil && (pre.Kind != dataset.KindImage || pre.Scale != dataset.ScaleUnit) {
			return nil, usagef("%s: the model was not trained on images scaled to [0,1]; pass row indices of --data instead", ref)
		}
		return imageio.ReadSample(ref, shape)
	}
	a, err := input(o.from)
	if err != nil {
		return err
	}
	b, err := input(o.to)
	if err != nil {
		return err
	}
	spherical := m.IsVAE() && !o.linear
	out, err := latent.Interpolate(m, a, b, o.steps, spherical)
	if err != nil {
		return err
	}
	kind := "linear"
	if spherical {
		kind = "spherical"
	}
	if isPNG(o.output) {
		out, _ = latent.Strip(out, a, b)
	}
	if err := writeSamples(o.output, m, out, out.Rows()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %s interpolation in %d steps from %s to %s\n", o.output, kind, o.steps, o.from, o.to)
	return nil
}
