// Command serve-load measures the scoring service on loopback, in one of
// two modes.
//
// -mode throughput (the default) serves a model in process on 127.0.0.1
// and sends POST /v1/score requests from a few concurrent Go clients,
// bounded by a request count and a time limit, for single-row and 100-row
// bodies; it prints throughput and p50/p99 latency as a Markdown table:
//
//	go run ./scripts/serve-load -m kdd.safetensors -data ../shared/data/nsl-kdd/KDDTest+.txt -columns ../shared/data/kddcup99/kddcup.names,label,difficulty
//
// -mode overload starts `bottleneck serve` as a process of its own (built
// from this checkout unless -bin names a binary) and, for -t, has -big
// clients send bodies of -big-mb MB (JSON objects of the data's rows)
// while -small clients send 1-row requests; it first measures the small
// clients alone for -warm. It prints the small requests' latency, what
// the big clients got (200s, 503s), and the server's peak resident memory
// (VmHWM of /proc/PID/status), so this mode needs Linux:
//
//	go run ./scripts/serve-load -mode overload -m kdd.safetensors -data ../shared/data/nsl-kdd/KDDTest+.txt \
//	    -columns ../shared/data/kddcup99/kddcup.names,label,difficulty -big 64 -big-mb 8 -small 4 -t 30s
//
// Big clients send "Expect: 100-continue", so a refused body is not sent,
// and wait out the Retry-After of a 503 (-retry=false: retry at once).
package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/serve"

	"github.com/bottleneck-ml/bottleneck/dataset"
)

var (
	mode      = flag.String("mode", "throughput", "throughput or overload")
	modelPath = flag.String("m", "", "model file")
	dataPath  = flag.String("data", "", "headerless CSV rows to send (training column order)")
	columns   = flag.String("columns", "", "names of the CSV's columns: a kddcup.names-style file, then extra names, comma-separated")
	maxReq    = flag.Int("n", 3000, "throughput: requests per case at most")
	maxTime   = flag.Duration("t", 15*time.Second, "time per case at most (overload: of the loaded phase)")
	conc      = flag.Int("c", 4, "throughput: concurrent clients")

	bin       = flag.String("bin", "", "overload: the bottleneck binary (default: go build ./cmd/bottleneck)")
	serveArgs = flag.String("serve-args", "", "overload: more flags for bottleneck serve, space-separated")
	big       = flag.Int("big", 64, "overload: clients sending big bodies")
	bigMB     = flag.Float64("big-mb", 8, "overload: size of a big body in MB (10^6 bytes)")
	small     = flag.Int("small", 4, "overload: clients sending 1-row requests")
	warm      = flag.Duration("warm", 5*time.Second, "overload: time the small clients run alone first")
	retry     = flag.Bool("retry", true, "overload: big clients wait out Retry-After before sending again")
)

func main() {
	flag.Parse()
	names, err := dataset.ReadColumnNames(*columns) // the data has no header
	check(err)
	f, err := os.Open(*dataPath)
	check(err)
	recs, err := csv.NewReader(f).ReadAll()
	check(err)
	f.Close()
	switch *mode {
	case "throughput":
		throughput(names, recs)
	case "overload":
		overload(names, recs)
	default:
		check(fmt.Errorf("-mode %q: want throughput or overload", *mode))
	}
}

func throughput(names []string, recs [][]string) {
	det, err := anomaly.Open(*modelPath)
	check(err)
	srv, err := serve.New(det, serve.Options{})
	check(err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	hs := &http.Server{Handler: srv}
	go hs.Serve(ln)
	defer hs.Close()
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

// jsonRows writes recs as {"rows": [{"name": value, ...}, ...]}, numbers
// as JSON numbers, the rest as strings, cycling through recs until the
// body would pass size bytes or hold maxRows rows.
func jsonRows(names []string, recs [][]string, size, maxRows int) ([]byte, int) {
	var b bytes.Buffer
	b.WriteString(`{"rows": [`)
	n := 0
	for i := 0; ; i++ {
		var row bytes.Buffer
		if n > 0 {
			row.WriteString(", ")
		}
		row.WriteString("{")
		for j, v := range recs[i%len(recs)] {
			if names[j] == "label" || names[j] == "difficulty" {
				continue
			}
			if j > 0 {
				row.WriteString(", ")
			}
			k, _ := json.Marshal(names[j])
			row.Write(k)
			row.WriteString(": ")
			if _, err := strconv.ParseFloat(v, 64); err == nil {
				row.WriteString(v)
			} else {
				s, _ := json.Marshal(v)
				row.Write(s)
			}
		}
		row.WriteString("}")
		if b.Len()+row.Len()+2 > size || n == maxRows {
			break
		}
		b.Write(row.Bytes())
		n++
	}
	b.WriteString("]}")
	return b.Bytes(), n
}

// latencies collects request latencies.
type latencies struct {
	mu  sync.Mutex
	lat []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.lat = append(l.lat, d)
	l.mu.Unlock()
}

func (l *latencies) reset() {
	l.mu.Lock()
	l.lat = l.lat[:0]
	l.mu.Unlock()
}

// quantiles are p50, p90, p99 and the maximum, in ms.
func (l *latencies) quantiles() (n int, p50, p90, p99, mx float64) {
	l.mu.Lock()
	s := slices.Clone(l.lat)
	l.mu.Unlock()
	if len(s) == 0 {
		return 0, 0, 0, 0, 0
	}
	slices.Sort(s)
	q := func(p float64) float64 { return float64(s[int(p*float64(len(s)-1))].Microseconds()) / 1000 }
	return len(s), q(0.5), q(0.9), q(0.99), q(1)
}

// procStatus reads a "VmHWM:  123 kB" field of /proc/pid/status, in MB.
func procStatus(pid int, field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1000
		}
	}
	return 0
}

