package nn

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bottleneck-ml/bottleneck/tensor"
)

// smallSpecs reports whether a comma-separated spec list stays small
// enough to build and run in a fuzz iteration: at most 10 layers, every
// number at most 64, and at most 8× growth of the image side (upsample,
// shuffle, convt strides) overall. Bigger lists are valid but only cost
// memory here.
func smallSpecs(list string) bool {
	specs := strings.Split(list, ",")
	if len(specs) > 10 {
		return false
	}
	grow := 1
	for _, s := range specs {
		f := strings.Split(strings.TrimSpace(s), ":")
		for _, p := range f[1:] {
			p = strings.TrimLeft(p, "sd")
			if v, err := strconv.ParseFloat(p, 64); err == nil && v > 64 {
				return false
			}
		}
		arg := func(i int) int {
			if i < len(f) {
				if v, err := strconv.Atoi(strings.TrimLeft(f[i], "s")); err == nil && v > 1 {
					return v
				}
			}
			return 1
		}
		switch f[0] {
		case "upsample", "shuffle":
			grow *= arg(1)
		case "convt":
			for i := 3; i < len(f); i++ {
				if strings.HasPrefix(f[i], "s") {
					grow *= arg(i)
				}
			}
		}
		if grow > 8 {
			return false
		}
	}
	return true
}

// FuzzParseSpecs builds mutated layer spec lists (--encoder/--decoder,
// comma-separated; seed corpus in testdata/fuzz/FuzzParseSpecs) for a
// small fixed input: flat rows of up to 64 features, or images of up to
// 4 channels of up to 16×16 pixels. Errors name the layer at fault; the
// layers of an accepted list set up as a Net for that input, and a batch
// of 2 runs forward (training and inference) and backward with the right
// shapes and finite values.
func FuzzParseSpecs(f *testing.F) {
	f.Fuzz(func(t *testing.T, list string, c, h, w uint8, flat bool) {
		if !smallSpecs(list) {
			return
		}
		specs := strings.Split(list, ",")
		in := SpecInput{Channels: 1 + int(c%4)}
		if flat {
			in.Channels = 0
			in.Shape = []int{1 + int(h%64)}
		} else {
			in.Shape = []int{in.Channels, 1 + int(h%16), 1 + int(w%16)}
		}
		layers, err := ParseSpecs(specs, in)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "layer ") {
				t.Fatalf("ParseSpecs(%q, %v): error %q does not name the layer", specs, in, err)
			}
			return
		}
		if len(layers) != len(specs) {
			t.Fatalf("ParseSpecs(%q) gave %d layers", specs, len(layers))
		}
		net, err := NewNet(in.Shape, layers...)
		if err != nil {
			t.Fatalf("ParseSpecs(%q, %v) accepted layers that NewNet refuses: %v", specs, in, err)
		}
		if tensor.Size(net.OutShape) > 1<<16 {
			return // valid, only too big to run here
		}
		ps := NewParamSet(net.Params())
		net.Init(rand.New(rand.NewPCG(1, 2)))
		for i, v := range ps.W {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("%q: parameter %d initialised to %v", specs, i, v)
			}
		}
		x := tensor.New(append([]int{2}, in.Shape...)...)
		for i := range x.Data {
			x.Data[i] = float32(i%7) / 7
		}
		want := append([]int{2}, net.OutShape...)
		for _, train := range []bool{false, true} {
			y := net.Forward(x, train)
			if !slices.Equal(y.Shape, want) || len(y.Data) != tensor.Size(want) {
				t.Fatalf("%q on %v: output %v; want %v", specs, in.Shape, y.Shape, want)
			}
			finite(t, specs, "output", y.Data)
		}
		dy := tensor.New(want...)
		for i := range dy.Data {
			dy.Data[i] = 1
		}
		net.NeedInputGrad()
		dx := net.Backward(dy)
		if dx == nil || !slices.Equal(dx.Shape, x.Shape) {
			t.Fatalf("%q on %v: input gradient %v; want %v", specs, in.Shape, dx, x.Shape)
		}
		finite(t, specs, "input gradient", dx.Data)
		finite(t, specs, "parameter gradient", ps.G)
	})
}

func finite(t *testing.T, specs []string, what string, v []float32) {
	t.Helper()
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			t.Fatalf("%q: %s %d is %v", specs, what, i, x)
		}
	}
}
