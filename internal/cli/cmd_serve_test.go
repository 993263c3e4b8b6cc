package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/bottleneck-ml/bottleneck/serve"
)

// Every serve flag can be set from its environment variable; the command
// line wins; a bad value is a usage error naming the variable.
func TestServeFlagsFromEnv(t *testing.T) {
	env := map[string]string{
		"BOTTLENECK_ADDR":                "0.0.0.0:9000",
		"BOTTLENECK_MODEL":               "/models/m.safetensors",
		"BOTTLENECK_MAX_BODY":            "2MiB",
		"BOTTLENECK_MAX_INFLIGHT_BYTES":  "1GB",
		"BOTTLENECK_LOG_FORMAT":          "json",
		"BOTTLENECK_ALLOW_SCHEMA_CHANGE": "true",
		"BOTTLENECK_TEST_CLI":            "1", // not a flag: ignored
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cmd := newServeCommand(&globalOptions{})
	if err := cmd.ParseFlags([]string{"--addr", "127.0.0.1:7000", "--top", "5"}); err != nil {
		t.Fatal(err)
	}
	if err := flagsFromEnv(cmd.LocalFlags(), lookup); err != nil {
		t.Fatal(err)
	}
	f := cmd.Flags()
	for name, want := range map[string]string{
		"addr": "127.0.0.1:7000", "model": "/models/m.safetensors", "max-body": "2MiB", "max-inflight-bytes": "1000000000",
		"log-format": "json", "allow-schema-change": "true", "top": "5", "max-rows": "10000",
	} {
		if got := f.Lookup(name).Value.String(); got != want {
			t.Errorf("--%s = %q; want %q", name, got, want)
		}
	}
	// every flag has its variable in --help
	f.VisitAll(func(fl *pflag.Flag) {
		if fl.Name != "help" && !strings.Contains(fl.Usage, "$"+envName(fl.Name)) {
			t.Errorf("--%s: usage %q does not name %s", fl.Name, fl.Usage, envName(fl.Name))
		}
	})
	t.Setenv("BOTTLENECK_MAX_ROWS", "lots")
	code, _, errs := run(t, "serve", "-m", "x.safetensors")
	if code != exitUsage || !strings.Contains(errs, "BOTTLENECK_MAX_ROWS") {
		t.Errorf("a bad environment value: exit %d %q; want a usage error naming the variable", code, errs)
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int64{"1048576": 1 << 20, "512KiB": 512 << 10, "32MiB": 32 << 20, "8MB": 8e6, "1 GiB": 1 << 30, "10B": 10} {
		var b byteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "-1", "lots", "1.5MiB", "99999999999GiB"} {
		var b byteSize
		if err := b.Set(in); err == nil {
			t.Errorf("Set(%q) = %d; want an error", in, b)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until the log holds want (or fails after a minute).
func waitFor(t *testing.T, log *syncBuffer, want string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !strings.Contains(log.String(), want); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the log never said %q:\n%s", want, log.String())
		}
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bottleneck test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// serve over HTTPS with JSON logs; SIGHUP reloads the model file and
// refuses one of another schema; the health check command asks it.
func TestServeTLSReloadLogs(t *testing.T) {
	dir := t.TempDir()
	data := writeFraudTable(t, dir, 100)
	model := filepath.Join(dir, "m.safetensors")
	mustRun(t, "train", "--data", data, "--label", "class", "--normal", "normal", "-o", model, "--epochs", "2", "--no-plot", "-q")
	same := filepath.Join(dir, "same.safetensors")
	mustRun(t, "train", "--data", data, "--label", "class", "--normal", "normal", "-o", same, "--epochs", "3", "--no-plot", "-q")
	other := filepath.Join(dir, "other.safetensors")
	mustRun(t, "train", "--data", data, "--label", "class", "--normal", "normal", "--drop", "distance", "-o", other, "--epochs", "2", "--no-plot", "-q")
	certFile, keyFile, pool := selfSigned(t, dir)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	logs := &syncBuffer{}
	go func() {
		done <- runServe(ctx, &serveOptions{model: model, addr: "127.0.0.1:0", maxRows: 100, top: 2, tlsCert: certFile, tlsKey: keyFile, logFormat: "json",
			readTimeout: 5 * time.Second, writeTimeout: 5 * time.Second, grace: 5 * time.Second, ready: ready}, logs)
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("serve stopped: %v", err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := client.Get("https://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	req, _ := http.NewRequest("POST", "https://"+addr+"/v1/score", strings.NewReader(`{"rows":[{"amount":50,"hour":10,"distance":3,"country":"de"}]}`))
	req.Header.Set("X-Request-Id", "tls-test-1")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Request-Id") != "tls-test-1" {
		t.Errorf("score over HTTPS: %d %s, X-Request-Id %q", resp.StatusCode, body, resp.Header.Get("X-Request-Id"))
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("healthz over HTTPS: %d", code)
	}
	_, v1 := get("/readyz")

	// the health check command, against HTTPS
	var out bytes.Buffer
	hc := &healthcheckOptions{url: "https://" + addr + "/healthz", timeout: 5 * time.Second}
	if err := runHealthcheck(ctx, hc, os.LookupEnv, &out); err == nil {
		t.Error("healthcheck trusted a self-signed certificate without --insecure")
	}
	hc.insecure = true
	if err := runHealthcheck(ctx, hc, os.LookupEnv, &out); err != nil {
		t.Errorf("healthcheck --insecure: %v", err)
	}

	// SIGHUP with a model of another schema in place: refused
	copyFile(t, other, model)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitFor(t, logs, "model reload failed")
	if _, v := get("/readyz"); v != v1 {
		t.Errorf("a refused reload changed /readyz from %s to %s", v1, v)
	}
	// SIGHUP with a model of the same schema: served
	copyFile(t, same, model)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitFor(t, logs, "model reloaded")
	if _, v := get("/readyz"); v == v1 {
		t.Errorf("/readyz still says %s after a reload", v)
	}
	if _, m := get("/metrics"); !strings.Contains(m, `bottleneck_model_reloads_total{result="error"} 1`) || !strings.Contains(m, `bottleneck_model_reloads_total{result="ok"} 1`) {
		t.Errorf("reloads not counted in /metrics")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	// the log: JSON lines, one per request with its id
	var access int
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", l, err)
		}
		if m["msg"] == "request" {
			access++
			if m["request_id"] == "tls-test-1" && (m["path"] != "/v1/score" || m["rows"] != 1.0 || m["status"] != 200.0) {
				t.Errorf("access log of the score request: %v", m)
			}
		}
	}
	if access < 6 {
		t.Errorf("%d access-log lines; want one per request:\n%s", access, logs.String())
	}
	for _, want := range []string{`"msg":"serving"`, `"url":"https://`, `"msg":"stopped"`, "input differs"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %s:\n%s", want, logs.String())
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to+".tmp", b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(to+".tmp", to); err != nil {
		t.Fatal(err)
	}
}

func TestServeFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "-m", "x", "--tls-cert", "c.pem"},
		{"serve", "-m", "x", "--log-format", "xml"},
		{"serve", "-m", "x", "--max-body", "lots"},
	} {
		if code, _, errs := run(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d %q; want a usage error", args, code, errs)
		}
	}
}

func TestHealthcheck(t *testing.T) {
	status := http.StatusOK
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer ts.Close()
	o := &healthcheckOptions{url: ts.URL + "/healthz", timeout: 5 * time.Second}
	none := func(string) (string, bool) { return "", false }
	if err := runHealthcheck(context.Background(), o, none, io.Discard); err != nil {
		t.Errorf("a 200: %v", err)
	}
	status = http.StatusServiceUnavailable
	if err := runHealthcheck(context.Background(), o, none, io.Discard); err == nil {
		t.Error("a 503 passed the health check")
	}
	if code, _, _ := run(t, "healthcheck", "--url", ts.URL+"/healthz"); code != exitError {
		t.Errorf("healthcheck of a 503: exit %d; want %d", code, exitError)
	}
	status = http.StatusOK
	if code, out, _ := run(t, "healthcheck", "--url", ts.URL+"/healthz"); code != 0 || !strings.Contains(out, "200") {
		t.Errorf("healthcheck of a 200: exit %d %q", code, out)
	}
	// no --url: the address serve would use
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(ts.URL, "http://"))
	if err := runHealthcheck(context.Background(), &healthcheckOptions{timeout: 5 * time.Second},
		func(k string) (string, bool) {
			return map[string]string{"BOTTLENECK_ADDR": "0.0.0.0:" + port}[k], k == "BOTTLENECK_ADDR"
		}, io.Discard); err != nil {
		t.Errorf("healthcheck from BOTTLENECK_ADDR: %v", err)
	}
	for env, want := range map[string]string{
		"":                   "http://127.0.0.1:8080/healthz",
		":9000":              "http://127.0.0.1:9000/healthz",
		"[::]:9000":          "http://127.0.0.1:9000/healthz",
		"10.0.0.7:80":        "http://10.0.0.7:80/healthz",
		"0.0.0.0:8443 tls":   "https://127.0.0.1:8443/healthz",
		"localhost:8443 tls": "https://localhost:8443/healthz",
	} {
		addr, tlsOn := strings.CutSuffix(env, " tls")
		got, err := serve.HealthURL(addr, tlsOn)
		if err != nil || got != want {
			t.Errorf("HealthURL(%q) = %q, %v; want %q", env, got, err, want)
		}
	}
}

// serve without -m: the page, the image and latent endpoints, no scoring;
// --no-ui without -m is refused, as is a malformed --images-model.
func TestServePageWithoutModel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- runServe(ctx, &serveOptions{addr: "127.0.0.1:0", maxRows: 100, top: 2, logFormat: "text",
			imageModels: []string{"denoise=mnist-denoise"}, ready: ready}, io.Discard)
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("serve stopped: %v", err)
	}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/"); code != 200 || !strings.Contains(body, "<title>bottleneck</title>") {
		t.Errorf("GET /: %d %.100s", code, body)
	}
	if code, body := get("/v1/info"); code != 200 || !strings.Contains(body, `"table":null`) || !strings.Contains(body, `"denoise":"mnist-denoise"`) {
		t.Errorf("GET /v1/info: %d %s", code, body)
	}
	resp, err := http.Post("http://"+addr+"/v1/score", "text/csv", strings.NewReader("a\n1\n"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("POST /v1/score without a table model: %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("shutdown: %v", err)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--no-ui"}, "-m/--model is required"},
		{[]string{"serve", "--images-model", "denoise"}, "TASK=MODEL"},
		{[]string{"serve", "--images-model", "upscale=denoise-gray"}, "not upscale"},
		{[]string{"serve", "--latent-model", "colorize"}, "colorize"},
	} {
		code, _, stderr := run(t, c.args...)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, stderr, exitUsage, c.want)
		}
	}
}
