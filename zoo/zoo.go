// Package zoo holds the models shipped inside the binary: a registry from
// a short name ("mnist-vae", "denoise-gray") to an embedded model file,
// with a description and the results recorded for it. Open gives the model;
// commands that take a model path accept these names too.
//
// To ship a model, put its file in models/ and add an entry to
// models/index.json:
//
//	{"name": "mnist-vae", "file": "mnist-vae.safetensors",
//	 "description": "…", "results": {"nll_k5000": "…"}, "command": "…"}
package zoo

import (
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/bottleneck-ml/bottleneck/ae"
)

//go:embed models
var files embed.FS

// Entry describes one shipped model.
type Entry struct {
	Name        string            `json:"name"`
	File        string            `json:"file"` // inside models/
	Description string            `json:"description"`
	Results     map[string]string `json:"results,omitempty"` // recorded results, each with the command in docs/RESULTS.md
	Command     string            `json:"command,omitempty"` // how it was trained
	Kind        string            `json:"kind,omitempty"`    // e.g. "vae", "conv"; commands may pick models by it
	Size        int64             `json:"size"`              // bytes, filled in from the file
}

var (
	once    sync.Once
	entries []Entry
	loadErr error
)

func load() {
	raw, err := files.ReadFile("models/index.json")
	if err != nil {
		loadErr = fmt.Errorf("zoo: index: %w", err)
		return
	}
	if err := json.Unmarshal(raw, &entries); err != nil {
		loadErr = fmt.Errorf("zoo: index is not valid JSON: %w", err)
		return
	}
	for i := range entries {
		st, err := fs.Stat(files, "models/"+entries[i].File)
		if err != nil {
			loadErr = fmt.Errorf("zoo: model %q: %w", entries[i].Name, err)
			return
		}
		entries[i].Size = st.Size()
	}
	slices.SortFunc(entries, func(a, b Entry) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
}

// List returns every shipped model, sorted by name.
func List() ([]Entry, error) {
	once.Do(load)
	return slices.Clone(entries), loadErr
}

// Lookup returns the entry and the file bytes of the model called name.
func Lookup(name string) (Entry, []byte, bool) {
	once.Do(load)
	for _, e := range entries {
		if e.Name == name {
			b, err := files.ReadFile("models/" + e.File)
			if err != nil {
				return Entry{}, nil, false
			}
			return e, b, true
		}
	}
	return Entry{}, nil, false
}

// Names lists the shipped model names.
func Names() []string {
	es, _ := List()
	names := make([]string, len(es))
	for i, e := range es {
		names[i] = e.Name
	}
	return names
}

// ErrUnknown is wrapped by Open for a name that is not shipped.
var ErrUnknown = fmt.Errorf("zoo: no shipped model of that name")

// Open returns a fresh copy of the shipped model called name (each call
// decodes its own, so callers may use them concurrently).
func Open(name string) (*ae.Model, error) {
	_, b, ok := Lookup(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q (shipped: %s)", ErrUnknown, name, strings.Join(Names(), ", "))
	}
	m, err := ae.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("zoo: shipped model %s: %w", name, err)
	}
	return m, nil
}

// WriteList writes the entries as `bottleneck models` prints them: name,
// size and description, then the recorded results, one per line.
func WriteList(w io.Writer, es []Entry) error {
	var b strings.Builder
	if len(es) == 0 {
		b.WriteString("no models are shipped in this binary\n")
	}
	for i, e := range es {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%-14s %7.1f MB  %s\n", e.Name, float64(e.Size)/1e6, e.Description)
		for _, k := range slices.Sorted(maps.Keys(e.Results)) {
			fmt.Fprintf(&b, "%-14s %10s  %s: %s\n", "", "", k, e.Results[k])
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
