// Package anomaly turns an autoencoder into an anomaly detector: a Scorer
// gives every row a score (higher = more anomalous; for tables by default
// how unusual its code and its reconstruction error are, MetricMahal; else
// the reconstruction error) and each feature's share of its squared
// error, a Threshold decides which scores are anomalous and remembers how
// it was chosen, and the metrics (ROC-AUC, average precision,
// precision/recall/F1, precision@n) measure a detector against labels.
//
// Scores are computed in the model's preprocessed space (standardised
// numbers, one-hot categories, pixels in [0,1]), with dropout off, so the
// same model file gives the same scores everywhere.
package anomaly
