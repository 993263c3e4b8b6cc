#!/bin/sh
# The best 32-d code for the issue-6 linear probe (docs/RESULTS.md, "The
# latent space"): a convolutional autoencoder with a wide dense layer
# before the code, trained as a denoiser against shifted, cut-out inputs
# (the input translated by up to 2 pixels, then a random 14×14 square of
# the 28×28 image zeroed; the clean, centred image is the target), then
# probed. Run from the repository root; models go to $OUT (default
# /tmp/latent). Usage: scripts/latent-dae.sh [mnist|fashion-mnist] [EPOCHS] [NOISE]
# (NOISE default shift:2+block:0.5; block:0.5 alone is the earlier recipe).
set -eu
OUT=${OUT:-/tmp/latent}
DATA=${DATA:-../shared/data}
BN=${BN:-$OUT/bottleneck}
set_=${1:-mnist}
epochs=${2:-15}
noise=${3:-shift:2+block:0.5}
mkdir -p "$OUT"
[ -x "$BN" ] || go build -o "$BN" ./cmd/bottleneck
ENC=conv:32:3:s2,relu,conv:64:3:s2,relu,flatten,dense:1024,relu,dense:32
DEC=dense:1024,relu,dense:3136,relu,reshape:64:7:7,convt:32:3:s2,relu,convt:1:3:s2,sigmoid
model="$OUT/$set_-$(echo "$noise" | tr ':+.' '-_p')-dae32.safetensors"
nice -n 10 "$BN" train --task denoise --noise "$noise" --data "$DATA/$set_/train-images-idx3-ubyte.gz" \
	--encoder "$ENC" --decoder "$DEC" --patch 28 --epochs "$epochs" --steps 400 --batch 64 \
	-o "$model" --no-plot
nice -n 10 "$BN" probe -m "$model" --train "$DATA/$set_/train-images-idx3-ubyte.gz" \
	--test "$DATA/$set_/t10k-images-idx3-ubyte.gz" --json --baselines=false
