package stream

import (
	"strings"
	"testing"
)

func TestParseEndpoint(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{"nats://127.0.0.1:4222/flows", "nats://127.0.0.1:4222/flows", ""},
		{"nats://localhost/flows.kdd", "nats://localhost:4222/flows.kdd", ""},
		{"nats://u:p@h1,h2:4223/a.*.b", "nats://u:p@h1:4222,h2:4223/a.*.b", ""},
		{"kafka://k1:9092,k2/flows-in", "kafka://k1:9092,k2:9092/flows-in", ""},
		{"kafka://[::1]:9092/t", "kafka://[::1]:9092/t", ""},
		{"kafka://k1/", "", "names no topic"},
		{"nats://h/a..b", "", "empty token"},
		{"nats://h/a.>.b", "", "'>' must be the last"},
		{"nats://h/a.b*", "", "whole tokens"},
		{"nats://,h/a", "", "empty broker address"},
		{"amqp://h/q", "", "want nats://"},
		{"flows", "", "want nats://"},
	} {
		e, err := ParseEndpoint(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseEndpoint(%q) = %v, %v; want an error saying %q", tc.in, e, err, tc.err)
		case tc.err == "" && (err != nil || e.String() != tc.want):
			t.Errorf("ParseEndpoint(%q) = %v, %v; want %s", tc.in, e, err, tc.want)
		}
	}
}

func TestSubjectMatches(t *testing.T) {
	for _, tc := range []struct {
		filter, subject string
		want            bool
	}{
		{"a.b", "a.b", true}, {"a.b", "a.b.c", false}, {"a.*", "a.b", true}, {"a.*", "a.b.c", false},
		{"a.>", "a.b.c", true}, {"a.>", "a", false}, {">", "x", true}, {"a.*.c", "a.b.c", true}, {"a.*.c", "a.b.d", false},
	} {
		if got := subjectMatches(tc.filter, tc.subject); got != tc.want {
			t.Errorf("subjectMatches(%q, %q) = %v; want %v", tc.filter, tc.subject, got, tc.want)
		}
	}
	if got := streamName("flows.kdd.*"); got != "FLOWS_KDD_ANY" {
		t.Errorf("streamName = %q", got)
	}
}

func TestKey(t *testing.T) {
	for in, want := range map[string]string{`"t1"`: "t1", `12`: "12", `{"a":1}`: `{"a":1}`, `"a\"b"`: `a"b`} {
		if got := key([]byte(in)); got != want {
			t.Errorf("key(%s) = %q; want %q", in, got, want)
		}
	}
}
