package serve

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
)

// Check asks the server at url (its /healthz, e.g.
// "http://127.0.0.1:8080/healthz") whether it is alive and returns nil
// when it answers 200, or an error naming the URL and what went wrong. It
// is a container's health check, which has no curl. insecure skips the
// verification of an HTTPS server's certificate: a check of the local
// machine asks 127.0.0.1, which the certificate seldom names. ctx bounds
// the wait; give it a deadline.
func Check(ctx context.Context, url string, insecure bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %q: %w; pass an http:// or https:// URL", url, err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: insecure}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: GET %s: %s", url, resp.Status)
	}
	return nil
}
