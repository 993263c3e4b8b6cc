package cli

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/imagetask"
	"github.com/bottleneck-ml/bottleneck/noise"
)

// Default shipped image models per task.
const (
	defaultDenoiser  = "denoise-gray"
	defaultColorizer = "colorize"
)

func defaultUpscaler(scale int) string { return fmt.Sprintf("upscale-x%d", scale) }

// imageCmdOptions are the shared flags of denoise, upscale and colorize.
type imageCmdOptions struct {
	model    string
	output   string
	scale    int
	tile     int
	addNoise string // denoise: corrupt the input first (demonstrations)
	seed     uint64
	baseline string // write the baseline too: the noisy input, the bicubic upscale, the grey input
	ensemble bool
	maxPx    int
	prec     precisionFlag
	temp     float64 // colorize: the annealed mean's temperature (0: the model's)
}

func (o *imageCmdOptions) addCommon(cmd *cobra.Command, def string) {
	cmd.Flags().StringVarP(&o.model, "model", "m", "", "model file or shipped model name (default "+def+"; see 'bottleneck models')")
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "PNG file to write, - for standard output (required)")
	cmd.Flags().IntVar(&o.tile, "tile", imagetask.DefaultTile, "tile side for large images (overlapping tiles keep memory bounded)")
	cmd.Flags().BoolVar(&o.ensemble, "ensemble", false, "average the model over the 8 flips and rotations of the input (8× slower, slightly better)")
	cmd.Flags().IntVar(&o.maxPx, "max-pixels", imageio.MaxPixels, "largest output picture in pixels (width × height); about 40 bytes of memory per pixel")
	o.prec.add(cmd.Flags())
}

func newDenoiseCommand(g *globalOptions) *cobra.Command {
	o := &imageCmdOptions{}
	cmd := &cobra.Command{
		Use:   "denoise [-m MODEL] IN|- -o OUT.png|-",
		Short: "Remove noise from a picture with a convolutional denoising autoencoder",
		Long: `Remove noise from a PNG, JPEG or BMP picture. Without -m the shipped blind
Gaussian denoiser is used (trained for σ from 0 to 55 on the 0-255 scale);
a colour picture is cleaned plane by plane in an opponent colour space
(mean, red−blue, red−2·green+blue), where each plane holds less of the
noise than R, G or B and the colour planes are smooth. Any size works: large
pictures are processed in overlapping tiles blended without seams.`,
		Example: `  bottleneck denoise noisy.png -o clean.png
  bottleneck denoise -m my-denoiser.safetensors noisy.jpg -o clean.png`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImageCommand(ae.TaskDenoise, o, args[0], defaultDenoiser, cmd.OutOrStdout(), g.info(cmd, o.output))
		},
	}
	o.addCommon(cmd, defaultDenoiser)
	cmd.Flags().StringVar(&o.addNoise, "add-noise", "", "first corrupt the (clean) input with this noise, e.g. gaussian:25 (seeded by --seed), to see what the model does")
	cmd.Flags().Uint64Var(&o.seed, "seed", 1, "seed of --add-noise")
	cmd.Flags().StringVar(&o.baseline, "noisy-out", "", "with --add-noise: also write the noisy input to this PNG")
	return cmd
}

func newUpscaleCommand(g *globalOptions) *cobra.Command {
	o := &imageCmdOptions{}
	cmd := &cobra.Command{
		Use:   "upscale [-m MODEL] --scale 2|3|4 IN -o OUT.png",
		Short: "Enlarge a picture 2, 3 or 4 times with a super-resolution network",
		Long: `Enlarge a picture exactly --scale times. The luma (Y of BT.601 YCbCr) is
upscaled bicubically and sharpened by the network; the chroma is upscaled
bicubically. Without -m the shipped upscaler for the scale is used.`,
		Example: `  bottleneck upscale --scale 3 small.png -o big.png
  bottleneck upscale -m my-sr.safetensors --scale 2 small.jpg -o big.png`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.scale < 2 || o.scale > 4 && o.model == "" {
				return usagef("--scale %d: the shipped upscalers take 2, 3 or 4", o.scale)
			}
			return runImageCommand(ae.TaskUpscale, o, args[0], defaultUpscaler(o.scale), cmd.OutOrStdout(), g.info(cmd, o.output))
		},
	}
	o.addCommon(cmd, "upscale-xSCALE")
	cmd.Flags().IntVar(&o.scale, "scale", 2, "enlargement factor: 2, 3 or 4")
	cmd.Flags().StringVar(&o.baseline, "bicubic-out", "", "also write the plain bicubic enlargement to this PNG, for comparison")
	return cmd
}

