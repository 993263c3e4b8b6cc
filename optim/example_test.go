package optim_test

import (
	"fmt"

	"github.com/bottleneck-ml/bottleneck/optim"
)

func Example() {
	params := []float32{1, -1}
	grads := []float32{0.5, -2}
	opt, _ := optim.New("adam", 0.1)
	sched, _ := optim.ParseSchedule("cosine:2")
	const total = 4
	for step := range total {
		opt.SetLR(0.1 * sched.LR(step, total))
		optim.ClipGradNorm(grads, 1)
		opt.Step(params, grads)
		fmt.Printf("step %d lr %.3f params %.3f\n", step, opt.LR(), params)
	}
	// Output:
	// step 0 lr 0.050 params [0.950 -0.950]
	// step 1 lr 0.100 params [0.850 -0.850]
	// step 2 lr 0.100 params [0.750 -0.750]
	// step 3 lr 0.050 params [0.700 -0.700]
}
