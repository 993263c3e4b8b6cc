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
	// the same file by another spelling or a link is the input too
	if si, err := os.Stat(in); err == nil {
		if so, err := os.Stat(*out); err == nil && os.SameFile(si, so) {
			fail(fmt.Errorf("-o %s is the input %s; write the half file elsewhere", *out, in))
		}
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
