package f32

// genericKernel is the portable microkernel: a 4×4 register tile in scalar
// Go. It is the fallback where no assembly kernel applies, and the twin the
// assembly kernels are tested against.
var genericKernel = kernel{name: "generic", mr: 4, nr: 4, fn: kernGeneric}

func kernGeneric(kc int, a []float32, rsa, csa int, b, c []float32, ldc int, alpha float32, load bool, bias []float32) {
	a0s := a[:(kc-1)*csa+1]
	a1s := a[rsa : rsa+(kc-1)*csa+1]
	a2s := a[2*rsa : 2*rsa+(kc-1)*csa+1]
	a3s := a[3*rsa : 3*rsa+(kc-1)*csa+1]
	b = b[:kc*4]
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	var c20, c21, c22, c23 float32
	var c30, c31, c32, c33 float32
	for p := 0; p < kc; p++ {
		a0, a1, a2, a3 := a0s[p*csa], a1s[p*csa], a2s[p*csa], a3s[p*csa]
		b0, b1, b2, b3 := b[4*p], b[4*p+1], b[4*p+2], b[4*p+3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	store4(c[0*ldc:0*ldc+4], alpha, load, bias, c00, c01, c02, c03)
	store4(c[1*ldc:1*ldc+4], alpha, load, bias, c10, c11, c12, c13)
	store4(c[2*ldc:2*ldc+4], alpha, load, bias, c20, c21, c22, c23)
	store4(c[3*ldc:3*ldc+4], alpha, load, bias, c30, c31, c32, c33)
}

func store4(c []float32, alpha float32, load bool, bias []float32, s0, s1, s2, s3 float32) {
	c = c[:4]
	// The explicit conversions round alpha*s before the addition, as the
	// edge-tile path does, so that no fused multiply-add can differ.
	t0, t1, t2, t3 := float32(alpha*s0), float32(alpha*s1), float32(alpha*s2), float32(alpha*s3)
	if load {
		c[0] += t0
		c[1] += t1
		c[2] += t2
		c[3] += t3
		return
	}
	if bias != nil {
		bias = bias[:4]
		t0, t1, t2, t3 = t0+bias[0], t1+bias[1], t2+bias[2], t3+bias[3]
	}
	c[0], c[1], c[2], c[3] = t0, t1, t2, t3
}
