// Command bottleneck trains and runs autoencoders. See 'bottleneck --help'.
package main

import (
	"os"

	"github.com/bottleneck-ml/bottleneck/internal/cli"
)

func main() { os.Exit(cli.Main()) }