func overload(names []string, recs [][]string) {
	exe := *bin
	if exe == "" {
		dir, err := os.MkdirTemp("", "serve-load")
		check(err)
		defer os.RemoveAll(dir)
		exe = filepath.Join(dir, "bottleneck")
		build := exec.Command("go", "build", "-o", exe, "./cmd/bottleneck")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		check(build.Run())
	}
	args := append([]string{"serve", "-m", *modelPath, "--addr", "127.0.0.1:0", "--log-format", "json"}, strings.Fields(*serveArgs)...)
	srv := exec.Command(exe, args...)
	stderr, err := srv.StderrPipe()
	check(err)
	check(srv.Start())
	defer func() {
		srv.Process.Signal(syscall.SIGTERM)
		srv.Wait()
	}()
	// the listening address from the "serving" log line; then drain the log
	var addr string
	var logLines atomic.Int64
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "serving" {
			addr, _ = m["addr"].(string)
			fmt.Printf("server: %s\n", sc.Text())
			break
		}
		fmt.Fprintln(os.Stderr, sc.Text())
	}
	if addr == "" {
		check(fmt.Errorf("bottleneck serve did not start"))
	}
	go func() {
		for sc.Scan() {
			logLines.Add(1)
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && (m["level"] != "INFO" || m["status"] == 400.0 || m["status"] == 500.0) {
				fmt.Fprintln(os.Stderr, "server:", sc.Text())
			}
		}
	}()
	pid := srv.Process.Pid
	url := "http://" + addr + "/v1/score"

	bigBody, bigRows := jsonRows(names, recs, int(*bigMB*1e6), 10000)
	smallBody, _ := jsonRows(names, recs, 1<<20, 1)
	fmt.Printf("big body: %d bytes, %d rows (JSON objects); small body: %d bytes, 1 row\n", len(bigBody), bigRows, len(smallBody))

	stop := make(chan struct{})
	var smallLat latencies
	var smallBad atomic.Int64
	var wg sync.WaitGroup
	smallClient := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *small}}
	for range *small {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				t0 := time.Now()
				resp, err := smallClient.Post(url, "application/json", bytes.NewReader(smallBody))
				if err != nil {
					smallBad.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					smallBad.Add(1)
					continue
				}
				smallLat.add(time.Since(t0))
			}
		}()
	}
	time.Sleep(*warm)
	n, p50, p90, p99, mx := smallLat.quantiles()
	fmt.Printf("\nsmall clients alone (%s): %d requests, p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms; server RSS %.0f MB\n",
		*warm, n, p50, p90, p99, mx, procStatus(pid, "VmRSS"))
	smallLat.reset()

	var ok, busy, other, failed, rowsScored atomic.Int64
	var bigLat latencies
	bigClient := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *big, ExpectContinueTimeout: 10 * time.Second}}
	start := time.Now()
	var bw sync.WaitGroup
	for range *big {
		bw.Add(1)
		go func() {
			defer bw.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("POST", url, bytes.NewReader(bigBody))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Expect", "100-continue")
				t0 := time.Now()
				resp, err := bigClient.Do(req)
				if err != nil {
					failed.Add(1)
					time.Sleep(100 * time.Millisecond)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case 200:
					ok.Add(1)
					rowsScored.Add(int64(bigRows))
					bigLat.add(time.Since(t0))
				case 503:
					busy.Add(1)
					if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && *retry {
						select {
						case <-stop:
						case <-time.After(time.Duration(s) * time.Second):
						}
					}
				default:
					other.Add(1)
				}
			}
		}()
	}
	peakRSS := 0.0
	tick := time.NewTicker(100 * time.Millisecond)
	for deadline := time.After(*maxTime); ; {
		select {
		case <-tick.C:
			peakRSS = max(peakRSS, procStatus(pid, "VmRSS"))
			continue
		case <-deadline:
		}
		break
	}
	tick.Stop()
	n, p50, p90, p99, mx = smallLat.quantiles()
	el := time.Since(start).Seconds()
	hwm := procStatus(pid, "VmHWM")
	close(stop)
	bw.Wait()
	wg.Wait()
	bn, bp50, _, bp99, _ := bigLat.quantiles()
	fmt.Printf("with %d big clients (%s): small: %d requests, %d not 200, p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
		*big, *maxTime, n, smallBad.Load(), p50, p90, p99, mx)
	fmt.Printf("big: %d × 200 (%.0f rows/s, p50 %.0f ms, p99 %.0f ms), %d × 503, %d other statuses, %d transport errors\n",
		bn, float64(rowsScored.Load())/el, bp50, bp99, busy.Load(), other.Load(), failed.Load())
	fmt.Printf("server: peak RSS (VmHWM) %.0f MB, highest VmRSS sampled %.0f MB; %d log lines\n", hwm, peakRSS, logLines.Load())
	if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "bottleneck_requests_refused_total") || strings.HasPrefix(l, "bottleneck_requests_total{") {
				fmt.Println("  " + l)
			}
		}
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "serve-load:", err)
		os.Exit(1)
	}
}
