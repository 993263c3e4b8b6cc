package train

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress reports one epoch: a redrawn bar with loss, samples/s and ETA on
// a terminal, or a plain line every few seconds when the output is a file or
// a pipe (CI logs stay readable).
type progress struct {
	w        io.Writer
	bar      *progressbar.ProgressBar
	epoch    int
	epochs   int
	total    int
	seen     int
	start    time.Time
	lastLine time.Time
}

const plainEvery = 10 * time.Second

func newProgress(w io.Writer, bar bool, epoch, epochs, total int) *progress {
	p := &progress{w: w, epoch: epoch, epochs: epochs, total: total, start: time.Now(), lastLine: time.Now()}
	if w != nil && bar {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(fmt.Sprintf("epoch %d/%d", epoch, epochs)),
			progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

func (p *progress) step(n int, loss float64) {
	if p.w == nil {
		return
	}
	p.seen += n
	el := time.Since(p.start).Seconds()
	rate := float64(p.seen) / max(el, 1e-9)
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("epoch %d/%d loss %.5f %.0f samples/s", p.epoch, p.epochs, loss, rate))
		_ = p.bar.Add(n)
		return
	}
	if time.Since(p.lastLine) >= plainEvery && p.seen < p.total {
		p.lastLine = time.Now()
		eta := time.Duration(float64(p.total-p.seen) / rate * float64(time.Second)).Round(time.Second)
		fmt.Fprintf(p.w, "epoch %d/%d  %d/%d  loss %.5f  %.0f samples/s  ETA %s\n", p.epoch, p.epochs, p.seen, p.total, loss, rate, eta)
	}
}

func (p *progress) done() {
	if p.bar != nil {
		_ = p.bar.Finish()
		_ = p.bar.Clear()
		p.bar = nil
	}
}
