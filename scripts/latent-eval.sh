#!/bin/sh
# Measures the latent-space results in docs/RESULTS.md (issue 6) from the
# models scripts/latent-train.sh wrote to $OUT, and draws the README
# pictures. Run from the repository root. NLL_ROWS limits the rows of the
# K=5000 importance-sampling estimate (0 = the whole test set).
set -eu
OUT=${OUT:-/tmp/latent}
DATA=${DATA:-../shared/data}
BN=${BN:-$OUT/bottleneck}
NLL_ROWS=${NLL_ROWS:-1000}
[ -x "$BN" ] || go build -o "$BN" ./cmd/bottleneck
T="nice -n 10 $BN"
M=$DATA/mnist
F=$DATA/fashion-mnist
step=${1:-all}

if [ "$step" = all ] || [ "$step" = nll ]; then
/usr/bin/time -f "%e s wall" $T eval -m "$OUT/mnist-vae.safetensors" --data "$M/t10k-images-idx3-ubyte.gz" \
	--nll --samples 5000 --max-rows "$NLL_ROWS" --json
fi

if [ "$step" = all ] || [ "$step" = probe ]; then
$T probe -m "$OUT/mnist-vae.safetensors" --train "$M/train-images-idx3-ubyte.gz" --test "$M/t10k-images-idx3-ubyte.gz" --json
$T probe -m "$OUT/mnist-ae32.safetensors" --train "$M/train-images-idx3-ubyte.gz" --test "$M/t10k-images-idx3-ubyte.gz" --json --baselines=false
$T probe -m "$OUT/mnist-conv32.safetensors" --train "$M/train-images-idx3-ubyte.gz" --test "$M/t10k-images-idx3-ubyte.gz" --json --baselines=false
$T probe -m "$OUT/fashion-vae.safetensors" --train "$F/train-images-idx3-ubyte.gz" --test "$F/t10k-images-idx3-ubyte.gz" --json
$T probe -m "$OUT/fashion-mnist-ae32.safetensors" --train "$F/train-images-idx3-ubyte.gz" --test "$F/t10k-images-idx3-ubyte.gz" --json --baselines=false
fi

if [ "$step" = all ] || [ "$step" = sparse ]; then
for m in mnist-shallow mnist-sparse; do
	$T eval -m "$OUT/$m.safetensors" --data "$M/t10k-images-idx3-ubyte.gz" --json
done
fi

if [ "$step" = all ] || [ "$step" = pictures ]; then
$T generate -m "$OUT/mnist-vae.safetensors" -n 64 --seed 1 -o docs/images/vae-samples.png
$T generate -m "$OUT/fashion-vae.safetensors" -n 64 --seed 1 -o docs/images/fashion-vae-samples.png
$T interpolate -m "$OUT/mnist-vae.safetensors" --data "$M/t10k-images-idx3-ubyte.gz" --from 0 --to 3 --steps 10 -o docs/images/vae-interpolation.png
$T latent-map -m "$OUT/mnist-vae.safetensors" --data "$M/t10k-images-idx3-ubyte.gz" -o docs/images/vae-latent-map.png
fi
