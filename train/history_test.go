package train

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestStripTiming(t *testing.T) {
	r := &Record{Epochs: 3, TrainLoss: []float64{1, 0.5, 0.2}, Seconds: 4.2, SamplesPerSec: 1e4, Finished: time.Now(), Command: "bottleneck train", Seed: 7}
	StripTiming(r)
	want := &Record{Epochs: 3, TrainLoss: []float64{1, 0.5, 0.2}, Seed: 7}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("StripTiming left %+v; want %+v", r, want)
	}
}

func TestWriteHistory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.history.json")
	r := &Record{TrainLoss: []float64{0.5, 0.25}, ValLoss: []float64{0.6, 0.3}, BestEpoch: 2, Loss: "mse"}
	if err := WriteHistory(path, r); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var h History
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	if want := (History{TrainLoss: r.TrainLoss, ValLoss: r.ValLoss, BestEpoch: 2, Loss: "mse"}); !reflect.DeepEqual(h, want) {
		t.Errorf("history %+v; want %+v", h, want)
	}
	// Without validation the list is empty, not null.
	if err := WriteHistory(path, &Record{TrainLoss: []float64{1}}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !json.Valid(b) || !strings.Contains(string(b), `"val_loss": []`) {
		t.Errorf("history without validation:\n%s", b)
	}
	if err := WriteHistory(filepath.Join(dir, "no", "such", "dir.json"), r); err == nil {
		t.Error("WriteHistory into a missing folder: no error")
	}
}
