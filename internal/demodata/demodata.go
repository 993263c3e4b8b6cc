// Package demodata embeds a small MNIST subset (5,000 training and 1,000
// test images with labels, about 1 MB gzipped) so `bottleneck demo` runs on
// a fresh machine with no network and no arguments. Regenerate with
// `go generate ./internal/demodata` from a checkout beside ../shared.
package demodata

//go:generate go run ./gen -src ../../../shared/data/mnist -out .

import "embed"

// FS holds mnist-{train,t10k}-{images,labels}.idx.gz.
//
//go:embed *.idx.gz
var FS embed.FS

// Names of the embedded files.
const (
	TrainImages = "mnist-train-images.idx.gz"
	TrainLabels = "mnist-train-labels.idx.gz"
	TestImages  = "mnist-t10k-images.idx.gz"
	TestLabels  = "mnist-t10k-labels.idx.gz"
)
