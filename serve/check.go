package serve

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
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

// HealthURL is the /healthz URL of a server listening on addr (empty:
// 127.0.0.1:8080): a wildcard or empty host (0.0.0.0, ::, ":8080") is
// asked on 127.0.0.1, over HTTPS when tls.
func HealthURL(addr string, tls bool) (string, error) {
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("serve: address %q: %v", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/healthz", nil
}

// ReadToken reads a bearer token from a file (Options.Token): its text
// without surrounding white space. An empty file is refused: a server
// with an empty token would take any request.
func ReadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("serve: token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("serve: token file %s is empty; put the token in it", path)
	}
	return t, nil
}
