package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

// RunOptions configure Run: where the server listens, HTTPS, timeouts and
// what SIGHUP reloads.
type RunOptions struct {
	Addr string // listen address; "127.0.0.1:8080" when empty
	// TLSCert and TLSKey are PEM files: with both, Run serves HTTPS; SIGHUP
	// reloads them.
	TLSCert, TLSKey string
	// ReadTimeout, WriteTimeout and ShutdownTimeout default to 10s, 30s
	// and 20s.
	ReadTimeout, WriteTimeout, ShutdownTimeout time.Duration
	// ModelPath is the table model file SIGHUP reloads (Server.Reload);
	// empty: none.
	ModelPath string
	// Ready, when set, is called with the listening address (useful with
	// port 0) once connections are accepted.
	Ready func(addr string)
	// Logger receives the server's life (listening, reloads, shutdown);
	// nil discards it.
	Logger *slog.Logger
}

// certificate holds the TLS key pair; SIGHUP reloads it.
type certificate struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

func (c *certificate) load() error {
	kp, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate %s, key %s: %w", c.certFile, c.keyFile, err)
	}
	c.cur.Store(&kp)
	return nil
}

func (c *certificate) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.cur.Load(), nil }

// Run serves srv on o.Addr until ctx is done, then stops accepting
// connections, marks the server not ready and gives the requests in flight
// o.ShutdownTimeout to finish. SIGHUP reloads the model file and the TLS
// certificate; a failed reload keeps the old ones (logged).
func Run(ctx context.Context, srv *Server, o RunOptions) error {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:8080"
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&o.ReadTimeout, 10 * time.Second}, {&o.WriteTimeout, 30 * time.Second}, {&o.ShutdownTimeout, 20 * time.Second}} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return errors.New("serve: a TLS certificate and its key go together: give both for HTTPS, or neither")
	}
	var cert *certificate
	if o.TLSCert != "" {
		cert = &certificate{certFile: o.TLSCert, keyFile: o.TLSKey}
		if err := cert.load(); err != nil {
			return fmt.Errorf("serve: %w", err)
		}
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return fmt.Errorf("serve: %w; listen on another address", err)
	}
	hs := &http.Server{Handler: srv, ReadTimeout: o.ReadTimeout, ReadHeaderTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	scheme := "http"
	if cert != nil {
		scheme = "https"
		hs.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: cert.get}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	log.Info("serving", "model", o.ModelPath, "version", srv.ModelVersion(), "url", scheme+"://"+ln.Addr().String(), "addr", ln.Addr().String(),
		"max_body", srv.BodyLimit(), "max_rows", srv.opt.MaxRows, "max_inflight", srv.opt.MaxInflight, "max_inflight_bytes", srv.opt.MaxInflightBytes,
		"page", srv.opt.Page, "images", len(srv.images), "latent", len(srv.latents))
	errc := make(chan error, 1)
	go func() {
		if cert != nil {
			errc <- hs.ServeTLS(ln, "", "")
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	if o.Ready != nil {
		o.Ready(ln.Addr().String())
	}
	for {
		select {
		case <-hup:
			if o.ModelPath != "" {
				_ = srv.Reload(o.ModelPath) // logged and counted by the server
			}
			if cert != nil {
				if err := cert.load(); err != nil {
					log.Error("TLS certificate reload failed; the old one stays", "error", err)
				} else {
					log.Info("TLS certificate reloaded", "cert", o.TLSCert)
				}
			}
		case err := <-errc:
			return fmt.Errorf("serve: %w", err)
		case <-ctx.Done():
			srv.SetReady(false)
			log.Info("shutting down: finishing requests in flight", "grace", o.ShutdownTimeout.String())
			sctx, cancel := context.WithTimeout(context.Background(), o.ShutdownTimeout)
			defer cancel()
			if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve: shutdown: %w", err)
			}
			log.Info("stopped")
			return nil
		}
	}
}
