package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bottleneck-ml/bottleneck/serve"
)

type serveOptions struct {
	model             string
	addr              string
	tokenFile         string
	maxBody           byteSize
	maxRows           int
	maxInflight       int
	maxInflightBytes  byteSize
	maxScoring        int
	queueWait         time.Duration
	top               int
	readTimeout       time.Duration
	writeTimeout      time.Duration
	grace             time.Duration
	tlsCert, tlsKey   string
	logFormat         string
	allowSchemaChange bool
	ready             chan<- string // tests: receives the listening address
}

// envPrefix starts the environment variable of every serve flag:
// BOTTLENECK_ and the flag's name in upper case, '-' as '_'.
const envPrefix = "BOTTLENECK_"

// envName is the environment variable that sets flag name.
func envName(name string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// flagsFromEnv sets every flag of fs not given on the command line from
// its environment variable (envName), when that is set.
func flagsFromEnv(fs *pflag.FlagSet, lookup func(string) (string, bool)) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" {
			return
		}
		v, ok := lookup(envName(f.Name))
		if !ok {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = usagef("environment variable %s=%q: %v", envName(f.Name), v, e)
		}
	})
	return err
}

func newServeCommand(g *globalOptions) *cobra.Command {
	o := &serveOptions{maxInflightBytes: 64 << 20}
	cmd := &cobra.Command{
		Use:   "serve -m MODEL [--addr 127.0.0.1:8080]",
		Short: "Serve anomaly scores over HTTP: POST /v1/score, /healthz, /readyz, /metrics",
		Long: `Serve a model's anomaly scores over HTTP (HTTPS with --tls-cert and --tls-key).

  POST /v1/score   JSON {"rows": [{"column": value, ...}, ...]} (or arrays of
                   values in training column order), or a text/csv body with
                   a header; answers {"model_version", "score", "threshold",
                   "results": [{"score", "anomaly", "top": [{"feature",
                   "share"}]}]}. A malformed request gets a 4xx JSON error
                   naming the row, line and field.
  GET  /healthz    the process is up
  GET  /readyz     a model is loaded and the server is not shutting down
  GET  /metrics    Prometheus: requests, latency, rows scored, anomalies
                   flagged, model version, reloads, refused requests, Go
                   runtime and process

It listens on 127.0.0.1:8080, this machine only; --addr 0.0.0.0:8080 (or
:8080) listens on all interfaces, as in a container.

Limits. A body may hold --max-rows rows (10,000) and --max-body bytes; the
default body limit is derived from the model: room for --max-rows rows sent
as JSON objects, 32 bytes per value beside its column name (10,000 NSL-KDD
rows: 19.6 MB). Bodies are parsed row by row, never held whole. At most
--max-inflight score requests (512) and --max-inflight-bytes declared body
bytes (64 MiB, an eighth of it kept for bodies of 64 KiB or less) are in
flight; more are answered 503 with Retry-After: 1. Bodies over 64 KiB
parse and score --max-scoring at a time (half the cores), waiting up to
--max-queue-wait for a turn; small requests never wait behind them.

SIGHUP reloads the model file (and the TLS certificate) without dropping
requests: a missing or damaged file, a model whose weights are not finite,
or one whose input columns differ from the served one's (unless
--allow-schema-change) is refused, logged and counted in
bottleneck_model_reloads_total{result="error"}, and the old model stays.
SIGTERM or Ctrl-C stops accepting connections and finishes the requests in
flight. With --token-file, /v1/score needs "Authorization: Bearer <token>".
Logs go to standard error (--log-format text or json), one line per request
with its method, path, status, rows, duration and request id (the
client's X-Request-Id, or a new one, echoed in the response).

Every flag can also be set by an environment variable: BOTTLENECK_ and the
flag's name in upper case with '-' as '_' (BOTTLENECK_MODEL, BOTTLENECK_ADDR,
BOTTLENECK_TOKEN_FILE, BOTTLENECK_MAX_BODY, ...; each is listed beside its
flag below). A flag on the command line wins. Sizes take a suffix: 32MiB,
8MB, 512KiB.`,
		Example: `  bottleneck serve -m kdd.safetensors
  curl -s -X POST localhost:8080/v1/score -H 'Content-Type: text/csv' --data-binary @rows.csv
  kill -HUP $(pidof bottleneck)   # reload kdd.safetensors after retraining
  BOTTLENECK_ADDR=0.0.0.0:8443 BOTTLENECK_MODEL=/models/kdd.safetensors \
      bottleneck serve --tls-cert cert.pem --tls-key key.pem --log-format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := flagsFromEnv(cmd.LocalFlags(), os.LookupEnv); err != nil {
				return err
			}
			return runServe(cmd.Context(), o, cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.model, "model", "m", "", "model file (required)")
	f.StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen address (0.0.0.0:8080 or :8080: all interfaces)")
	f.StringVar(&o.tokenFile, "token-file", "", "file holding a bearer token that /v1/score requires")
	f.Var(&o.maxBody, "max-body", "largest request body (0: derived from the model and --max-rows)")
	f.IntVar(&o.maxRows, "max-rows", 10000, "most rows per request")
	f.IntVar(&o.maxInflight, "max-inflight", 512, "most score requests in flight; more get 503")
	f.Var(&o.maxInflightBytes, "max-inflight-bytes", "most declared body bytes of the score requests in flight; more get 503")
	f.IntVar(&o.maxScoring, "max-scoring", 0, "bodies over 64 KiB parsed and scored at once (0: half the cores, at least 1)")
	f.DurationVar(&o.queueWait, "max-queue-wait", 2*time.Second, "how long a body over 64 KiB waits for its turn before a 503")
	f.IntVar(&o.top, "top", 3, "features listed per row (0: none)")
	f.DurationVar(&o.readTimeout, "read-timeout", 10*time.Second, "time to read a request")
	f.DurationVar(&o.writeTimeout, "write-timeout", 30*time.Second, "time to handle and answer a request")
	f.DurationVar(&o.grace, "shutdown-timeout", 20*time.Second, "time in-flight requests get to finish on SIGTERM")
	f.StringVar(&o.tlsCert, "tls-cert", "", "PEM certificate (chain) file: serve HTTPS (with --tls-key)")
	f.StringVar(&o.tlsKey, "tls-key", "", "PEM private key file of --tls-cert")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.BoolVar(&o.allowSchemaChange, "allow-schema-change", false, "let SIGHUP load a model whose input columns differ from the served one's")
	f.VisitAll(func(fl *pflag.Flag) {
		fl.Usage += " [$" + envName(fl.Name) + "]"
	})
	return cmd
}

// byteSize is a flag of bytes that takes a suffix: KB, MB, GB (powers of
// 1000) or KiB, MiB, GiB (of 1024).
type byteSize int64

func (b *byteSize) String() string {
	v := int64(*b)
	for _, u := range []struct {
		s string
		n int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if v != 0 && v%u.n == 0 {
			return strconv.FormatInt(v/u.n, 10) + u.s
		}
	}
	return strconv.FormatInt(v, 10)
}

func (b *byteSize) Set(s string) error {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		s string
		n int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}} {
		if strings.HasSuffix(t, u.s) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.s)), u.n
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return fmt.Errorf("%q is not a size in bytes (like 1048576, 512KiB, 32MiB, 8MB)", s)
	}
	*b = byteSize(n * mult)
	return nil
}

func (b *byteSize) Type() string { return "bytes" }

// newLogger logs to w as text or JSON.
func newLogger(w io.Writer, format string) (*slog.Logger, error) {
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	}
	return nil, usagef("--log-format %q: want text or json", format)
}

// certificate holds the TLS key pair; SIGHUP reloads it.
type certificate struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

func (c *certificate) load() error {
	kp, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("--tls-cert %s, --tls-key %s: %w", c.certFile, c.keyFile, err)
	}
	c.cur.Store(&kp)
	return nil
}

func (c *certificate) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.cur.Load(), nil }

func runServe(ctx context.Context, o *serveOptions, stderr io.Writer) error {
	log, err := newLogger(stderr, o.logFormat)
	if err != nil {
		return err
	}
	if o.maxBody < 0 || o.maxRows <= 0 || o.top < 0 || o.maxInflight < 0 || o.maxInflightBytes < 0 || o.maxScoring < 0 {
		return usagef("--max-rows must be positive, --top, --max-body, --max-inflight, --max-inflight-bytes and --max-scoring 0 or more")
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return usagef("--tls-cert and --tls-key go together: pass both for HTTPS, or neither")
	}
	det, err := openDetector(o.model)
	if err != nil {
		return err
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
	var cert *certificate
	if o.tlsCert != "" {
		cert = &certificate{certFile: o.tlsCert, keyFile: o.tlsKey}
		if err := cert.load(); err != nil {
			return err
		}
	}
	top := o.top
	if top == 0 {
		top = -1
	}
	srv, err := serve.New(det, serve.Options{
		MaxBodyBytes: int64(o.maxBody), MaxRows: o.maxRows, Top: top, Token: token,
		MaxInflight: o.maxInflight, MaxInflightBytes: int64(o.maxInflightBytes), MaxScoring: o.maxScoring, MaxQueueWait: o.queueWait,
		AllowSchemaChange: o.allowSchemaChange, Logger: log,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("serve: %w; pass another --addr", err)
	}
	hs := &http.Server{Handler: srv, ReadTimeout: o.readTimeout, ReadHeaderTimeout: o.readTimeout, WriteTimeout: o.writeTimeout, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	scheme := "http"
	if cert != nil {
		scheme = "https"
		hs.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: cert.get}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	log.Info("serving", "model", o.model, "version", srv.ModelVersion(), "url", scheme+"://"+ln.Addr().String(), "addr", ln.Addr().String(),
		"max_body", srv.BodyLimit(), "max_rows", o.maxRows, "max_inflight", o.maxInflight, "max_inflight_bytes", int64(o.maxInflightBytes))
	if o.maxBody > 0 {
		if need := serve.BodyLimit(det.Preprocessor(), o.maxRows); int64(o.maxBody) < need {
			log.Warn("--max-body may not hold --max-rows rows of this model as JSON objects", "max_body", int64(o.maxBody), "max_rows", o.maxRows, "about", need)
		}
	}
	if o.ready != nil {
		o.ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() {
		if cert != nil {
			errc <- hs.ServeTLS(ln, "", "")
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	for {
		select {
		case <-hup:
			_ = srv.Reload(o.model) // logged and counted by the server
			if cert != nil {
				if err := cert.load(); err != nil {
					log.Error("TLS certificate reload failed; the old one stays", "error", err)
				} else {
					log.Info("TLS certificate reloaded", "cert", o.tlsCert)
				}
			}
		case err := <-errc:
			return fmt.Errorf("serve: %w", err)
		case <-ctx.Done():
			srv.SetReady(false)
			log.Info("shutting down: finishing requests in flight", "grace", o.grace.String())
			sctx, cancel := context.WithTimeout(context.Background(), o.grace)
			defer cancel()
			if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve: shutdown: %w", err)
			}
			log.Info("stopped")
			return nil
		}
	}
}
