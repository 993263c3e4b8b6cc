package stream

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestSampleFile(t *testing.T) {
	ctx := context.Background()
	srv := startNATS(t, t.TempDir(), 0)
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "F", Subjects: []string{"f.>"}}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := js.Publish(ctx, "f.in", txn(i, float64(i), i, "de")); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	url := srv.ClientURL() + "/f.in"
	path, n, err := SampleFile(ctx, url, dir, SampleOptions{Idle: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "sample-"+strings.NewReplacer("://", "-", "/", "-", ":", "-").Replace(url)+".csv")
	b, _ := os.ReadFile(path)
	if n != 5 || path != want || strings.Count(string(b), "\n") != 6 || !strings.HasPrefix(string(b), "amount,country,hour,txn\n") {
		t.Errorf("SampleFile(%s) = %s, %d:\n%s\nwant %s, 5 rows", url, path, n, b, want)
	}
	// nothing to sample: an error, and no file left behind
	empty := t.TempDir()
	if _, _, err := SampleFile(ctx, srv.ClientURL()+"/f.none", empty, SampleOptions{Idle: 200 * time.Millisecond}); err == nil {
		t.Error("SampleFile of a subject without messages: no error")
	}
	if ents, _ := os.ReadDir(empty); len(ents) != 0 {
		t.Errorf("SampleFile left %d files after an error", len(ents))
	}
}
