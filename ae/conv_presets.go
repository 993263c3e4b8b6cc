package ae

import (
	"fmt"
	"strconv"
	"strings"
)

// ConvPreset returns a named architecture as a ConvConfig (all of them are
// plain configs; --layers can spell out any other):
//
//	restore[:DEPTH[:WIDTH]]  DnCNN/VDSR-style residual restorer working at half
//	                         resolution behind a 2× pixel unshuffle (as FFDNet):
//	                         DEPTH 3×3 convolutions of WIDTH channels with ReLU,
//	                         predicting the residual (default 12:64)
//	colorize[:WIDTH]         Lab colorizer: L → a,b through a 4× unshuffle and
//	                         dilated convolutions (receptive field ≈ 250 px)
//	mnist-conv[:CODE]        28×28 conv autoencoder: two stride-2 convolutions,
//	                         a dense code, two transposed convolutions
//	mnist-vae-conv[:CODE]    the same layers as a VAE: the encoder gives μ and
//	                         log σ² (2×CODE), Bernoulli likelihood, β = 1
func ConvPreset(name string, channels int) (ConvConfig, error) {
	f := strings.Split(name, ":")
	arg := func(i, def int) (int, error) {
		if len(f) <= i {
			return def, nil
		}
		v, err := strconv.Atoi(f[i])
		if err != nil || v < 1 || v > 1024 {
			return 0, fmt.Errorf("ae: preset %q: %q is not a positive size", name, f[i])
		}
		return v, nil
	}
	if channels < 1 {
		channels = 1
	}
	switch f[0] {
	case "restore":
		depth, err := arg(1, 12)
		if err != nil {
			return ConvConfig{}, err
		}
		width, err := arg(2, 64)
		if err != nil {
			return ConvConfig{}, err
		}
		if depth < 2 {
			return ConvConfig{}, fmt.Errorf("ae: preset %q: depth must be at least 2", name)
		}
		enc := []string{"unshuffle:2", fmt.Sprintf("conv:%d:3", width), "relu"}
		for range depth - 2 {
			enc = append(enc, fmt.Sprintf("conv:%d:3", width), "relu")
		}
		dec := []string{fmt.Sprintf("conv:%d:3", 4*channels), "shuffle:2"}
		return ConvConfig{Arch: ArchConv, InChannels: channels, OutChannels: channels, Encoder: enc, Decoder: dec, Residual: true, Loss: "mse"}, nil
	case "colorize":
		width, err := arg(1, 64)
		if err != nil {
			return ConvConfig{}, err
		}
		c := func(d int) string {
			if d == 1 {
				return fmt.Sprintf("conv:%d:3", width)
			}
			return fmt.Sprintf("conv:%d:3:d%d", width, d)
		}
		enc := []string{"unshuffle:4", c(1), "relu", c(1), "relu", c(2), "relu", c(4), "relu", c(8), "relu", c(16), "relu"}
		dec := []string{c(8), "relu", c(4), "relu", c(2), "relu", c(1), "relu", "conv:32:3", "shuffle:4"}
		return ConvConfig{Arch: ArchConv, InChannels: 1, OutChannels: 2, Encoder: enc, Decoder: dec, Loss: "mse", Color: "lab"}, nil
	case "mnist-conv":
		code, err := arg(1, 32)
		if err != nil {
			return ConvConfig{}, err
		}
		enc := []string{"conv:32:3:s2", "relu", "conv:64:3:s2", "relu", "flatten", fmt.Sprintf("dense:%d", code)}
		dec := []string{"dense:3136", "relu", "reshape:64:7:7", "convt:32:3:s2", "relu", "convt:1:3:s2", "sigmoid"}
		return ConvConfig{Arch: ArchConv, InChannels: 1, OutChannels: 1, InputShape: []int{1, 28, 28}, Encoder: enc, Decoder: dec, Loss: "mse", Color: "grey"}, nil
	case "mnist-vae-conv":
		code, err := arg(1, 32)
		if err != nil {
			return ConvConfig{}, err
		}
		enc := []string{"conv:32:3:s2", "relu", "conv:64:3:s2", "relu", "flatten", "dense:512", "relu", fmt.Sprintf("dense:%d", 2*code)}
		dec := []string{"dense:512", "relu", "dense:3136", "relu", "reshape:64:7:7", "convt:32:3:s2", "relu", "convt:1:3:s2", "sigmoid"}
		return ConvConfig{Arch: ArchConv, InChannels: 1, OutChannels: 1, InputShape: []int{1, 28, 28}, Encoder: enc, Decoder: dec, Loss: "bce", Color: "grey",
			Variational: true, Beta: 1}, nil
	}
	return ConvConfig{}, fmt.Errorf("ae: unknown preset %q; want restore[:DEPTH[:WIDTH]], colorize[:WIDTH], mnist-conv[:CODE] or mnist-vae-conv[:CODE]", name)
}
