package train

import (
	"encoding/json"
	"io"
	"time"

	"github.com/bottleneck-ml/bottleneck/internal/atomicfile"
)

// StripTiming clears from r what differs between two otherwise identical
// runs: the wall-clock seconds, the speed, the finishing time and the
// command line. Training is deterministic, so a model saved after
// StripTiming is byte-identical for the same data, options, seed and
// thread count, and can be checked by its hash.
func StripTiming(r *Record) {
	r.Seconds, r.SamplesPerSec, r.Finished, r.Command = 0, 0, time.Time{}, ""
}

// History is the loss history of a training run, as WriteHistory writes
// it: small, and read without opening the model (to plot or compare
// runs).
type History struct {
	TrainLoss []float64 `json:"train_loss"` // mean training loss per epoch
	ValLoss   []float64 `json:"val_loss"`   // validation loss per epoch; [] without validation
	BestEpoch int       `json:"best_epoch"` // 1-based epoch whose weights were kept (0: the last)
	Loss      string    `json:"loss"`       // the objective
}

// WriteHistory writes r's loss history to path as indented JSON (History),
// atomically, so a reader never sees half a file. `bottleneck train`
// writes it beside the model as MODEL.history.json.
func WriteHistory(path string, r *Record) error {
	h := History{TrainLoss: r.TrainLoss, ValLoss: r.ValLoss, BestEpoch: r.BestEpoch, Loss: r.Loss}
	if h.ValLoss == nil {
		h.ValLoss = []float64{}
	}
	raw, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, func(w io.Writer) error {
		_, err := w.Write(append(raw, '\n'))
		return err
	}, 0o644)
}
