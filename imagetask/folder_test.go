package imagetask

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bottleneck-ml/bottleneck/imageio"
)

func TestReadFolder(t *testing.T) {
	dir := t.TempDir()
	grey, rgb := imageio.New(1, 4, 5), imageio.New(3, 4, 5)
	for i := range grey.Pix {
		grey.Pix[i] = float32(i%7) / 7
	}
	for i := range rgb.Pix {
		rgb.Pix[i] = float32(i%5) / 5
	}
	for name, img := range map[string]*imageio.Image{"b.png": grey, "a.png": rgb} {
		if err := imageio.WritePNG(filepath.Join(dir, name), img); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a picture"), 0o644)
	for _, c := range []int{1, 3} {
		images, files, err := ReadFolder(dir, c)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{filepath.Join(dir, "a.png"), filepath.Join(dir, "b.png")}
		if !slices.Equal(files, want) || len(images) != 2 || images[0].C != c || images[1].C != c || images[0].H != 4 || images[0].W != 5 {
			t.Fatalf("ReadFolder(%d) = %d pictures, files %v; want %d-channel 5×4 pictures of %v", c, len(images), files, c, want)
		}
	}
	images, _, _ := ReadFolder(dir, 3)
	for p := range 20 { // a grey picture is repeated in every channel
		if v := images[1].Pix[p]; images[1].Pix[20+p] != v || images[1].Pix[40+p] != v {
			t.Fatalf("grey picture read as RGB: pixel %d is %v, %v, %v", p, v, images[1].Pix[20+p], images[1].Pix[40+p])
		}
	}
	if _, _, err := ReadFolder(dir, 2); err == nil {
		t.Error("ReadFolder took 2 channels")
	}
	if _, _, err := ReadFolder(t.TempDir(), 1); err == nil {
		t.Error("ReadFolder of an empty folder: no error")
	}
}
