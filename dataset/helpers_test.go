package dataset

import (
	"bytes"
	"compress/gzip"
	"errors"
	"math"
	"strings"
	"testing"
	"testing/fstest"
)

// fsWith is a MapFS holding the given name → content pairs.
func fsWith(kv ...string) fstest.MapFS {
	m := fstest.MapFS{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = &fstest.MapFile{Data: []byte(kv[i+1])}
	}
	return m
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// loadString loads content as a file called name.
func loadString(t *testing.T, name, content string, opt LoadOptions) (*Dataset, error) {
	t.Helper()
	return LoadFS(fsWith(name, content), name, opt)
}

func mustLoad(t *testing.T, name, content string, opt LoadOptions) *Dataset {
	t.Helper()
	ds, err := loadString(t, name, content, opt)
	if err != nil {
		t.Fatalf("Load(%s): %v", name, err)
	}
	return ds
}

// wantErr checks that err wraps kind and its text contains every part.
func wantErr(t *testing.T, err error, kind error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error; want %v containing %q", kind, parts)
	}
	if kind != nil && !errors.Is(err, kind) {
		t.Errorf("error %q does not wrap %v", err, kind)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
	if !strings.HasPrefix(err.Error(), "dataset: ") {
		t.Errorf("error %q lacks the dataset: prefix", err)
	}
}

func near(a, b float32) bool { return math.Abs(float64(a-b)) < 1e-5 }

func nearSlice(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !near(a[i], b[i]) {
			return false
		}
	}
	return true
}
