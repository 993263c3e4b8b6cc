#!/bin/sh
# Measures the shipped image models as docs/RESULTS.md reports them.
# Usage: scripts/eval-image-models.sh [--ensemble]
set -eu
data=${DATA:-../shared/data}
bn=${BOTTLENECK:-go run ./cmd/bottleneck}
ens=${1:-}
M=$data/mnist/t10k-images-idx3-ubyte.gz
echo "== mnist-conv (test set)"; $bn eval -m mnist-conv --data $M --json
echo "== mnist-denoise (test set, Gaussian std 0.5, clipped)"; $bn eval -m mnist-denoise --data $M --noise gaussian:127.5,clip --json
for s in 15 25 50; do
  echo "== denoise-gray Set12 sigma $s"; $bn eval -m denoise-gray --data $data/denoise/set12 --noise gaussian:$s $ens
done
for s in 2 3 4; do
  echo "== upscale-x$s Set5"; $bn eval -m upscale-x$s --data $data/sr/set5/image_SRF_$s --scale $s $ens
done
echo "== colorize Set5 HR"; $bn eval -m colorize --data $data/sr/set5/image_SRF_4 $ens
