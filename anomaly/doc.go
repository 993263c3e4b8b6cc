// Package anomaly turns an autoencoder into an anomaly detector. Train fits
// one on a dataset (rows of a table or array, time-series windows, or
// images): the model, the score statistics of the training rows and a
// threshold, all kept in one Detector that Save writes to a model file and
// Open reads back. A Detector scores rows (higher = more anomalous: by
// default for tables how unusual a row's code and its reconstruction error
// are, MetricMahal; otherwise the reconstruction error), says which are
// anomalous, and names the features with the largest share of each row's
// error; for a time series it scores every time step, for an image every
// pixel. Evaluate measures a detector against labels (ROC-AUC, average
// precision, precision/recall/F1 and the false- and missed-alarm rates at
// its threshold).
//
// Scores are computed in the model's preprocessed space (standardised
// numbers, one-hot categories, pixels in [0,1]), with dropout off, so the
// same model file gives the same scores in the command line, the HTTP
// service and a Go program.
package anomaly
