package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeFraudTable writes n card-like transactions: amount grows with the
// hour's activity and the merchant's category; every 20th row is a
// fraud-like outlier (large amount at night, odd country).
func writeFraudTable(t *testing.T, dir string, n int) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 6))
	var b strings.Builder
	b.WriteString("amount,hour,distance,country,class\n")
	for i := 0; i < n; i++ {
		hour := 8 + rng.IntN(12)
		amount := 20 + 3*float64(hour) + rng.NormFloat64()*5
		dist := 2 + rng.Float64()*3
		country, class := []string{"de", "fr"}[i%2], "normal"
		if i%20 == 0 {
			hour, amount, dist, country, class = 3, 900+rng.Float64()*100, 400, "zz", "fraud"
		}
		fmt.Fprintf(&b, "%.2f,%d,%.2f,%s,%s\n", amount, hour, dist, country, class)
	}
	p := filepath.Join(dir, "tx.csv")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAnomalyWorkflow(t *testing.T) {
	dir := t.TempDir()
	data := writeFraudTable(t, dir, 400)
	model := filepath.Join(dir, "m.safetensors")
	_, _, errs := run(t, "train", "--data", data, "--label", "class", "--normal", "normal", "-o", model,
		"--epochs", "15", "--batch", "32", "--threshold", "mad:3.5", "--no-plot")
	if !strings.Contains(errs, "threshold: mahal score >") || !strings.Contains(errs, "mad:3.5") {
		t.Errorf("train does not report its threshold:\n%s", errs)
	}
	// score: header, one row per input row, in order; frauds flagged.
	scores := filepath.Join(dir, "scores.csv")
	mustRun(t, "score", "-m", model, "--data", data, "-o", scores, "--top", "2")
	b, _ := os.ReadFile(scores)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 401 || lines[0] != "row,score,anomaly,label,top1,top1_share,top2,top2_share" {
		t.Fatalf("scores.csv: %d lines, header %q", len(lines), lines[0])
	}
	flaggedFraud := 0
	for i, l := range lines[1:] {
		f := strings.Split(l, ",")
		if f[0] != fmt.Sprint(i) {
			t.Fatalf("line %d is row %s; want input order", i+1, f[0])
		}
		if f[3] == "fraud" && f[2] == "1" {
			flaggedFraud++
		}
	}
	if flaggedFraud < 18 {
		t.Errorf("%d of 20 frauds flagged; want at least 18", flaggedFraud)
	}
	// eval: labelled metrics, JSON keys, report pictures.
	report := filepath.Join(dir, "report")
	out := mustRun(t, "eval", "-m", model, "--data", data, "--json", "--report", report)
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("eval --json printed %q: %v", out, err)
	}
	for _, k := range []string{"mse", "bce", "roc_auc", "pr_auc", "f1", "precision", "recall", "threshold"} {
		if _, ok := res[k]; !ok {
			t.Errorf("eval JSON lacks %q: %s", k, out)
		}
	}
	if auc := res["roc_auc"].(float64); auc < 0.95 {
		t.Errorf("roc_auc %v on separable frauds; want ≥ 0.95", auc)
	}
	for _, f := range []string{"roc.png", "pr.png", "scores.png", "metrics.json"} {
		if st, err := os.Stat(filepath.Join(report, f)); err != nil || st.Size() == 0 {
			t.Errorf("report %s: %v", f, err)
		}
	}
	// Overriding the threshold at scoring time.
	out = mustRun(t, "score", "-m", model, "--data", data, "--threshold", "contamination:0.05", "--top", "0")
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		if strings.Split(l, ",")[2] == "1" {
			n++
		}
	}
	if n != 20 {
		t.Errorf("contamination:0.05 of 400 rows flagged %d; want 20", n)
	}
}

