package onnx_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/onnx"
)

// Export a shipped model to an ONNX file, read the file back and import
// it: the same layers come back.
func Example() {
	det, err := anomaly.Open("mnist-conv") // a model file, or a shipped model's name
	if err != nil {
		log.Fatal(err)
	}
	mp, err := onnx.Export(det, onnx.ExportOptions{})
	if err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "onnx-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "mnist-conv.onnx")
	if err := onnx.Save(path, mp); err != nil {
		log.Fatal(err)
	}
	back, err := onnx.Load(path)
	if err != nil {
		log.Fatal(err)
	}
	g := back.GetGraph()
	fmt.Println("input:", g.GetInput()[0].GetName())
	for _, o := range g.GetOutput() {
		fmt.Println("output:", o.GetName())
	}
	m, err := onnx.Import(back, onnx.ImportOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("encoder:", m.Config.Encoder)
	fmt.Println("decoder:", m.Config.Decoder)
	// Output:
	// input: x
	// output: reconstruction
	// output: code
	// encoder: [conv:32:3:s2 relu conv:64:3:s2 relu flatten dense:32]
	// decoder: [dense:3136 relu reshape:64:7:7 convt:32:3:s2 relu convt:1:3:s2 sigmoid]
}
