package serve

import (
	"encoding/json"
	"strings"
	"testing"
)

// syntaxWords are in every message about malformed JSON.
var syntaxWords = []string{"invalid character", "invalid number", "invalid literal", "invalid escape", "ends early"}

// FuzzParseJSON checks the streaming parser against encoding/json: what
// it accepts is valid JSON, and it finds no syntax error in valid JSON.
func FuzzParseJSON(f *testing.F) {
	for _, seed := range []string{
		`{"rows": [{"amount": 12.5, "hour": 3, "country": "de"}, {"amount": "9000", "hour": 23, "country": "fr"}]}`,
		`[["12.5", 3, "de"], [12.5, 3, "de", "ok"]]`,
		`[{"amount": -1.5e-3, "hour": 0, "country": "d\u00e9\n"}]`,
		`[{"amount": null, "hour": 2, "country": "de"}]`,
		`[[1,2,"de"]] `, `{"rows": []}`, `[]`, `{}`, `[[]]`, `[{}]`,
		`[[01, 2, "de"]]`, `[[1., 2, "de"]]`, `[[-, 2, "de"]]`, `[[1e, 2, "de"]]`, `[[tru, 2, "de"]]`,
		`[["a\"b", 2, "de"]]`, `[["a\\", 2, "de"]]`, "[[\"a\tb\", 2, \"de\"]]", `[["\ud800", 2, "de"]]`,
		`{"rows": [[1, 2, "de"],]}`, `{"rows": [[1, 2, "de"]], }`, `[[1 2 "de"]]`, `[{"amount" 1}]`,
	} {
		f.Add(seed)
	}
	s, err := New(testDetector(f, 1, ""), Options{MaxRows: 50})
	if err != nil {
		f.Fatal(err)
	}
	l := s.cur.Load()
	f.Fuzz(func(t *testing.T, body string) {
		x, e := s.parseJSON(l, strings.NewReader(body))
		valid := json.Valid([]byte(body))
		if e == nil {
			if !valid {
				t.Fatalf("accepted invalid JSON %q", body)
			}
			if x.Rows() == 0 {
				t.Fatalf("accepted %q with no rows", body)
			}
			return
		}
		if valid {
			for _, w := range syntaxWords {
				if strings.Contains(e.e.Error, w) {
					t.Fatalf("valid JSON %q: %s", body, e.e.Error)
				}
			}
		}
	})
}

func TestValidNumber(t *testing.T) {
	for _, c := range []struct {
		in string
		ok bool
	}{
		{"0", true}, {"-0", true}, {"12", true}, {"1.5", true}, {"-1.5e-3", true}, {"1E+9", true}, {"0.0e0", true},
		{"", false}, {"-", false}, {"01", false}, {"1.", false}, {".5", false}, {"1e", false}, {"1e+", false}, {"+1", false}, {"1-2", false}, {"1.2.3", false},
	} {
		if got := validNumber([]byte(c.in)); got != c.ok || got != json.Valid([]byte(c.in)) {
			t.Errorf("validNumber(%q) = %v; want %v", c.in, got, c.ok)
		}
	}
}