func TestThresholdF1AndErrors(t *testing.T) {
	dir := t.TempDir()
	data := writeFraudTable(t, dir, 200)
	model := filepath.Join(dir, "m.safetensors")
	_, _, errs := run(t, "train", "--data", data, "--label", "class", "--normal", "normal", "-o", model,
		"--epochs", "5", "--threshold", "f1", "--no-plot")
	if !strings.Contains(errs, "anomalous rows of the training file") {
		t.Errorf("f1 threshold not fitted with the held-out anomalies:\n%s", errs)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--data", data, "--label", "class", "-o", model, "--threshold", "banana"}, "unknown method"},
		{[]string{"train", "--data", data, "--label", "class", "-o", model, "--threshold", "f1", "--epochs", "1"}, "--normal"},
		{[]string{"train", "--data", data, "--label", "class", "-o", model, "--threshold", "pot:2"}, "fraction"},
		{[]string{"train", "--data", data, "--label", "class", "-o", model, "--epochs", "1", "--score-trim", "0.95"}, "--score-trim"},
		{[]string{"score", "-m", model, "--data", data, "--threshold", "f1"}, "value:X or contamination:P"},
		{[]string{"score", "-m", model, "--data", data, "--top", "-1"}, "--top"},
		{[]string{"eval", "-m", model, "--data", data, "--normal", "nobody"}, "one class"},
	} {
		code, _, errs := run(t, c.args...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("bottleneck %s: exit %d, stderr %q; want an error mentioning %q", strings.Join(c.args, " "), code, errs, c.want)
		}
	}
}

func TestWindows(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("datetime;a;b;anomaly\n")
	for i := 0; i < 300; i++ {
		a, lab := float64(i%10), "0.0"
		if i >= 250 && i < 270 {
			a, lab = 40, "1.0"
		}
		fmt.Fprintf(&b, "2020-01-01 00:%02d:%02d;%.1f;%.1f;%s\n", i/60, i%60, a, float64((i+3)%10), lab)
	}
	data := filepath.Join(dir, "ts.csv")
	os.WriteFile(data, []byte(b.String()), 0o644)
	model := filepath.Join(dir, "ts.safetensors")
	mustRun(t, "train", "--data", data, "--label", "anomaly", "--drop", "datetime", "--max-rows", "200",
		"--window", "10", "--stride", "2", "--epochs", "10", "-o", model, "--no-plot", "-q")
	out := mustRun(t, "score", "-m", model, "--data", data, "--top", "1")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 301 {
		t.Fatalf("windowed score: %d lines; want one per time step (301)", len(lines))
	}
	out = mustRun(t, "eval", "-m", model, "--data", data, "--json")
	var res map[string]any
	json.Unmarshal([]byte(out), &res)
	if auc, _ := res["roc_auc"].(float64); auc < 0.9 {
		t.Errorf("windowed eval roc_auc %v; want ≥ 0.9 (%s)", auc, out)
	}
	if code, _, errs := run(t, "score", "-m", model, "--data", data, "--window", "5"); code == 0 || !strings.Contains(errs, "--window 10") {
		t.Errorf("mismatched --window: exit %d %q", code, errs)
	}
}

func TestServeCommand(t *testing.T) {
	dir := t.TempDir()
	data := writeFraudTable(t, dir, 100)
	model := filepath.Join(dir, "m.safetensors")
	mustRun(t, "train", "--data", data, "--label", "class", "--normal", "normal", "-o", model, "--epochs", "2", "--no-plot", "-q")
	tok := filepath.Join(dir, "token")
	os.WriteFile(tok, []byte("abc\n"), 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- runServe(ctx, &serveOptions{model: model, addr: "127.0.0.1:0", tokenFile: tok, maxBody: 1 << 20, maxRows: 100, top: 2,
			readTimeout: 5 * time.Second, writeTimeout: 5 * time.Second, grace: 5 * time.Second, ready: ready}, io.Discard)
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("serve stopped: %v", err)
	}
	req, _ := http.NewRequest("POST", "http://"+addr+"/v1/score", strings.NewReader(`{"rows":[{"amount":50,"hour":10,"distance":3,"country":"de"}]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer abc")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"results"`) {
		t.Errorf("score over HTTP: %d %s", resp.StatusCode, body)
	}
	cancel() // as SIGTERM does
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
}
