package stream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// RunOptions configure Run: the worker's HTTP endpoints and what SIGHUP
// reloads.
type RunOptions struct {
	// MetricsAddr is where /healthz, /readyz and /metrics are served
	// (Worker.Handler); empty: nowhere.
	MetricsAddr string
	// ModelPath is the model file SIGHUP reloads (Worker.Reload); empty:
	// SIGHUP is not handled.
	ModelPath string
}

// Run runs w as a process does: its endpoints on o.MetricsAddr, SIGHUP
// reloading o.ModelPath, until ctx is done (then the worker drains, see
// Worker.Run). A canceled context is a clean stop, not an error.
func Run(ctx context.Context, w *Worker, o RunOptions) error {
	if o.MetricsAddr != "" {
		ln, err := net.Listen("tcp", o.MetricsAddr)
		if err != nil {
			return fmt.Errorf("stream: metrics address: %w", err)
		}
		hs := &http.Server{Handler: w.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go hs.Serve(ln)
		defer hs.Close()
		w.log.Info("serving /healthz, /readyz, /metrics", "addr", ln.Addr().String())
	}
	if o.ModelPath != "" {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		done := make(chan struct{})
		defer close(done)
		go func() {
			for {
				select {
				case <-hup:
					_ = w.Reload(o.ModelPath) // logged and counted by the worker
				case <-done:
					return
				}
			}
		}()
	}
	if err := w.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
