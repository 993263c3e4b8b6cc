package stream

import (
	"context"
	"os"
	"path/filepath"
	"strings"
)

// SampleFile writes Sample's CSV table of the most recent messages of url
// to a new file in dir, named after url (nats://h:4222/flows →
// sample-nats-h-4222-flows.csv) so that messages about its rows say where
// they came from, and returns its path and the number of rows; on an
// error it leaves no file. It is how a program trains on recent traffic
// with the loaders of package dataset, which read files.
func SampleFile(ctx context.Context, url, dir string, o SampleOptions) (string, int, error) {
	name := strings.NewReplacer("://", "-", "/", "-", ":", "-", ",", "-", "@", "-").Replace(url)
	path := filepath.Join(dir, "sample-"+name+".csv")
	f, err := os.Create(path)
	if err != nil {
		return "", 0, err
	}
	n, err := Sample(ctx, url, f, o)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path) // no partial sample
		return "", 0, err
	}
	return path, n, nil
}
