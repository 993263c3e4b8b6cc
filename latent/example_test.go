package latent_test

import (
	"fmt"
	"log"

	"github.com/bottleneck-ml/bottleneck/latent"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// Lay 3-d codes out in 2-D to look at them. These lie on a plane, so
// their first two principal components keep all their variance; the
// codes of a model come from latent.Codes.
func ExampleProject() {
	codes := tensor.New(40, 3)
	for i := range 40 {
		a, b := float32(i%8), float32(i%5)
		copy(codes.Row(i), []float32{a, b, a - b})
	}
	p, err := latent.Project(codes, latent.ProjectOptions{Method: latent.ProjectAuto})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d points on %s and %s: %s\n", len(p.X), p.XName, p.YName, p.How)
	// Output:
	// 40 points on PC1 and PC2: PCA of the 3-d codes (100% of their variance)
}
