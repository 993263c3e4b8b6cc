// Command serve-load measures the scoring service on loopback: it serves a
// model on 127.0.0.1 (an ephemeral port, in process) and sends POST
// /v1/score requests from a few concurrent Go clients, bounded by a
// request count and a time limit, for single-row and 100-row bodies; it
// prints throughput and p50/p99 latency as a Markdown table.
//
//	go run ./scripts/serve-load -m kdd.safetensors -data ../shared/data/nsl-kdd/KDDTest+.txt -columns ../shared/data/kddcup99/kddcup.names,label,difficulty
package main

import (
	"bytes"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/serve"
)

var (
	modelPath = flag.String("m", "", "model file")
	dataPath  = flag.String("data", "", "headerless CSV rows to send (training column order)")
	columns   = flag.String("columns", "", "names of the CSV's columns: a kddcup.names-style file, then extra names, comma-separated")
	maxReq    = flag.Int("n", 3000, "requests per case at most")
	maxTime   = flag.Duration("t", 15*time.Second, "time per case at most")
	conc      = flag.Int("c", 4, "concurrent clients")
)

func main() {
	flag.Parse()
	det, err := anomaly.Open(*modelPath)
	check(err)
	srv, err := serve.New(det, serve.Options{})
	check(err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	hs := &http.Server{Handler: srv}
	go hs.Serve(ln)
	defer hs.Close()
	names := readNames(*columns)
	f, err := os.Open(*dataPath)
	check(err)
	recs, err := csv.NewReader(f).ReadAll()
	check(err)
	body := func(rows int) []byte {
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		w.Write(names[:len(recs[0])])
		w.WriteAll(recs[:rows])
		return b.Bytes()
	}
	url := "http://" + ln.Addr().String() + "/v1/score"
	fmt.Printf("| rows/request | requests | rows/s | requests/s | p50 ms | p99 ms |\n|---|---|---|---|---|---|\n")
	for _, rows := range []int{1, 100} {
		payload := body(rows)
		var mu sync.Mutex
		var lat []time.Duration
		start := time.Now()
		next := make(chan struct{}, *maxReq)
		for i := 0; i < *maxReq; i++ {
			next <- struct{}{}
		}
		close(next)
		var wg sync.WaitGroup
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *conc}}
		for c := 0; c < *conc; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range next {
					if time.Since(start) > *maxTime {
						return
					}
					t0 := time.Now()
					resp, err := client.Post(url, "text/csv", bytes.NewReader(payload))
					check(err)
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						check(fmt.Errorf("status %d", resp.StatusCode))
					}
					mu.Lock()
					lat = append(lat, time.Since(t0))
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		el := time.Since(start).Seconds()
		slices.Sort(lat)
		q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
		fmt.Printf("| %d | %d | %.0f | %.0f | %.2f | %.2f |\n", rows, len(lat), float64(len(lat)*rows)/el, float64(len(lat))/el, q(0.5), q(0.99))
	}
}

func readNames(spec string) []string {
	var out []string
	for _, item := range strings.Split(spec, ",") {
		if b, err := os.ReadFile(item); err == nil {
			for _, l := range strings.Split(string(b), "\n")[1:] {
				if n, _, ok := strings.Cut(l, ":"); ok {
					out = append(out, strings.TrimSpace(n))
				}
			}
			continue
		}
		out = append(out, item)
	}
	return out
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "serve-load:", err)
		os.Exit(1)
	}
}
