/*
 * peak-dot: instructions per second of the three multiply-accumulate
 * instructions reduced-precision inference could use, on one core, next to
 * the float32 FMA (28 independent accumulators each, so latency does not
 * limit them):
 *
 *   vfmadd231ps zmm   16 float32 multiply-adds
 *   vdpbf16ps   zmm   32 bfloat16 multiply-adds (AVX512_BF16)
 *   vpdpbusd    zmm   64 uint8 x int8 multiply-adds (AVX512_VNNI)
 *
 *   gcc -O2 -mavx512f -o /tmp/peak-dot scripts/peak-dot.c && /tmp/peak-dot
 *
 * Prints one JSON line per round. docs/BENCHMARKS.md ("Why int8, not
 * bf16") has what it measured on the development machine.
 */
#include <stdio.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

#define A4(I, a, b, c, d) I " %%zmm30, %%zmm31, %%zmm" #a "\n\t" I " %%zmm30, %%zmm31, %%zmm" #b "\n\t" \
                          I " %%zmm30, %%zmm31, %%zmm" #c "\n\t" I " %%zmm30, %%zmm31, %%zmm" #d "\n\t"
#define A28(I) A4(I, 0, 1, 2, 3) A4(I, 4, 5, 6, 7) A4(I, 8, 9, 10, 11) A4(I, 12, 13, 14, 15) \
               A4(I, 16, 17, 18, 19) A4(I, 20, 21, 22, 23) A4(I, 24, 25, 26, 27)
#define CLOBBER "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", \
                "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", \
                "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm30", "xmm31", "cc"
#define KERNEL(name, I)                                                                        \
    static void name(long n) {                                                                 \
        __asm__ volatile("vpxord %%zmm30, %%zmm30, %%zmm30\n\tvpxord %%zmm31, %%zmm31, %%zmm31\n\t" \
                         "1:\n\t" A28(I) "dec %0\n\tjnz 1b\n\tvzeroupper"                      \
                         : "+r"(n)::CLOBBER);                                                  \
    }

KERNEL(fma_ps, "vfmadd231ps")
KERNEL(dp_bf16, "vdpbf16ps")
KERNEL(dp_u8s8, "vpdpbusd")

static double rate(void (*f)(long), long n) {
    double t = now();
    f(n);
    return 28.0 * n / (now() - t) / 1e9;
}

int main(void) {
    const long n = 5000000;
    for (int r = 0; r < 3; r++) {
        double f = rate(fma_ps, n), b = rate(dp_bf16, n), v = rate(dp_u8s8, n);
        printf("{\"ginstr_per_s\":{\"vfmadd231ps\":%.2f,\"vdpbf16ps\":%.2f,\"vpdpbusd\":%.2f},"
               "\"gmac_per_s\":{\"fp32\":%.0f,\"bf16\":%.0f,\"int8\":%.0f}}\n",
               f, b, v, 16 * f, 32 * b, 64 * v);
    }
    return 0;
}
