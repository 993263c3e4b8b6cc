package cli

import (
	"github.com/spf13/cobra"

	"github.com/bottleneck-ml/bottleneck/ae"
)

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
			return runImageCommand(ae.TaskUpscale, o, args[0], defaultUpscaler(o.scale), g, cmd.OutOrStdout())
		},
	}
	o.addCommon(cmd, "upscale-xSCALE")
	cmd.Flags().IntVar(&o.scale, "scale", 2, "enlargement factor: 2, 3 or 4")
	cmd.Flags().StringVar(&o.baseline, "bicubic-out", "", "also write the plain bicubic enlargement to this PNG, for comparison")
	return cmd
}
