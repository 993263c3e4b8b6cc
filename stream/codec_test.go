package stream

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/bottleneck-ml/bottleneck/anomaly"
)

// TestDecodeFastPath checks that the fast path for flat objects decodes
// exactly as encoding/json does, and leaves to it what it cannot read.
func TestDecodeFastPath(t *testing.T) {
	pre := tableDetector(t).Preprocessor()
	c, err := newCodec(pre, FormatJSON, "txn")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{
		`{"txn": 1, "amount": 38.5, "hour": 9, "country": "de"}`,
		` { "country":"fr","hour":3,"amount":-9.5e2,"txn":"t-2" } `,
		`{"txn": null, "amount": 38.5, "hour": 9, "country": "de", "note": "kept out"}`,
		`{"txn": 1, "amount": null, "hour": 9, "country": "de"}`,
		`{"txn": 1, "hour": 9, "country": "de"}`,
		`{"txn": 1, "amount": "12", "hour": "9", "country": "xx"}`,
		`{"txn": 1, "amount": 1e400, "hour": 9, "country": "de"}`,
		`{"txn": 1, "amount": 1.2.3, "hour": 9, "country": "de"}`,
		`{"txn": 01, "amount": 1, "hour": 9, "country": "de"}`, `{"txn": -, "amount": 1, "hour": 9, "country": "de"}`,
		`{"txn": 1, "amount": 1., "hour": 9, "country": "de"}`, `{"txn": 1, "amount": 1e, "hour": 9, "country": "de"}`,
		`{"txn": -0.5E+3, "amount": 0, "hour": 9, "country": "de"}`,
		`{"txn": 1, "amount": 38.5, "hour": 9, "country": "de", "extra": 1, "more": "x"}`,
		`{"amount": 38.5, "hour": 9, "country": "de"}`,
		`{"txn": 1, "amount": 38.5, "hour": 9, "country": "d\u00e9"}`,
		`{"txn": 1, "amount": true, "hour": 9, "country": "de"}`,
		`{"txn": [1], "amount": 1, "hour": 9, "country": "de"}`,
		`{"txn": 1, "amount": 1, "hour": 9, "country": "de"} x`,
		`{"txn": 1, "amount": 1, "hour": 9, "country": "de",}`,
		`{}`, `[]`, `null`, `"x"`, ``, `{"txn": 1`, "{\"txn\": 1, \"amount\": 1, \"hour\": 9, \"country\": \"d\te\"}",
		`{"txn": 1, "amount": 1, "amount": 2, "hour": 9, "country": "de"}`,
	} {
		fast, slow := make([]float32, pre.Dim()), make([]float32, pre.Dim())
		id1, err1 := c.decode([]byte(p), fast)
		id2, err2 := c.decodeJSON([]byte(p), slow)
		if string(id1) != string(id2) || (err1 == nil) != (err2 == nil) || !slices.Equal(fast, slow) {
			t.Errorf("decode(%s) = %s, %v, %v; encoding/json gives %s, %v, %v", p, id1, err1, fast, id2, err2, slow)
		}
		if err1 != nil && err2 != nil && err1.Error() != err2.Error() && !strings.Contains(err2.Error(), "not a JSON object") {
			t.Errorf("decode(%s): error %q; encoding/json's path says %q", p, err1, err2)
		}
	}
}

func TestEncodeOutputAndDead(t *testing.T) {
	b := encodeOutput(json.RawMessage(`"a"`), anomaly.Result{Score: math.Inf(1)}, 2, "v1")
	var o Output
	if err := json.Unmarshal(b, &o); err != nil || o.Score != nil || !o.Anomaly || !strings.Contains(o.Error, "not a finite number") || o.Top == nil {
		t.Errorf("an infinite score: %s", b)
	}
	b = encodeOutput(json.RawMessage(`7`), anomaly.Result{Score: 1.5, Top: []anomaly.Contribution{{Feature: "x", Share: 1}}}, 2, "v1")
	if string(b) != `{"id":7,"score":1.5,"anomaly":false,"threshold":2,"top":[{"feature":"x","share":1}],"model":"v1"}` {
		t.Errorf("output %s", b)
	}
	b = encodeDead(nil, fmt.Errorf("bad"), []byte("\xff"), "in", "v1")
	if string(b) != `{"id":null,"error":"bad","payload_base64":"/w==","source":"in","model":"v1"}` {
		t.Errorf("dead letter %s", b)
	}
}
