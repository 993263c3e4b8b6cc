package serve

import (
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on what an error response repeats of the request.
const (
	maxQuoted  = 100  // characters of one quoted value
	maxMessage = 2000 // bytes of a whole message
)

// apiHints rewrite the command-line advice of the dataset package's
// messages into advice an API client can follow (it cannot pass flags).
var apiHints = []struct{ old, new string }{
	{"is not a number; fix the value or pass --missing impute", "is not a number; send a number"},
	{"fix the value or pass --missing impute", "send a value (this model refuses missing values)"},
	{"fix the value or pass --scale standardize", "send a value nearer the training range"},
}

var (
	// quotedRE matches a Go-quoted string, as %q writes it.
	quotedRE = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	// flagRE matches a command-line flag.
	flagRE = regexp.MustCompile(`(^|[^\w-])--[a-z][a-z0-9-]*`)
	// placeholderRE matches where apiText set a quoted value aside.
	placeholderRE = regexp.MustCompile("\x00[0-9]+\x00")
	// pkgRE matches the dataset package's prefixes ("dataset: row: ").
	pkgRE = regexp.MustCompile(`dataset: (?:(?:row|records|values): )?`)
)

// apiText turns a library error message into one for an API client: no
// package prefixes, no command-line flags, quoted values cut to
// maxQuoted characters and the whole to maxMessage bytes. Quoted values
// (the client's own input) are kept as they are, flags or not.
func apiText(msg string) string {
	msg = pkgRE.ReplaceAllString(msg, "")
	for _, h := range apiHints {
		msg = strings.ReplaceAll(msg, h.old, h.new)
	}
	// set the quoted values aside while the flags go
	var quoted []string
	msg = quotedRE.ReplaceAllStringFunc(msg, func(q string) string {
		quoted = append(quoted, capQuoted(q))
		return "\x00" + strconv.Itoa(len(quoted)-1) + "\x00"
	})
	if flagRE.MatchString(msg) {
		// drop the clauses that name a flag; keep the first (what is wrong)
		parts := strings.Split(msg, "; ")
		kept := parts[:1]
		for _, p := range parts[1:] {
			if !flagRE.MatchString(p) {
				kept = append(kept, p)
			}
		}
		msg = flagRE.ReplaceAllString(strings.Join(kept, "; "), "${1}an option")
	}
	msg = placeholderRE.ReplaceAllStringFunc(msg, func(p string) string {
		i, _ := strconv.Atoi(p[1 : len(p)-1])
		return quoted[i]
	})
	return capText(msg, maxMessage)
}

// capQuoted shortens a quoted string to maxQuoted characters.
func capQuoted(q string) string {
	s, err := strconv.Unquote(q)
	if err != nil {
		if len(q) <= maxQuoted+2 {
			return q
		}
		return capText(q, maxQuoted) + `"`
	}
	if utf8.RuneCountInString(s) <= maxQuoted {
		return q
	}
	return strconv.Quote(capText(s, maxQuoted))
}

// capText cuts s to at most n runes (n bytes for long texts), marking the
// cut with "…".
func capText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i, count := 0, 0
	for i < len(s) && count < n {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		count++
	}
	if i >= len(s) {
		return s
	}
	return s[:i] + "…"
}
