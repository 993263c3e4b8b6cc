#!/bin/sh
# The best 32-d code for the issue-6 linear probe (docs/RESULTS.md, "The
# latent space"): a convolutional autoencoder with a wide dense layer
# before the code, trained as a denoiser against shifted, cut-out inputs
# (the input translated by up to 2 pixels, then a random 14×14 square of
# the 28×28 image zeroed; the clean, centred image is the target), then
# probed. Run from the repository root; models go to $OUT (default
# /tmp/latent). Usage: scripts/latent-dae.sh [mnist|fashion-mnist] [EPOCHS] [NOISE]
# (NOISE default shift:2+block:0.5; block:0.5 alone is the earlier recipe;
# none trains a plain reconstruction).
#
# ARCH picks the layers: wide (default; conv 32, conv 64, dense 1024,
# 32-d code, 6.5 M parameters, 26 MB) or features (the shipped
# mnist-features: the same two convs, a 1×1 conv down to 16 channels,
# dense 768, 32-d code; decoder dense 256, dense 784 as 16×7×7, conv 64,
# two transposed convs; 0.89 M parameters, 3.5 MB). TRAIN_FLAGS adds
# flags to train (e.g. "--seed 2 --threads 1").
set -eu
OUT=${OUT:-/tmp/latent}
DATA=${DATA:-../shared/data}
BN=${BN:-$OUT/bottleneck}
ARCH=${ARCH:-wide}
set_=${1:-mnist}
epochs=${2:-15}
noise=${3:-shift:2+block:0.5}
mkdir -p "$OUT"
[ -x "$BN" ] || go build -o "$BN" ./cmd/bottleneck
case $ARCH in
wide)
	ENC=conv:32:3:s2,relu,conv:64:3:s2,relu,flatten,dense:1024,relu,dense:32
	DEC=dense:1024,relu,dense:3136,relu,reshape:64:7:7,convt:32:3:s2,relu,convt:1:3:s2,sigmoid
	tag=dae32
	;;
features)
	ENC=conv:32:3:s2,relu,conv:64:3:s2,relu,conv:16:1,relu,flatten,dense:768,relu,dense:32
	DEC=dense:256,relu,dense:784,reshape:16:7:7,conv:64:3,relu,convt:32:3:s2,relu,convt:1:3:s2,sigmoid
	tag=features
	;;
*)
	echo "latent-dae.sh: ARCH=$ARCH: want wide or features" >&2
	exit 2
	;;
esac
model="$OUT/$set_-$(echo "$noise" | tr ':+.' '-_p')-$tag.safetensors"
task="--task denoise --noise $noise"
[ "$noise" = none ] && task="--task reconstruct"
# shellcheck disable=SC2086 # TRAIN_FLAGS and task are lists of flags
nice -n 10 "$BN" train $task --data "$DATA/$set_/train-images-idx3-ubyte.gz" \
	--encoder "$ENC" --decoder "$DEC" --patch 28 --epochs "$epochs" --steps 400 --batch 64 \
	-o "$model" --no-plot ${TRAIN_FLAGS:-}
nice -n 10 "$BN" probe -m "$model" --train "$DATA/$set_/train-images-idx3-ubyte.gz" \
	--test "$DATA/$set_/t10k-images-idx3-ubyte.gz" --json --baselines=false
