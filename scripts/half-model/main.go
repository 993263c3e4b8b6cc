// Command half-model stores a model file's tensors in half precision
// (ae.StoreHalf): how the shipped models that would not otherwise fit the
// binary's size budget are stored (docs/MODELS.md). Measure the model's
// numbers on the half file, since those are the weights that ship.
//
//	go run ./scripts/half-model -o zoo/models/NAME.safetensors MODEL.safetensors
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/bottleneck-ml/bottleneck/ae"
	"github.com/bottleneck-ml/bottleneck/internal/atomicfile"
)

func main() {
	out := flag.String("o", "", "output model file (not the input)")
	flag.Parse()
	if flag.NArg() != 1 || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: half-model -o OUT.safetensors IN.safetensors")
		os.Exit(2)
	}
	in := flag.Arg(0)
	if a, b := filepath.Clean(in), filepath.Clean(*out); a == b {
		fail(fmt.Errorf("-o %s is the input; write the half file elsewhere", *out))
	}
	data, err := os.ReadFile(in)
	if err != nil {
		fail(err)
	}
	half, err := ae.StoreHalf(data)
	if err != nil {
		fail(fmt.Errorf("%s: %w", in, err))
	}
	err = atomicfile.WriteFile(*out, func(w io.Writer) error { _, err := w.Write(half); return err }, 0o644)
	if err != nil {
		fail(err)
	}
	fmt.Printf("wrote %s: %d bytes (from %d)\n", *out, len(half), len(data))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "half-model:", err)
	os.Exit(1)
}
