// Command colour-from-grey gives a colour image model the weights of a grey
// one, as the start of its training: every tensor is copied except the
// first convolution's input channels and the last one's output channels,
// which the colour model has three times as many of. The first layer sees
// each colour plane with a third of the grey weights (so it starts from
// the mean of R, G and B, the grey picture the grey model knows), and the
// last layer gives each plane the grey output (the same residual on R, G
// and B), each plus a fraction of the colour model's own random weights:
// with identical weights for R, G and B, the features carry only the grey
// picture and only the grey part of the error flows back to them, a saddle
// that training does not leave (measured: the loss stayed flat for 600
// steps). The colour model must be the grey one's network with 3× the
// input and output channels (made by `bottleneck train --colour` with the
// same --encoder and --decoder, the channel counts of the first and last
// convolution tripled).
//
//	go run ./scripts/colour-from-grey -grey denoise-gray.safetensors -colour SKELETON.safetensors -o INIT.safetensors
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"

	"github.com/bottleneck-ml/bottleneck/ae"
)

func main() {
	grey := flag.String("grey", "", "trained grey model file")
	colour := flag.String("colour", "", "colour model file with the network to fill (its weights are replaced)")
	out := flag.String("o", "", "output model file")
	keep := flag.Float64("keep", 0.5, "fraction of the colour model's own random weights kept in the first and last convolutions, added to the grey ones: without it R, G and B enter and leave identically, a saddle where only the grey error is learned")
	flag.Parse()
	if *grey == "" || *colour == "" || *out == "" || *out == *grey || *out == *colour {
		fmt.Fprintln(os.Stderr, "usage: colour-from-grey -grey GREY.safetensors -colour SKELETON.safetensors -o OUT.safetensors (OUT not an input)")
		os.Exit(2)
	}
	g, err := load(*grey)
	if err != nil {
		fail(err)
	}
	c, err := load(*colour)
	if err != nil {
		fail(err)
	}
	if err := inflate(c, g, float32(*keep)); err != nil {
		fail(err)
	}
	if err := c.Save(*out); err != nil {
		fail(err)
	}
	fmt.Printf("wrote %s: %s with the weights of %s\n", *out, c.Config.Summary(), *grey)
}

func load(path string) (*ae.Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := ae.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// inflate sets c's weights from g's (see the command's comment).
func inflate(c, g *ae.Model, keep float32) error {
	cp, gp := c.Params.Params, g.Params.Params
	if len(cp) != len(gp) || len(c.Buffers) != len(g.Buffers) {
		return fmt.Errorf("the colour model has %d tensors and %d statistics, the grey one %d and %d: not the same network", len(cp), len(c.Buffers), len(gp), len(g.Buffers))
	}
	first, last := -1, -1 // the first and last convolution weights
	for i, p := range cp {
		if len(p.Shape) == 4 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 || first == last {
		return errors.New("the models need a first and a last convolution")
	}
	for i, p := range cp {
		q := gp[i]
		switch {
		case i == first:
			// [O, 3·Cg, K, K] from [O, Cg, K, K]: channel c·Cg+j gets a third of j's.
			o, cg, kk := q.Shape[0], q.Shape[1], q.Shape[2]*q.Shape[3]
			if !slices.Equal(p.Shape, []int{o, 3 * cg, q.Shape[2], q.Shape[3]}) {
				return fmt.Errorf("first convolution %v: want %v with 3× the input channels", p.Shape, q.Shape)
			}
			for oc := 0; oc < o; oc++ {
				for col := 0; col < 3; col++ {
					for j := 0; j < cg; j++ {
						dst := p.W[(oc*3*cg+col*cg+j)*kk:][:kk]
						for t, v := range q.W[(oc*cg+j)*kk:][:kk] {
							dst[t] = v/3 + keep*dst[t]
						}
					}
				}
			}
		case i == last || i == last+1 && len(p.Shape) == 1 && len(q.Shape) == 1 && p.Shape[0] == 3*q.Shape[0]:
			// [3·Og, ...] from [Og, ...] (the last weight and its bias): each plane gets the grey output.
			if p.Shape[0] != 3*q.Shape[0] || !slices.Equal(p.Shape[1:], q.Shape[1:]) {
				return fmt.Errorf("last convolution %v: want %v with 3× the output channels", p.Shape, q.Shape)
			}
			for col := 0; col < 3; col++ {
				dst := p.W[col*len(q.W):][:len(q.W)]
				for t, v := range q.W {
					dst[t] = v + keep*dst[t]
				}
			}
		default:
			if !slices.Equal(p.Shape, q.Shape) {
				return fmt.Errorf("tensor %d (%s) is %v in the colour model, %v in the grey one", i, p.Name, p.Shape, q.Shape)
			}
			copy(p.W, q.W)
		}
	}
	for i, b := range c.Buffers {
		if !slices.Equal(b.Shape, g.Buffers[i].Shape) {
			return fmt.Errorf("statistic %s is %v in the colour model, %v in the grey one", b.Name, b.Shape, g.Buffers[i].Shape)
		}
		copy(b.W, g.Buffers[i].W)
	}
	return nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "colour-from-grey:", err)
	os.Exit(1)
}
