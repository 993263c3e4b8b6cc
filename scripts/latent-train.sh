#!/bin/sh
# Trains the models behind the latent-space results in docs/RESULTS.md
# (issue 6): the MNIST and Fashion-MNIST VAEs shipped in internal/zoo,
# dense 32-d autoencoders for the linear probe, and a sparse autoencoder
# beside its unregularised twin. Run from the repository root; models go
# to $OUT (default /tmp/latent). Each step prints its own timing.
set -eu
OUT=${OUT:-/tmp/latent}
DATA=${DATA:-../shared/data}
BN=${BN:-$OUT/bottleneck}
mkdir -p "$OUT"
[ -x "$BN" ] || go build -o "$BN" ./cmd/bottleneck
T="nice -n 10 $BN"
step=${1:-all}

if [ "$step" = all ] || [ "$step" = mnist-vae ]; then
# VAE on dynamically binarised MNIST (Bernoulli likelihood).
$T train --arch vae --data "$DATA/mnist/train-images-idx3-ubyte.gz" -o "$OUT/mnist-vae.safetensors" \
	--hidden 400,200 --code 32 --binarize --kl-warmup 5 --epochs 40 --patience 0 \
	--schedule cosine --no-plot
fi

if [ "$step" = all ] || [ "$step" = fashion-vae ]; then
# Fashion-MNIST VAE: grey levels matter, so no binarisation (Bernoulli
# likelihood on [0,1] targets, i.e. cross-entropy).
$T train --arch vae --data "$DATA/fashion-mnist/train-images-idx3-ubyte.gz" -o "$OUT/fashion-vae.safetensors" \
	--hidden 400,200 --code 32 --kl-warmup 3 --epochs 20 --patience 0 \
	--schedule cosine --no-plot
fi

if [ "$step" = all ] || [ "$step" = ae ]; then
# Dense autoencoders with a 32-d code, for the linear probe (the flags that
# were the defaults when these rows were measured, before the image defaults).
for set in mnist fashion-mnist; do
	$T train --data "$DATA/$set/train-images-idx3-ubyte.gz" -o "$OUT/$set-ae32.safetensors" \
		--hidden 512,256 --code 32 --epochs 15 --patience 0 --lr 1e-3 --schedule constant --activation relu --no-plot
done
fi

if [ "$step" = all ] || [ "$step" = conv ]; then
# Convolutional autoencoder with a 32-d code (the image-task preset), for the probe.
$T train --task reconstruct --data "$DATA/mnist/train-images-idx3-ubyte.gz" --preset mnist-conv:32 \
	--epochs 4 --steps 400 --batch 64 --patch 28 -o "$OUT/mnist-conv32.safetensors" --no-plot
fi

if [ "$step" = all ] || [ "$step" = cvae ]; then
# Convolutional VAE (Bernoulli, dynamically binarised MNIST), for the probe and −log p(x).
$T train --task reconstruct --preset mnist-vae-conv:32 --binarize --kl-warmup 3 --schedule cosine --seed 1 \
	--data "$DATA/mnist/train-images-idx3-ubyte.gz" --patch 28 --batch 64 --steps 938 --epochs 20 \
	-o "$OUT/mnist-cvae.safetensors" --no-plot
# Fashion-MNIST conv autoencoder (preset), for the probe table.
$T train --task reconstruct --preset mnist-conv:32 --data "$DATA/fashion-mnist/train-images-idx3-ubyte.gz" \
	--patch 28 --epochs 15 --steps 400 --batch 64 -o "$OUT/fashion-conv32.safetensors" --no-plot
fi

if [ "$step" = all ] || [ "$step" = mnist-vae-conv ]; then
# The shipped convolutional VAE (issue 18): 0.9 M parameters (a
# third conv to 32 channels at 7×7 and a 256-wide dense layer instead of the
# preset's 3136→512), 30 epochs, then stored in half precision for the binary.
$T train --task reconstruct --arch vae --binarize --kl-warmup 3 --schedule cosine --seed 1 \
	--encoder conv:32:3:s2,relu,conv:64:3:s2,relu,conv:32:3,relu,flatten,dense:256,relu,dense:64 \
	--decoder dense:256,relu,dense:1568,relu,reshape:32:7:7,conv:64:3,relu,convt:32:3:s2,relu,convt:1:3:s2,sigmoid \
	--data "$DATA/mnist/train-images-idx3-ubyte.gz" --patch 28 --batch 64 --steps 938 --epochs 30 --patience 0 \
	--threads 1 -o "$OUT/mnist-vae-conv.safetensors" --no-plot
go run ./scripts/half-model -o "$OUT/mnist-vae-conv-f16.safetensors" "$OUT/mnist-vae-conv.safetensors"
fi

if [ "$step" = all ] || [ "$step" = sparse ]; then
# Keras blog setup: one 784→32 ReLU code layer, plain vs l1(1e-4) activity penalty.
$T train --data "$DATA/mnist/train-images-idx3-ubyte.gz" -o "$OUT/mnist-shallow.safetensors" \
	--hidden none --code 32 --code-activation relu --epochs 30 --patience 0 --lr 1e-3 --schedule constant --no-plot
$T train --data "$DATA/mnist/train-images-idx3-ubyte.gz" -o "$OUT/mnist-sparse.safetensors" \
	--hidden none --code 32 --code-activation relu --sparsity l1:1e-4 --epochs 30 --patience 0 --lr 1e-3 --schedule constant --no-plot
fi