func newColorizeCommand(g *globalOptions) *cobra.Command {
	o := &imageCmdOptions{}
	cmd := &cobra.Command{
		Use:   "colorize [-m MODEL] IN -o OUT.png",
		Short: "Colour a black-and-white picture",
		Long: `Colour a picture: it is first made grey (the L of CIE Lab), the network
predicts a and b, and the RGB result of the same size is written. Without
-m the shipped colorizer is used.`,
		Example: `  bottleneck colorize old-photo.jpg -o colour.png`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImageCommand(ae.TaskColorize, o, args[0], defaultColorizer, cmd.OutOrStdout(), g.info(cmd, o.output))
		},
	}
	o.addCommon(cmd, defaultColorizer)
	cmd.Flags().StringVar(&o.baseline, "grey-out", "", "also write the grey input the model sees to this PNG")
	cmd.Flags().Float64Var(&o.temp, "temperature", 0, "colorizers that classify colours (colorize-classes): lower gives more vivid colours, 1 the mean colour (default: the model's)")
	return cmd
}

// runImageCommand reads in, applies the task's model and writes o.output.
func runImageCommand(task string, o *imageCmdOptions, in, def string, stdout, info io.Writer) error {
	if o.output == "" {
		return usagef("-o/--output is required: pass the PNG file to write")
	}
	if o.tile < 32 || o.tile > 4096 {
		return usagef("--tile %d: want 32 to 4096", o.tile)
	}
	if err := refuseOverwrite(o.output, in); err != nil {
		return err
	}
	if err := refuseOverwrite(o.baseline, in); err != nil {
		return err
	}
	name := o.model
	if name == "" {
		name = def
	}
	if n, ok := strings.CutPrefix(name, "upscale-x"); ok && task == ae.TaskUpscale && n != strconv.Itoa(o.scale) {
		if _, err := os.Stat(name); err != nil { // a shipped name, not a file
			return usagef("%s is the shipped ×%s upscaler; for --scale %d pass -m upscale-x%d, or leave -m out", name, n, o.scale, o.scale)
		}
	}
	if o.maxPx < 1 {
		return usagef("--max-pixels %d: want a positive number of pixels", o.maxPx)
	}
	m, err := openModel(name)
	if err != nil {
		return err
	}
	if err := o.prec.apply(m, info); err != nil {
		return err
	}
	if err := setTemperature(m, o.temp, name); err != nil {
		return err
	}
	if err := imagetask.Check(m, task, o.scale); err != nil {
		return usagef("model %s: %v; pass another model, or leave -m out", name, err)
	}
	img, err := readPictureArg(in)
	if err != nil {
		return err
	}
	if o.addNoise != "" {
		nm, err := noise.Parse(o.addNoise)
		if err != nil {
			return usagef("--add-noise: %v", err)
		}
		if img, _, _, err = imagetask.Degrade(task, img, imagetask.Degradation{Noise: &nm, Seed: o.seed}); err != nil {
			return err
		}
	} else if o.baseline != "" && task == ae.TaskDenoise {
		return usagef("--noisy-out needs --add-noise")
	}
	if o.baseline != "" { // what the model is compared with
		base, _ := imagetask.Baseline(task, img, o.scale)
		base = base.Clone()
		base.Clamp()
		if err := imageio.WritePNG(o.baseline, base); err != nil {
			return err
		}
	}
	opt := imagetask.Options{Tile: o.tile, Ensemble: o.ensemble, MaxPixels: o.maxPx}
	start := time.Now()
	out, err := imagetask.Apply(m, task, img, o.scale, opt)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	out.Clamp()
	if err := writePicture(o.output, out, stdout); err != nil {
		return err
	}
	fmt.Fprintf(info, "%s: %d×%d → %s %d×%d (%s, %.2f s)\n", in, img.W, img.H, o.output, out.W, out.H, name, time.Since(start).Seconds())
	return nil
}

// setTemperature applies --temperature (0: the model's own) to the model
// named name, refusing it for models that do not classify colours.
func setTemperature(m *ae.Model, t float64, name string) error {
	if t == 0 {
		return nil
	}
	if err := m.SetTemperature(t); err != nil {
		return usagef("--temperature with model %s: %v", name, err)
	}
	return nil
}
