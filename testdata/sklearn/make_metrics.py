"""Writes metrics.json: anomaly-metric cases checked by anomaly/metrics_test.go.

Run from the repository root with Debian's python3-sklearn:
    /usr/bin/python3 testdata/sklearn/make_metrics.py
Each case has scores (higher = more anomalous), labels (1 = anomaly), a
threshold (score > threshold is flagged) and scikit-learn's values.
"""
import json

import numpy as np
import sklearn
from sklearn.metrics import average_precision_score, precision_recall_fscore_support, roc_auc_score

rng = np.random.default_rng(20240605)
cases = []


def add(name, scores, labels, thr):
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    pred = (scores > thr).astype(np.int64)
    p, r, f, _ = precision_recall_fscore_support(labels, pred, average="binary", zero_division=0)
    n = int(labels.sum())
    top = np.argsort(-scores, kind="stable")[:n]
    cases.append({
        "name": name,
        "scores": [float(s) for s in scores],
        "labels": [int(l) for l in labels],
        "threshold": float(thr),
        "roc_auc": float(roc_auc_score(labels, scores)),
        "average_precision": float(average_precision_score(labels, scores)),
        "precision": float(p), "recall": float(r), "f1": float(f),
        "precision_at_n": float(labels[top].mean()),
        "quantile_95": float(np.quantile(scores, 0.95)),
    })


add("hand", [0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], 0.3)
add("separated", [1, 2, 3, 10, 11], [0, 0, 0, 1, 1], 5)
add("reversed", [10, 11, 1, 2, 3], [0, 0, 1, 1, 1], 5)
add("ties", [0.5, 0.5, 0.5, 0.2, 0.9, 0.9, 0.1, 0.5], [1, 0, 1, 0, 1, 0, 0, 0], 0.5)
for k, (n, frac) in enumerate([(50, 0.1), (200, 0.3), (333, 0.05)]):
    labels = (rng.random(n) < frac).astype(int)
    labels[0] = 1
    labels[1] = 0
    scores = rng.normal(size=n) + 1.5 * labels
    if k == 1:
        scores = np.round(scores, 1)  # many ties
    add(f"random{n}", scores, labels, float(np.quantile(scores, 0.9)))

with open("testdata/sklearn/metrics.json", "w") as f:
    json.dump({"sklearn": sklearn.__version__, "numpy": np.__version__, "cases": cases}, f, indent=0)
