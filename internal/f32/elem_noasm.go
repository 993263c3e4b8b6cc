//go:build !amd64 || noasm

package f32

// useElemAsm is false: there are no assembly loops on this build.
var useElemAsm = false

func exp(dst, x []float32)                               { expGeneric(dst, x) }
func sigmoid(dst, x []float32)                           { sigmoidGeneric(dst, x) }
func sigmoidBwd(dx, dy, y []float32)                     { sigmoidBwdGeneric(dx, dy, y) }
func relu(dst, x []float32)                              { reluGeneric(dst, x) }
func reluBwd(dx, dy, y []float32)                        { reluBwdGeneric(dx, dy, y) }
func mseGrad(dst, pred, target []float32, scale float32) { mseGradGeneric(dst, pred, target, scale) }
func colSum(dst, x []float32, rows int)                  { colSumGeneric(dst, x, rows, 0) }
func adam(p, g, m, v []float32, h *AdamHyper)            { adamGeneric(p, g, m, v, h) }

func sqDiffSum(pred, target []float32, acc *[16]float64) int {
	return sqDiffSumGeneric(pred, target, acc)
}
