#!/bin/sh
# Draws the before/after pictures of README.md and docs/RESULTS.md with the
# shipped image models. Usage: scripts/image-pictures.sh [OUTDIR]
set -eu
out=${1:-docs/images}
data=${DATA:-../shared/data}
bn=${BOTTLENECK:-go run ./cmd/bottleneck}
mkdir -p "$out"
# noisy (σ = 25) → denoised, Set12 image 05 (Monarch)
$bn denoise --add-noise gaussian:25 --seed 1 --noisy-out "$out/denoise-monarch-noisy.png" \
  "$data/denoise/set12/05.png" -o "$out/denoise-monarch-denoised.png"
# bicubic vs ours, ×3 from Set5's LR butterfly
$bn upscale --scale 3 --bicubic-out "$out/upscale-butterfly-bicubic.png" \
  "$data/sr/set5/image_SRF_3/img_003_SRF_3_LR.png" -o "$out/upscale-butterfly-x3.png"
# grey → colour, Set5 HR images (not trained on)
$bn colorize --grey-out "$out/colorize-baby-grey.png" "$data/sr/set5/image_SRF_4/img_001_SRF_4_HR.png" -o "$out/colorize-baby.png"
$bn colorize --grey-out "$out/colorize-bird-grey.png" "$data/sr/set5/image_SRF_4/img_002_SRF_4_HR.png" -o "$out/colorize-bird.png"
