//go:build !amd64 || noasm

package f32

var useGatherAsm = false

func gatherBulk(dst, src []float32, idx []int32) int { return 0 }

func scatterAddBulk(dst, src []float32, idx []int32) int { return 0 }

func gatherRows(dst, src []float32, off []int32, w int) bool { return false }

func addRows(dst []float32, off []int32, src []float32, w int) bool { return false }
