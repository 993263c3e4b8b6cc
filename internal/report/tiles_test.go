package report

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/imageio"
)

func TestTiles(t *testing.T) {
	x := make([]float32, 7*2)
	for i := range x {
		x[i] = float32(i)
	}
	for _, c := range []struct {
		n, cols int
		want    []int // samples per row
	}{
		{7, 0, []int{3, 3, 1}}, // ⌈√7⌉ = 3
		{7, 7, []int{7}},
		{7, 2, []int{2, 2, 2, 1}},
		{4, -1, []int{2, 2}},
		{1, 0, []int{1}},
		{0, 3, nil},
	} {
		rows := Tiles(x[:2*c.n], c.n, c.cols)
		var got []int
		k := 0
		for _, r := range rows {
			got = append(got, len(r))
			for _, s := range r {
				if len(s) != 2 || s[0] != float32(2*k) {
					t.Fatalf("Tiles(n=%d, cols=%d): sample %d = %v; want [%d %d]", c.n, c.cols, k, s, 2*k, 2*k+1)
				}
				k++
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("Tiles(n=%d, cols=%d) rows of %v; want %v", c.n, c.cols, got, c.want)
		}
	}
}

func TestHeatmaps(t *testing.T) {
	d, err := anomaly.Open("mnist-denoise")
	if err != nil {
		t.Fatal(err)
	}
	var images []*imageio.Image
	for k := range 5 {
		img := imageio.New(1, 12, 12)
		for i := range img.Pix {
			img.Pix[i] = float32((i*(k+1))%12) / 12
		}
		images = append(images, img)
	}
	res, _, err := d.ScoreImages(images, "")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "maps")
	n, err := Heatmaps(dir, d, images, res, 3)
	if err != nil {
		t.Fatal(err)
	}
	order := []int{0, 1, 2, 3, 4}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case res[a].Score > res[b].Score:
			return -1
		case res[a].Score < res[b].Score:
			return 1
		}
		return 0
	})
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	want := []string{"rank001-row" + strconv.Itoa(order[0]) + ".png", "rank002-row" + strconv.Itoa(order[1]) + ".png", "rank003-row" + strconv.Itoa(order[2]) + ".png"}
	if n != 3 || !slices.Equal(names, want) {
		t.Fatalf("Heatmaps drew %d: %v; want %v", n, names, want)
	}
	checkSize(t, decodePNG(t, filepath.Join(dir, want[0])), 3*12*10, 12*10) // enlarged ×10 to about 112 pixels
	if n, err := Heatmaps(dir, d, images, res, 99); err != nil || n != 5 {
		t.Errorf("Heatmaps of 99 of 5 pictures = %d, %v; want 5", n, err)
	}
}
