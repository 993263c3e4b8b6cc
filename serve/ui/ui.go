// Package ui is bottleneck's web page: plain HTML, CSS and JavaScript
// embedded in the binary (no CDN, no fonts, no build step), served by
// package serve at / and /ui/. It calls the service's own API: pictures
// through /v1/images/*, table rows through /v1/score, the latent space
// through /v1/latent/*.
package ui

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var files embed.FS

// FS holds index.html, app.js and style.css.
var FS, _ = fs.Sub(files, "static")

// Handler serves the page's files; mount it at / and /ui/.
func Handler() http.Handler {
	fileServer := http.FileServerFS(FS)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		fileServer.ServeHTTP(w, r)
	})
}
