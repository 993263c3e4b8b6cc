"""scikit-learn IsolationForest on the ODDS and ADBench sets, the baseline
beside bottleneck's autoencoder in docs/RESULTS.md.

    /usr/bin/python3 scripts/iforest.py [../shared/data]

Unsupervised protocol: fit on all rows, ROC-AUC of the scores against y;
default IsolationForest settings, seeds 1..5, mean ± std per dataset.
"""
import glob
import os
import sys

import numpy as np
import scipy.io
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

DATA = sys.argv[1] if len(sys.argv) > 1 else "../shared/data"
ODDS17 = ["arrhythmia", "cardio", "glass", "ionosphere", "letter", "lympho", "mnist", "musk", "optdigits",
          "pendigits", "pima", "satellite", "satimage-2", "shuttle", "vertebral", "vowels", "wbc"]


def run(name, X, y):
    aucs = []
    for seed in range(1, 6):
        f = IsolationForest(random_state=seed).fit(X)
        aucs.append(roc_auc_score(y, -f.score_samples(X)))
    print(f"| {name} | {np.mean(aucs):.4f} ± {np.std(aucs):.4f} |", flush=True)
    return np.mean(aucs)


print("| ODDS dataset | IsolationForest ROC-AUC |\n|---|---|")
m = [run(n, *(lambda d: (d["X"], d["y"].ravel()))(scipy.io.loadmat(os.path.join(DATA, "odds", n + ".mat")))) for n in ODDS17]
print(f"\nODDS mean over {len(m)}: {np.mean(m):.4f}\n")
print("| ADBench dataset | IsolationForest ROC-AUC |\n|---|---|")
m = []
for p in sorted(glob.glob(os.path.join(DATA, "adbench", "*.npz"))):
    d = np.load(p)
    m.append(run(os.path.basename(p)[:-4], d["X"], d["y"]))
print(f"\nADBench mean over {len(m)}: {np.mean(m):.4f}")
