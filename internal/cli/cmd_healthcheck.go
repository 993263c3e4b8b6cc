package cli

import (
	"context"
	"fmt"
	"io"
	neturl "net/url"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/bottleneck-ml/bottleneck/serve"
)

type healthcheckOptions struct {
	url      string
	timeout  time.Duration
	insecure bool
}

func newHealthcheckCommand(g *globalOptions) *cobra.Command {
	o := &healthcheckOptions{}
	cmd := &cobra.Command{
		Use:   "healthcheck [--url URL]",
		Short: "Exit 0 when a running 'bottleneck serve' answers GET /healthz with 200 (for container health checks)",
		Long: `Ask a running 'bottleneck serve' for GET /healthz: exit 0 on a 200, 1
otherwise. It is the health check of the container image, which has no
curl.

Without --url the address is the serve command's: BOTTLENECK_ADDR
(127.0.0.1:8080 when unset; a wildcard host such as 0.0.0.0 or an empty
one is asked on 127.0.0.1), over HTTPS when BOTTLENECK_TLS_CERT is set —
then the certificate is not verified, since the check asks its own
machine, which the certificate seldom names.`,
		Example: `  bottleneck healthcheck
  bottleneck healthcheck --url https://scoring.internal:8443/healthz
  HEALTHCHECK CMD ["/bottleneck", "healthcheck"]   # Dockerfile`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			if g.quiet {
				out = io.Discard
			}
			return runHealthcheck(cmd.Context(), o, os.LookupEnv, out)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.url, "url", "", "the /healthz URL (default: from BOTTLENECK_ADDR and BOTTLENECK_TLS_CERT)")
	f.DurationVar(&o.timeout, "timeout", 3*time.Second, "time to wait for the answer")
	f.BoolVar(&o.insecure, "insecure", false, "do not verify the server's TLS certificate")
	return cmd
}

func runHealthcheck(ctx context.Context, o *healthcheckOptions, lookup func(string) (string, bool), stdout io.Writer) error {
	url, insecure := o.url, o.insecure
	if url == "" {
		addr, _ := lookup(envName("addr"))
		cert, _ := lookup(envName("tls-cert"))
		u, err := serve.HealthURL(addr, cert != "")
		if err != nil {
			return fmt.Errorf("%s: %w", envName("addr"), err)
		}
		url, insecure = u, insecure || cert != ""
	}
	if _, err := neturl.Parse(url); err != nil {
		return usagef("--url %q: %v", url, err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if err := serve.Check(ctx, url, insecure); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "healthy: GET %s: 200 OK\n", url)
	return nil
}
