package cli

import (
	"github.com/spf13/cobra"

	"github.com/bottleneck-ml/bottleneck/ae"
)

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
			return runImageCommand(ae.TaskColorize, o, args[0], defaultColorizer, g, cmd.OutOrStdout())
		},
	}
	o.addCommon(cmd, defaultColorizer)
	cmd.Flags().StringVar(&o.baseline, "grey-out", "", "also write the grey input the model sees to this PNG")
	return cmd
}
