#!/bin/sh
# Trains the image models that ship in internal/zoo/models with the settings
# recorded in docs/MODELS.md. Each run writes its model after every epoch
# and a checkpoint (MODEL.ckpt); rerunning a line resumes it (--resume).
#
# The shipped files were made by these settings but were stopped and
# resumed with changed --epochs part way to fit a shared CPU; the exact
# history of each file is in docs/MODELS.md and in the file itself
# (`training.command` in its metadata). These are the single-run forms.
#
# Usage: scripts/train-image-models.sh [denoise|denoise-color|upscale|colorize|colorize-vivid|mnist|all] [OUTDIR]
# Runs niced in the foreground; start it under nohup for the long ones.
set -eu
what=${1:-all}
out=${2:-image-models}
data=${DATA:-../shared/data}
bn=${BOTTLENECK:-go run ./cmd/bottleneck}
mkdir -p "$out"

if [ "$what" = denoise ] || [ "$what" = all ]; then
  # blind Gaussian denoiser, σ 0-55 (FFDNet-grey-sized residual net at half
  # resolution: 15 convs × 64, BatchNorm in the 13 inner layers: without it
  # a quarter of the ReLU channels died in training and Set12 stalled near
  # 27.7 dB). One cosine cycle of 108 epochs (history in docs/MODELS.md).
  enc="unshuffle:2,conv:64:3,relu"
  for i in 1 2 3 4 5 6 7 8 9 10 11 12 13; do enc="$enc,conv:64:3,bn,relu"; done
  nice -n 5 $bn --threads 2 train --task denoise --data "$data/denoise/train400" --noise gaussian:0-55 \
    --encoder "$enc" --decoder conv:4:3,shuffle:2 --residual --patch 64 --batch 32 --steps 200 --epochs 108 \
    --lr 1e-3 --clip 1 --schedule cosine:1:0.01 --ema 0.999 --seed 7 \
    --val-data "$data/denoise/set12" --val-noise gaussian:25 -o "$out/denoise-gray.safetensors" --resume
fi
if [ "$what" = denoise-color ] || [ "$what" = all ]; then
  # blind colour denoiser trained on colour (CBSD-style), σ 0-55 on each of
  # R, G, B: DnCNN-style at full resolution, 12 convs × 48 with BatchNorm
  # in the 10 inner layers (the half-resolution grey network with 12
  # channels in and out stayed at the noise level for 400 steps). urban100
  # img_080-img_100 are held out (measured in docs/RESULTS.md). Shipped in
  # half precision: go run ./scripts/half-model -o zoo/models/denoise-color.safetensors "$out/denoise-color.safetensors"
  enc="conv:48:3,relu"
  for i in 1 2 3 4 5 6 7 8 9 10; do enc="$enc,conv:48:3,bn,relu"; done
  nice -n 10 $bn --threads 2 train --task denoise --colour --data "$data/sr/t91,$data/sr/urban100/img_0[0-7]*" --noise gaussian:0-55 \
    --encoder "$enc" --decoder conv:3:3 --residual --patch 48 --batch 16 --steps 100 --epochs 55 \
    --lr 1e-3 --clip 1 --schedule cosine:1:0.01 --ema 0.999 --seed 7 \
    --val-data "$data/sr/set5/image_SRF_4/*_HR.png" --val-noise gaussian:25 -o "$out/denoise-color-1.safetensors" --resume
  # then a second cosine cycle from those weights at a third of the rate
  # (Set5 σ 25: 30.37 → 30.56 dB)
  nice -n 10 $bn --threads 2 train --task denoise --colour --data "$data/sr/t91,$data/sr/urban100/img_0[0-7]*" --noise gaussian:0-55 \
    --encoder "$enc" --decoder conv:3:3 --residual --patch 48 --batch 16 --steps 100 --epochs 40 \
    --lr 3e-4 --clip 1 --schedule cosine:0:0.03 --ema 0.999 --seed 8 --init "$out/denoise-color-1.safetensors" \
    --val-data "$data/sr/set5/image_SRF_4/*_HR.png" --val-noise gaussian:25 -o "$out/denoise-color-2.safetensors" --resume
  # and a third at a fifth (30.56 → 30.62; the shipped run started from
  # the second cycle stored in half precision); this file ships
  nice -n 10 $bn --threads 1 train --task denoise --colour --data "$data/sr/t91,$data/sr/urban100/img_0[0-7]*" --noise gaussian:0-55 \
    --encoder "$enc" --decoder conv:3:3 --residual --patch 48 --batch 16 --steps 100 --epochs 20 \
    --lr 2e-4 --clip 1 --schedule cosine:0:0.03 --ema 0.999 --seed 9 --init "$out/denoise-color-2.safetensors" \
    --val-data "$data/sr/set5/image_SRF_4/*_HR.png" --val-noise gaussian:25 -o "$out/denoise-color.safetensors" --resume
