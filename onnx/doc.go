// Package onnx moves bottleneck models to and from ONNX, the interchange
// format of PyTorch, ONNX Runtime, Triton and browsers.
//
// Export writes a model (every kind: dense, convolutional, variational,
// image restoration) as an ONNX graph of standard operators, opset
// DefaultOpset (MinOpset to MaxOpset), with named inputs and outputs:
//
//	x               the input: the model's own input space ([N, D] rows,
//	                [N, C, H, W] images in [0,1], H and W dynamic for a fully
//	                convolutional model), or for a table model the raw numeric
//	                columns [N, D] in the model's column order with the
//	                standardisation inside the graph (one-hot slots for
//	                categorical columns, described by the metadata "encoding")
//	reconstruction  the model's output, as bottleneck's reconstruct gives it
//	code            the encoder's output (a VAE's mean)
//	logvar          a VAE's log-variance
//	score, anomaly  for a model with a threshold: the anomaly score that
//	                `bottleneck score` prints (float32 [N], computed in
//	                float64: MSE, MAE, NMSE or the Mahalanobis score with its
//	                statistics as graph constants) and score > threshold
//	                (bool [N])
//
// ExportDecoder writes the decoder alone (input code), for sampling a
// VAE. The metadata_props carry the bottleneck version, the model hash,
// the threshold and its method, the column names and encoding, and the
// model file's config, preprocessing and sections as JSON, so that Import
// gives back the same model.
//
// Import reads graphs made of the layers bottleneck has (see Supported),
// such as torch.onnx.export writes for an nn.Sequential autoencoder, and
// refuses anything else with the operator's name and node. The graph's
// types are generated from ONNX's own onnx.proto (package onnxpb).
package onnx
