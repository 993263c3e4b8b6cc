package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bottleneck-ml/bottleneck/anomaly"
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
	imageModels       []string // TASK=MODEL
	latentModels      []string
	noUI              bool
	maxImagePixels    int
	maxImageBody      byteSize
	precision         precisionFlag
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
		Use:   "serve [-m MODEL] [--addr 127.0.0.1:8080]",
		Short: "Serve anomaly scores, image models and the web page over HTTP",
		Long: `Serve a model's anomaly scores over HTTP (HTTPS with --tls-cert and --tls-key),
with the shipped image and latent models and a web page to try them all.
Without -m it serves the page, the image and the latent endpoints only.

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
  POST /v1/images/{denoise,upscale,colorize,reconstruct,score}
                   a PNG or JPEG body (?scale=2|3|4 to upscale; ?sigma=S
                   adds noise of σ S to a clean picture first) answered
                   with a PNG; multipart/form-data with the parts image
                   and/or reference (the clean picture: alone, the input
                   is made from it) is answered with JSON: the result as a
                   data: URL, and PSNR/SSIM against the reference beside
                   the baseline's (noisy, bicubic, grey)
  GET  /v1/latent/{sample,interpolate,map,digit}
                   new samples, interpolations and the 2-D code map of the
                   latent models over the embedded MNIST test digits
  GET  /v1/info, /v1/model, /v1/sample
                   what is served, the table model's card, sample rows
  GET  /           the web page (and /ui/): Images, Anomalies, Latent space

Image models default to the shipped ones (bottleneck models); choose
others with --images-model TASK=MODEL (denoise, upscale, upscale-x2/-x3/-x4,
colorize, reconstruct, score) and --latent-model. --no-ui serves the
scoring API alone.

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
flight. With --token-file, the API (all of /v1 but /v1/info) needs
"Authorization: Bearer <token>"; the page asks for it.
Logs go to standard error (--log-format text or json), one line per request
with its method, path, status, rows, duration and request id (the
client's X-Request-Id, or a new one, echoed in the response).

Every flag can also be set by an environment variable: BOTTLENECK_ and the
flag's name in upper case with '-' as '_' (BOTTLENECK_MODEL, BOTTLENECK_ADDR,
BOTTLENECK_TOKEN_FILE, BOTTLENECK_MAX_BODY, ...; each is listed beside its
flag below). A flag on the command line wins. Sizes take a suffix: 32MiB,
8MB, 512KiB.`,
		Example: `  bottleneck serve -m kdd.safetensors
  bottleneck serve                 # the page and the image models: open http://127.0.0.1:8080/
  curl -s -X POST localhost:8080/v1/images/denoise -H 'Content-Type: image/png' --data-binary @noisy.png -o clean.png
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
	f.StringVarP(&o.model, "model", "m", "", "table model file to score rows with (bottleneck train)")
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
	f.StringArrayVar(&o.imageModels, "images-model", nil, "TASK=MODEL: the model of an image endpoint (denoise, upscale, upscale-x2/-x3/-x4, colorize, reconstruct, score), a file or shipped name; repeat for more")
	f.StringArrayVar(&o.latentModels, "latent-model", nil, "a model of /v1/latent (reads 28×28 digits), file or shipped name; repeat for more (default mnist-vae, mnist-conv)")
	f.BoolVar(&o.noUI, "no-ui", false, "serve the scoring API alone: no page, image or latent endpoints")
	f.IntVar(&o.maxImagePixels, "max-image-pixels", serve.DefaultMaxImagePixels, "largest picture an image request may make (output width × height)")
	o.precision.add(f)
	f.Var(&o.maxImageBody, "max-image-body", "largest image request body (0: 32MiB)")
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

func runServe(ctx context.Context, o *serveOptions, stderr io.Writer) error {
	log, err := newLogger(stderr, o.logFormat)
	if err != nil {
		return err
	}
	if o.maxBody < 0 || o.maxRows <= 0 || o.top < 0 || o.maxInflight < 0 || o.maxInflightBytes < 0 || o.maxScoring < 0 || o.maxImagePixels < 0 || o.maxImageBody < 0 {
		return usagef("--max-rows must be positive, --top, --max-body, --max-inflight, --max-inflight-bytes, --max-scoring, --max-image-pixels and --max-image-body 0 or more")
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return usagef("--tls-cert and --tls-key go together: pass both for HTTPS, or neither")
	}
	if o.noUI && o.model == "" {
		return usagef("-m/--model is required with --no-ui: pass a model trained with 'bottleneck train'")
	}
	var det *anomaly.Detector
	if o.model != "" {
		if det, err = openDetector(o.model); err != nil {
			return err
		}
	}
	var token string
	if o.tokenFile != "" {
		if token, err = serve.ReadToken(o.tokenFile); err != nil {
			return fmt.Errorf("--token-file: %w", err)
		}
	}
	top := o.top
	if top == 0 {
		top = -1
	}
	prec, err := o.precision.value()
	if err != nil {
		return err
	}
	opt := serve.Options{Precision: prec,
		MaxBodyBytes: int64(o.maxBody), MaxRows: o.maxRows, Top: top, Token: token,
		MaxInflight: o.maxInflight, MaxInflightBytes: int64(o.maxInflightBytes), MaxScoring: o.maxScoring, MaxQueueWait: o.queueWait,
		AllowSchemaChange: o.allowSchemaChange, Logger: log, MaxImagePixels: o.maxImagePixels, MaxImageBytes: int64(o.maxImageBody),
	}
	if !o.noUI {
		opt.Page, opt.Images, opt.Latent = true, serve.DefaultImages(), serve.DefaultLatent()
		for _, kv := range o.imageModels {
			task, model, ok := strings.Cut(kv, "=")
			if !ok || task == "" || model == "" {
				return usagef("--images-model %q: want TASK=MODEL, e.g. denoise=my-denoiser.safetensors", kv)
			}
			opt.Images[task] = model
		}
		if len(o.latentModels) > 0 {
			opt.Latent = o.latentModels
		}
	} else if len(o.imageModels)+len(o.latentModels) > 0 {
		return usagef("--images-model and --latent-model serve the image and latent endpoints, which --no-ui turns off")
	}
	srv, err := serve.New(det, opt)
	if err != nil {
		return usageError{err}
	}
	if o.maxBody > 0 && det != nil {
		if need := serve.BodyLimit(det.Preprocessor(), o.maxRows); int64(o.maxBody) < need {
			log.Warn("--max-body may not hold --max-rows rows of this model as JSON objects", "max_body", int64(o.maxBody), "max_rows", o.maxRows, "about", need)
		}
	}
	ro := serve.RunOptions{Addr: o.addr, TLSCert: o.tlsCert, TLSKey: o.tlsKey, ReadTimeout: o.readTimeout, WriteTimeout: o.writeTimeout,
		ShutdownTimeout: o.grace, ModelPath: o.model, Logger: log}
	ro.Ready = func(addr string) {
		if o.ready != nil {
			o.ready <- addr
		}
	}
	return serve.Run(ctx, srv, ro)
}
