package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/bottleneck-ml/bottleneck/serve"
)

type serveOptions struct {
	model        string
	addr         string
	tokenFile    string
	maxBody      int64
	maxRows      int
	top          int
	readTimeout  time.Duration
	writeTimeout time.Duration
	grace        time.Duration
	ready        chan<- string // tests: receives the listening address
}

func newServeCommand(g *globalOptions) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve -m MODEL [--addr :8080]",
		Short: "Serve anomaly scores over HTTP: POST /v1/score, /healthz, /readyz, /metrics",
		Long: `Serve a model's anomaly scores over HTTP.

  POST /v1/score   JSON {"rows": [{"column": value, ...}, ...]} (or arrays of
                   values in training column order), or a text/csv body with
                   a header; answers {"model_version", "score", "threshold",
                   "results": [{"score", "anomaly", "top": [{"feature",
                   "share"}]}]}. A malformed request gets a 4xx JSON error
                   naming the row, line and field.
  GET  /healthz    the process is up
  GET  /readyz     a model is loaded and the server is not shutting down
  GET  /metrics    Prometheus: requests, latency, rows scored, anomalies
                   flagged, model version, reloads

SIGHUP reloads the model file without dropping requests (a bad file is
refused and the old model stays); SIGTERM or Ctrl-C stops accepting
connections and finishes the requests in flight. With --token-file,
/v1/score needs "Authorization: Bearer <token>".`,
		Example: `  bottleneck serve -m kdd.safetensors --addr 127.0.0.1:8080
  curl -s -X POST localhost:8080/v1/score -H 'Content-Type: text/csv' --data-binary @rows.csv
  kill -HUP $(pidof bottleneck)   # reload kdd.safetensors after retraining`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), o, cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.model, "model", "m", "", "model file (required)")
	f.StringVar(&o.addr, "addr", ":8080", "listen address")
	f.StringVar(&o.tokenFile, "token-file", "", "file holding a bearer token that /v1/score requires")
	f.Int64Var(&o.maxBody, "max-body", 8<<20, "largest request body in bytes")
	f.IntVar(&o.maxRows, "max-rows", 10000, "most rows per request")
	f.IntVar(&o.top, "top", 3, "features listed per row (0: none)")
	f.DurationVar(&o.readTimeout, "read-timeout", 10*time.Second, "time to read a request")
	f.DurationVar(&o.writeTimeout, "write-timeout", 30*time.Second, "time to handle and answer a request")
	f.DurationVar(&o.grace, "shutdown-timeout", 20*time.Second, "time in-flight requests get to finish on SIGTERM")
	return cmd
}

func runServe(ctx context.Context, o *serveOptions, stderr io.Writer) error {
	det, err := openDetector(o.model)
	if err != nil {
		return err
	}
	if o.maxBody <= 0 || o.maxRows <= 0 || o.top < 0 {
		return usagef("--max-body, --max-rows must be positive and --top 0 or more")
	}
	var token string
	if o.tokenFile != "" {
		b, err := os.ReadFile(o.tokenFile)
		if err != nil {
			return fmt.Errorf("--token-file: %w", err)
		}
		if token = strings.TrimSpace(string(b)); token == "" {
			return usagef("--token-file %s is empty; put the token in it", o.tokenFile)
		}
	}
	top := o.top
	if top == 0 {
		top = -1
	}
	srv, err := serve.New(det, serve.Options{MaxBodyBytes: o.maxBody, MaxRows: o.maxRows, Top: top, Token: token})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("serve: %w; pass another --addr", err)
	}
	hs := &http.Server{Handler: srv, ReadTimeout: o.readTimeout, ReadHeaderTimeout: o.readTimeout, WriteTimeout: o.writeTimeout, IdleTimeout: 2 * time.Minute}
	fmt.Fprintf(stderr, "serving %s (version %s) on http://%s\n", o.model, srv.ModelVersion(), ln.Addr())
	if o.ready != nil {
		o.ready <- ln.Addr().String()
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	for {
		select {
		case <-hup:
			nd, err := openDetector(o.model)
			if err == nil {
				err = srv.Swap(nd)
			}
			if err != nil {
				fmt.Fprintf(stderr, "reload %s failed, still serving version %s: %v\n", o.model, srv.ModelVersion(), err)
			} else {
				fmt.Fprintf(stderr, "reloaded %s: version %s\n", o.model, srv.ModelVersion())
			}
		case err := <-errc:
			return fmt.Errorf("serve: %w", err)
		case <-ctx.Done():
			srv.SetReady(false)
			fmt.Fprintf(stderr, "shutting down: finishing requests in flight (up to %s)\n", o.grace)
			sctx, cancel := context.WithTimeout(context.Background(), o.grace)
			defer cancel()
			if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve: shutdown: %w", err)
			}
			fmt.Fprintln(stderr, "stopped")
			return nil
		}
	}
}
