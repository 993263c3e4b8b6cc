package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bottleneck-ml/bottleneck/stream"
)

type streamOptions struct {
	model, metricsAddr, logFormat string
	opt                           stream.Options
	precision                     precisionFlag
}

func newStreamCommand(g *globalOptions) *cobra.Command {
	o := &streamOptions{}
	cmd := &cobra.Command{
		Use:   "stream -m MODEL --in URL --out NAME [--group NAME]",
		Short: "Score an event stream on NATS JetStream or Kafka as a member of a consumer group",
		Long: `Read messages from NATS JetStream (--in nats://HOST:PORT/SUBJECT: a durable
pull consumer named --group on the stream that captures the subject, created
as --stream when none does) or Kafka (--in kafka://HOST:PORT[,…]/TOPIC: a
member of consumer group --group), score them in batches of up to --batch
(or what arrives within --linger), and publish one output per message to
--out, keyed by its id (the --id field, else the broker's coordinates):

  {"id", "score", "anomaly", "threshold", "top": [{"feature", "share"}], "model"}

Workers with the same --group share the messages. An input is a JSON object
keyed by column name (--format json) or a CSV line in the model's column
order (--format csv). A message is acknowledged only after the broker has
its output (at least once: a killed worker's last batch is scored again);
one that cannot be scored goes to --dead (default: the input's name with
.dead appended) with the error and the payload. --metrics-addr serves
/healthz, /readyz and /metrics; SIGHUP reloads the model (refusing other
columns unless --allow-schema-change); SIGTERM finishes the batch in flight
and leaves the group. Flags can be set as BOTTLENECK_<FLAG> (see serve).
README "Streaming" and docs/SCALE.md have the details.`,
		Example: `  bottleneck stream -m kdd.safetensors --in nats://127.0.0.1:4222/flows --out scores
  bottleneck stream -m kdd.safetensors --in kafka://k1:9092,k2:9092/flows --out flow-scores \
      --group kdd --id flow_id --metrics-addr :9464`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := flagsFromEnv(cmd.LocalFlags(), os.LookupEnv); err != nil {
				return err
			}
			return runStream(cmd.Context(), o, cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	s := &o.opt
	f.StringVarP(&o.model, "model", "m", "", "model file (required)")
	f.StringVar(&s.In, "in", "", "input: nats://HOST:PORT/SUBJECT or kafka://HOST:PORT[,HOST:PORT…]/TOPIC (required)")
	f.StringVar(&s.Out, "out", "", "output subject or topic on the same broker (required)")
	f.StringVar(&s.Dead, "dead", "", "dead-letter subject or topic (default: the input's, with .dead appended)")
	f.StringVar(&s.Group, "group", "bottleneck", "consumer group: the NATS durable consumer, the Kafka group id")
	f.StringVar(&s.Stream, "stream", "", "NATS: name of the stream to create when none captures the input subject (default from the subject)")
	f.StringVar(&s.ID, "id", "", "input field copied to the output as its id (CSV: its 0-based index); default the broker's coordinates")
	f.StringVar(&s.Format, "format", "json", "input messages: json (an object keyed by column name) or csv (one line in the model's column order)")
	f.IntVar(&s.Batch, "batch", 256, "most messages scored together")
	f.DurationVar(&s.Linger, "linger", 5*time.Millisecond, "how long to wait for more messages after the first of a batch")
	f.IntVar(&s.Top, "top", 3, "features listed per output (0: none)")
	f.DurationVar(&s.AckWait, "ack-wait", 30*time.Second, "NATS: time before an unacknowledged message is delivered again (set on the consumer created)")
	f.IntVar(&s.MaxDeliver, "max-deliver", 10, "NATS: deliveries after which a message no worker finishes is dead-lettered")
	f.DurationVar(&s.SessionTimeout, "session-timeout", 45*time.Second, "Kafka: time before a silent worker's partitions go to the others")
	f.DurationVar(&s.DrainTimeout, "drain-timeout", 30*time.Second, "on SIGTERM, time to finish the batch in flight")
	f.StringVar(&s.WorkerID, "worker-id", "", "name in logs and in the Bottleneck-Worker header of outputs (default host:pid)")
	f.BoolVar(&s.AllowSchemaChange, "allow-schema-change", false, "let SIGHUP load a model whose input columns differ")
	f.StringVar(&o.metricsAddr, "metrics-addr", "", "serve /healthz, /readyz and /metrics on this address (e.g. :9464)")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	o.precision.add(f)
	f.VisitAll(func(fl *pflag.Flag) { fl.Usage += " [$" + envName(fl.Name) + "]" })
	return cmd
}

func runStream(ctx context.Context, o *streamOptions, stderr io.Writer) error {
	log, err := newLogger(stderr, o.logFormat)
	if err != nil {
		return err
	}
	if o.opt.In == "" || o.opt.Out == "" {
		return usagef("--in and --out are required: pass --in nats://HOST:PORT/SUBJECT (or kafka://HOST:PORT/TOPIC) and --out NAME")
	}
	if o.opt.Batch < 1 || o.opt.Top < 0 || o.opt.Linger < 0 {
		return usagef("--batch must be at least 1, --top and --linger 0 or more")
	}
	if o.opt.Top == 0 {
		o.opt.Top = -1
	}
	if o.opt.Linger == 0 {
		o.opt.Linger = -1
	}
	det, err := openDetector(o.model)
	if err != nil {
		return err
	}
	if o.opt.Precision, err = o.precision.value(); err != nil {
		return err
	}
	o.opt.Logger = log
	w, err := stream.New(det, o.opt)
	if err != nil {
		return usageError{err}
	}
	return stream.Run(ctx, w, stream.RunOptions{MetricsAddr: o.metricsAddr, ModelPath: o.model})
}

// resolveStream replaces a --data nats://… or kafka://… by a CSV file of
// up to --max-rows (default 100,000) of the most recent messages there.
func (d *dataFlags) resolveStream() error {
	if !strings.HasPrefix(d.path, "nats://") && !strings.HasPrefix(d.path, "kafka://") {
		return nil
	}
	dir, err := tempDir()
	if err != nil {
		return err
	}
	path, n, err := stream.SampleFile(context.Background(), d.path, dir, stream.SampleOptions{N: d.maxRows})
	if err != nil {
		return fmt.Errorf("--data %s: %w", d.path, err)
	}
	if d.warn != nil {
		fmt.Fprintf(d.warn, "sampled the %d most recent messages of %s\n", n, d.path)
	}
	d.path = path
	return nil
}
