// Package dataset loads training and scoring data (IDX images, CSV tables,
// NumPy .npy/.npz arrays), preprocesses it into float32 rows for the
// autoencoders, and iterates shuffled mini-batches.
//
// # Preprocessing
//
// Load fits a Preprocessor on the training file; LoadWith applies a fitted
// one (stored in the model file) to other files, so scoring sees exactly the
// training transformation. The choices:
//
//   - Images (IDX, magic 0x803): pixel/255, so every value is in [0,1] and a
//     sigmoid output fits (Scale "unit"; "none" keeps 0..255). Shape is
//     [1,rows,cols]. Labels come from the matching labels-idx1 file next to
//     the images file when it exists.
//   - CSV tables: a column is numeric when every non-missing value parses
//     as a finite number (tolerating under 1% bad values, which are then
//     reported as errors naming row and column, or imputed with --missing
//     impute, rather than silently turning the column categorical);
//     otherwise it is categorical. Numeric columns are standardized,
//     (x-mean)/std with std 0 → 1, because reconstruction errors of columns
//     with wildly different ranges (bytes vs rates in NSL-KDD) would
//     otherwise be dominated by the largest. Categorical columns are one-hot
//     encoded over the categories seen in training, sorted, named
//     "column=category"; a category unseen in training encodes as all zeros
//     and is counted (Dataset.Unknown, Dataset.Warnings), since an anomaly
//     detector must score, not reject, novel values. The label column is
//     kept apart (Dataset.Labels), never a feature.
//   - NPY/NPZ arrays: left as they are when every value is already in [0,1],
//     else standardized per column. The .npz data array is "X" (else the
//     only or first array), labels "y". Fortran-order arrays (every ADBench
//     X is one) are reordered to C order rather than rejected.
//   - Scale "minmax" maps each numeric column's training range to [0,1];
//     "none" leaves values unchanged.
//   - Missing values ("", "?", "NA", "NaN", "N/A"; NaN/Inf in arrays) are an
//     error by default (the message names file, row and column); with
//     Missing "impute" they take the training median (numeric) or mode
//     (categorical).
//   - With Normal set, only rows with that label are kept, and the
//     statistics are fitted on them alone: the model learns "normal".
//
// All statistics use float64 and are stored in the Preprocessor, which is
// plain JSON. Header detection for CSV: the first row is a header when it
// has a non-numeric field in a column that is numeric in the rows below; a
// file whose columns are all text needs Header set explicitly.
//
// # Batches
//
// Batcher copies shuffled rows into one preallocated batch tensor (no
// allocation per batch); Split and Dataset.Subset make deterministic
// train/validation parts.
//
// # Errors
//
// Bad input never panics: errors name the file, the row (data row and file
// line) or column, and what to do, and wrap one of the Err* sentinels.
// Headers are checked against the data before anything is allocated, so a
// corrupt or hostile file cannot force a huge allocation.
package dataset