fi
if [ "$what" = upscale ] || [ "$what" = all ]; then
  # one VDSR-style Y-channel upscaler a scale, trained on that scale alone,
  # 80, 80 and 70 epochs (×2 and ×3 with an L1 loss) and 20 more with MSE (shipped as upscale-x2, -x3,
  # -x4 in half precision: go run ./scripts/half-model -o zoo/models/upscale-x2.safetensors "$out/upscale-x2-mse.safetensors")
  for s in 2 3 4; do
    epochs=80; seed=7; loss=l1
    if [ $s = 4 ]; then epochs=70; seed=5; loss=mse; fi
    nice -n 5 $bn --threads 2 train --task upscale --data "$data/sr/t91,$data/sr/urban100" --scale $s \
      --preset restore:10:64 --patch 48 --batch 16 --steps 100 --epochs $epochs --loss $loss --lr 1e-3 --schedule cosine:1:0.02 --seed $seed --ema 0.998 \
      --val-data "$data/sr/set5/image_SRF_{s}" -o "$out/upscale-x$s.safetensors" --resume
    # then 20 epochs with the MSE loss PSNR measures at a tenth of the
    # learning rate (×2 36.87 → 36.92, ×3 33.00 → 33.04, ×4 30.73 → 30.76 dB); this file ships
    nice -n 5 $bn --threads 2 train --task upscale --data "$data/sr/t91,$data/sr/urban100" --scale $s \
      --preset restore:10:64 --patch 48 --batch 16 --steps 100 --epochs 20 --loss mse --lr 1e-4 --schedule cosine:0:0.05 --seed 8 --ema 0.998 \
      --init "$out/upscale-x$s.safetensors" \
      --val-data "$data/sr/set5/image_SRF_{s}" -o "$out/upscale-x$s-mse.safetensors" --resume
  done
  # The ×2/×3/×4 model and its ×3 fine-tune shipped before 2026-12-07 are
  # in docs/MODELS.md with their commands.
fi
if [ "$what" = colorize ] || [ "$what" = all ]; then
  # urban100 img_080-img_100 are held out (measured in docs/RESULTS.md)
  nice -n 10 $bn --threads 1 train --task colorize --data "$data/sr/t91,$data/sr/urban100/img_0[0-7]*" \
    --preset colorize:48 --patch 96 --batch 16 --steps 100 --epochs 80 --lr 1e-3 --schedule cosine:1:0.02 --ema 0.999 --seed 3 \
    --val-data "$data/sr/set5/image_SRF_4" -o "$out/colorize.safetensors" --resume
fi
if [ "$what" = colorize-vivid ] || [ "$what" = all ]; then
  # colours as classes (Zhang et al.), rebalanced at λ 0.8, decoded at
  # T = 1 (T does not change training; the shipped file was trained with
  # T 0.38 and set to 1 with Model.SetTemperature: the same weights). Shipped
  # in half precision: go run ./scripts/half-model -o zoo/models/colorize-vivid.safetensors "$out/colorize-vivid.safetensors"
  nice -n 5 $bn --threads 2 train --task colorize --data "$data/sr/t91,$data/sr/urban100/img_0[0-7]*" \
    --preset colorize-classes:48:1 --rebalance 0.8 --patch 96 --batch 16 --steps 100 --epochs 40 --lr 1e-3 --schedule cosine:1:0.02 --ema 0.999 --seed 3 \
    --val-data "$data/sr/set5/image_SRF_4" -o "$out/colorize-vivid.safetensors" --resume
fi
if [ "$what" = mnist ] || [ "$what" = all ]; then
  D=$data/mnist
  nice -n 10 $bn --threads 1 train --task reconstruct --data $D/train-images-idx3-ubyte.gz --preset mnist-conv:32 \
    --batch 128 --steps 469 --epochs 6 --lr 1e-3 --seed 1 --val-data $D/t10k-images-idx3-ubyte.gz -o "$out/mnist-conv.safetensors" --resume
  nice -n 10 $bn --threads 1 train --task denoise --data $D/train-images-idx3-ubyte.gz --noise gaussian:127.5,clip --loss bce \
    --encoder conv:32:3,relu,maxpool:2,conv:32:3,relu,maxpool:2 --decoder conv:32:3,relu,upsample:2,conv:32:3,relu,upsample:2,conv:1:3,sigmoid \
    --batch 128 --steps 469 --epochs 3 --lr 1e-3 --seed 1 --val-data $D/t10k-images-idx3-ubyte.gz -o "$out/mnist-denoise.safetensors" --resume
fi
