package serve_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bottleneck-ml/bottleneck/serve"
)

// Check a running server's /healthz, as a container health check does.
func ExampleCheck() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok") // a bottleneck server answers GET /healthz so
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := serve.Check(ctx, srv.URL+"/healthz", false); err != nil {
		fmt.Println("unhealthy:", err)
		return
	}
	fmt.Println("healthy")
	// Output: healthy
}

func TestCheck(t *testing.T) {
	var status atomic.Int32 // the answer to GET /healthz
	status.Store(http.StatusOK)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(status.Load()))
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx := context.Background()
	url := srv.URL + "/healthz"
	if err := serve.Check(ctx, url, false); err != nil {
		t.Errorf("Check of a healthy server: %v", err)
	}
	status.Store(http.StatusServiceUnavailable)
	if err := serve.Check(ctx, url, false); err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), url) {
		t.Errorf("Check of a 503: %v; want an error naming the URL and the status", err)
	}
	if err := serve.Check(ctx, ":bad", false); err == nil || !strings.Contains(err.Error(), `":bad"`) {
		t.Errorf("Check of a bad URL: %v; want an error naming it", err)
	}
	srv.Close()
	if err := serve.Check(ctx, url, false); err == nil {
		t.Error("Check of a closed server: no error")
	}

	// A self-signed certificate passes only with insecure.
	secure := httptest.NewTLSServer(h)
	defer secure.Close()
	status.Store(http.StatusOK)
	if err := serve.Check(ctx, secure.URL+"/healthz", false); err == nil {
		t.Error("Check trusted a self-signed certificate")
	}
	if err := serve.Check(ctx, secure.URL+"/healthz", true); err != nil {
		t.Errorf("Check with insecure: %v", err)
	}
	// The context bounds the wait.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer slow.Close()
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := serve.Check(short, slow.URL+"/healthz", false); err == nil {
		t.Error("Check of a server that never answers: no error")
	}
}
