package anomaly

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/bottleneck-ml/bottleneck/dataset"
)

// ScoreStream scores a data file batch by batch as s reads it (see
// dataset.OpenStream) and hands each batch's results to emit, with the
// batch's labels and ids (nil when the file has none), before reading the
// next: memory stays that of a few batches whatever the size of the file.
// The results are those Score gives the file read whole. Time-series
// detectors, whose windows span batches, score whole series with Score.
func (d *Detector) ScoreStream(ctx context.Context, s *dataset.Stream, o ScoreOptions, emit func(res []Result, labels, ids []string) error) error {
	if d.window > 1 {
		return errors.New("anomaly: a time-series detector scores whole series; load the file and use Score")
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		x, err := s.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		res, err := d.ScoreWith(x, o)
		if err != nil {
			return err
		}
		if err := emit(res, s.Labels(), s.IDs()); err != nil {
			return err
		}
	}
}

// ResultWriter writes results as `bottleneck score` does, as they come:
// CSV with a header (row, score, anomaly, then label, file and id when
// given, then top1, top1_share, …, topK, topK_share), or JSON lines
// {"row", "score", "anomaly", "label", "file", "id", "top"}. Rows are
// numbered from 0 across calls. A score that is not a finite number is
// written as +Inf or NaN (a string in JSON).
type ResultWriter struct {
	w       *bufio.Writer
	json    bool
	top     int
	row     int
	started bool
	buf     []byte
}

// NewResultWriter writes to w, CSV or (asJSON) JSON lines, with top
// features per row (0: none). Call Flush at the end.
func NewResultWriter(w io.Writer, asJSON bool, top int) *ResultWriter {
	return &ResultWriter{w: bufio.NewWriter(w), json: asJSON, top: max(top, 0)}
}

// Write appends results; labels, files and ids are nil or one per result,
// and nil or not in every call (the CSV header is written by the first).
func (rw *ResultWriter) Write(res []Result, labels, files, ids []string) error {
	if !rw.started {
		rw.header(labels != nil, files != nil, ids != nil)
	}
	if rw.json {
		return rw.writeJSON(res, labels, files, ids)
	}
	bw := rw.w
	for i, r := range res {
		buf := strconv.AppendInt(rw.buf[:0], int64(rw.row+i), 10)
		buf = append(buf, ',')
		buf = strconv.AppendFloat(buf, r.Score, 'g', 8, 64)
		if r.Anomaly {
			buf = append(buf, ",1"...)
		} else {
			buf = append(buf, ",0"...)
		}
		for _, col := range [][]string{labels, files, ids} {
			if col != nil {
				buf = append(buf, ',')
				buf = append(buf, dataset.CSVField(col[i])...)
			}
		}
		for k := 0; k < rw.top; k++ {
			if k < len(r.Top) {
				buf = append(buf, ',')
				buf = append(buf, dataset.CSVField(r.Top[k].Feature)...)
				buf = append(buf, ',')
				buf = strconv.AppendFloat(buf, r.Top[k].Share, 'f', 4, 64)
			} else {
				buf = append(buf, ",,"...)
			}
		}
		buf = append(buf, '\n')
		rw.buf = buf
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	rw.row += len(res)
	return nil
}

func (rw *ResultWriter) header(labels, files, ids bool) {
	rw.started = true
	if rw.json {
		return
	}
	bw := rw.w
	bw.WriteString("row,score,anomaly")
	for _, c := range []struct {
		on   bool
		name string
	}{{labels, ",label"}, {files, ",file"}, {ids, ",id"}} {
		if c.on {
			bw.WriteString(c.name)
		}
	}
	for k := 1; k <= rw.top; k++ {
		fmt.Fprintf(bw, ",top%d,top%d_share", k, k)
	}
	bw.WriteByte('\n')
}

// Flush writes what is buffered (the CSV header alone when there were no
// results).
func (rw *ResultWriter) Flush() error {
	if !rw.started {
		rw.header(false, false, false)
	}
	return rw.w.Flush()
}

// resultLine is one JSON line of a ResultWriter.
type resultLine struct {
	Row     int            `json:"row"`
	Score   any            `json:"score"` // a number, or "+Inf"/"NaN" (JSON has none)
	Anomaly bool           `json:"anomaly"`
	Label   *string        `json:"label,omitempty"`
	File    string         `json:"file,omitempty"`
	ID      *string        `json:"id,omitempty"`
	Top     []Contribution `json:"top,omitempty"`
}

func (rw *ResultWriter) writeJSON(res []Result, labels, files, ids []string) error {
	enc := json.NewEncoder(rw.w)
	for i, r := range res {
		l := resultLine{Row: rw.row + i, Score: r.Score, Anomaly: r.Anomaly}
		if math.IsNaN(r.Score) || math.IsInf(r.Score, 0) {
			l.Score = strconv.FormatFloat(r.Score, 'g', -1, 64)
		}
		if labels != nil {
			l.Label = &labels[i]
		}
		if files != nil {
			l.File = files[i]
		}
		if ids != nil {
			l.ID = &ids[i]
		}
		if rw.top > 0 {
			l.Top = r.Top[:min(rw.top, len(r.Top))]
		}
		if err := enc.Encode(l); err != nil {
			return err
		}
	}
	rw.row += len(res)
	return nil
}
