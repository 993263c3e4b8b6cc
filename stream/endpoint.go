package stream

import (
	"fmt"
	"strings"
)

// Broker kinds, the schemes of an endpoint URL.
const (
	NATS  = "nats"
	Kafka = "kafka"
)

// Endpoint is a place on a broker: nats://HOST:PORT[,HOST:PORT…]/SUBJECT
// or kafka://HOST:PORT[,HOST:PORT…]/TOPIC.
type Endpoint struct {
	Kind    string   // NATS or Kafka
	Servers []string // host:port (NATS: with user:password@ when given)
	Name    string   // the subject or topic
}

// String is the endpoint as a URL.
func (e Endpoint) String() string {
	return e.Kind + "://" + strings.Join(e.Servers, ",") + "/" + e.Name
}

// ParseEndpoint reads nats://HOST:PORT/SUBJECT or
// kafka://HOST:PORT[,HOST:PORT…]/TOPIC. A port left out is the broker's
// default (4222, 9092).
func ParseEndpoint(s string) (Endpoint, error) {
	kind, rest, ok := strings.Cut(s, "://")
	if !ok || (kind != NATS && kind != Kafka) {
		return Endpoint{}, fmt.Errorf("stream: %q: want nats://HOST:PORT/SUBJECT or kafka://HOST:PORT[,HOST:PORT…]/TOPIC", s)
	}
	hosts, name, _ := strings.Cut(rest, "/")
	if name == "" {
		what := "subject"
		if kind == Kafka {
			what = "topic"
		}
		return Endpoint{}, fmt.Errorf("stream: %q names no %s; add it after the address: %s://%s/NAME", s, what, kind, hosts)
	}
	e := Endpoint{Kind: kind, Name: name}
	for _, h := range strings.Split(hosts, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			return Endpoint{}, fmt.Errorf("stream: %q: empty broker address; want HOST:PORT", s)
		}
		host := h[strings.LastIndexByte(h, '@')+1:]
		if !strings.Contains(host, ":") || strings.HasSuffix(host, "]") {
			if kind == NATS {
				h += ":4222"
			} else {
				h += ":9092"
			}
		}
		e.Servers = append(e.Servers, h)
	}
	if err := e.checkName(); err != nil {
		return Endpoint{}, fmt.Errorf("stream: %q: %w", s, err)
	}
	return e, nil
}

func (e Endpoint) checkName() error {
	if e.Kind == Kafka {
		if len(e.Name) > 249 || strings.ContainsFunc(e.Name, func(r rune) bool {
			return !(r == '.' || r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		}) {
			return fmt.Errorf("topic %q: Kafka topics are up to 249 letters, digits, '.', '_' and '-'", e.Name)
		}
		return nil
	}
	toks := strings.Split(e.Name, ".")
	for i, t := range toks {
		switch {
		case t == "" || strings.ContainsAny(t, " \t\r\n"):
			return fmt.Errorf("subject %q: empty token or white space", e.Name)
		case t == ">" && i != len(toks)-1:
			return fmt.Errorf("subject %q: '>' must be the last token", e.Name)
		case strings.ContainsAny(t, "*>") && len(t) > 1:
			return fmt.Errorf("subject %q: '*' and '>' are whole tokens", e.Name)
		}
	}
	return nil
}

// wildcard reports whether a NATS subject has wildcards.
func (e Endpoint) wildcard() bool {
	for _, t := range strings.Split(e.Name, ".") {
		if t == "*" || t == ">" {
			return true
		}
	}
	return false
}

// subjectMatches reports whether NATS subject s (no wildcards) is matched
// by filter f (which may have them).
func subjectMatches(f, s string) bool {
	ft, st := strings.Split(f, "."), strings.Split(s, ".")
	for i, t := range ft {
		switch {
		case t == ">":
			return len(st) > i
		case i >= len(st):
			return false
		case t != "*" && t != st[i]:
			return false
		}
	}
	return len(ft) == len(st)
}

// resolveOut reads an output place: a bare subject or topic on the input's
// broker, or a URL of the same broker.
func resolveOut(in Endpoint, s, flag string) (Endpoint, error) {
	if !strings.Contains(s, "://") {
		e := Endpoint{Kind: in.Kind, Servers: in.Servers, Name: s}
		if err := e.checkName(); err != nil {
			return Endpoint{}, fmt.Errorf("stream: %s %q: %w", flag, s, err)
		}
		return e, nil
	}
	e, err := ParseEndpoint(s)
	if err != nil {
		return Endpoint{}, err
	}
	if e.Kind != in.Kind || strings.Join(e.Servers, ",") != strings.Join(in.Servers, ",") {
		return Endpoint{}, fmt.Errorf("stream: %s %s is on another broker than the input %s; outputs go to the input's broker (pass a subject or topic name, or a URL with the same address)", flag, e, in)
	}
	return e, nil
}
