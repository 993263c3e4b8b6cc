package imagetask_test

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/imagetask"
	"github.com/bottleneck-ml/bottleneck/noise"
	"github.com/bottleneck-ml/bottleneck/train"
	"github.com/bottleneck-ml/bottleneck/zoo"
)

// Open the shipped blind denoiser and clean a noisy picture: the denoised
// picture is closer to the clean one than the noisy input was.
func Example_denoise() {
	m, err := zoo.Open("denoise-gray")
	if err != nil {
		log.Fatal(err)
	}
	// a clean test picture (in a program: imagetask.ReadImage(path))
	clean := imageio.New(1, 64, 80)
	for y := range 64 {
		for x := range 80 {
			v := 0.2
			if (x/16+y/16)%2 == 0 {
				v = 0.8
			}
			clean.Pix[y*80+x] = float32(v)
		}
	}
	noisy := clean.Clone()
	nm, _ := noise.Parse("gaussian:25")
	nm.Apply(noisy.Pix, clean.Pix, rand.New(rand.NewPCG(1, 2)))

	out, err := imagetask.Denoise(m, noisy, imagetask.Options{})
	if err != nil {
		log.Fatal(err)
	}
	out.Clamp()
	before, _ := imageio.PSNR(clean, noisy, 0)
	after, _ := imageio.PSNR(clean, out, 0)
	fmt.Printf("%d×%d picture, denoised better than noisy: %v\n", out.W, out.H, after > before+5)
	// Output: 80×64 picture, denoised better than noisy: true
}

// Train a small convolutional autoencoder on an IDX file of 28×28 images
// (here 64 synthetic ones written first; point Data at MNIST's
// train-images-idx3-ubyte.gz for the real thing).
func ExampleTrain() {
	dir, err := os.MkdirTemp("", "imagetask-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	idx := filepath.Join(dir, "images-idx3-ubyte")
	if err := writeIDX(idx, 64); err != nil {
		log.Fatal(err)
	}
	m, err := imagetask.Train(context.Background(), imagetask.TrainOptions{
		Task:    "reconstruct",
		Data:    []string{idx},
		Encoder: []string{"conv:8:3:s2", "relu", "conv:16:3:s2", "relu", "flatten", "dense:16"},
		Decoder: []string{"dense:784", "relu", "reshape:16:7:7", "convt:8:3:s2", "relu", "convt:1:3:s2", "sigmoid"},
		Batch:   16, Steps: 10, Seed: 1,
		Fit: train.Options{Epochs: 2},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Config.Input, m.CodeSize(), m.Training.Epochs, m.Training.Steps)
	// Output: [1 28 28] 16 2 10
}

// writeIDX writes n 28×28 grey images of bright squares as an IDX file.
func writeIDX(path string, n int) error {
	b := []byte{0, 0, 8, 3, 0, 0, byte(n >> 8), byte(n), 0, 0, 0, 28, 0, 0, 0, 28}
	for i := range n {
		img := image.NewGray(image.Rect(0, 0, 28, 28))
		for y := 4 + i%8; y < 16+i%8; y++ {
			for x := 6 + i%10; x < 16+i%10; x++ {
				img.Set(x, y, color.Gray{Y: 230})
			}
		}
		b = append(b, img.Pix...)
	}
	return os.WriteFile(path, b, 0o644)
}
