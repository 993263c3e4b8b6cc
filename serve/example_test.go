package serve_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing/fstest"

	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/serve"
	"github.com/bottleneck-ml/bottleneck/train"
)

// Serve a detector over HTTP and score two rows with POST /v1/score.
func Example() {
	// A detector trained on a small table of normal transactions (usually
	// one opened from a model file with anomaly.Open).
	var b strings.Builder
	b.WriteString("amount,hour,country\n")
	for i := range 300 {
		h := i % 24
		fmt.Fprintf(&b, "%.2f,%d,%s\n", 20+2*float64(h)+float64(i%7)/3, h, []string{"de", "fr", "us"}[i%3])
	}
	ds, err := dataset.LoadFS(fstest.MapFS{"transactions.csv": {Data: []byte(b.String())}}, "transactions.csv", dataset.LoadOptions{})
	if err != nil {
		log.Fatal(err)
	}
	det, err := anomaly.Train(context.Background(), ds, anomaly.TrainOptions{Seed: 1, Fit: train.Options{Epochs: 10}})
	if err != nil {
		log.Fatal(err)
	}

	// Mount the service in a mux of your own, or serve it as it is.
	mux := http.NewServeMux()
	mux.Handle("/", serve.Handler(det, serve.Options{}))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	body := `{"rows": [{"amount": 38.5, "hour": 9, "country": "de"}, {"amount": 950, "hour": 3, "country": "fr"}]}`
	resp, err := http.Post(srv.URL+"/v1/score", "application/json", strings.NewReader(body))
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var out serve.Response
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Status, out.Score)
	for i, r := range out.Results {
		fmt.Printf("row %d: anomaly %v\n", i, r.Anomaly)
	}
	// Output:
	// 200 OK mahal
	// row 0: anomaly false
	// row 1: anomaly true
}
