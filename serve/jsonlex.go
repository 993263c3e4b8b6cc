package serve

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// lexer reads the JSON of a score request from a stream, one token at a
// time, without holding the body: the little of JSON that requests use
// (objects, arrays, strings, numbers, true, false, null) with the grammar
// checked by its caller. It is several times faster than json.Decoder's
// Token, which allocates an error for every scalar it reads.
type lexer struct {
	r   *bufio.Reader
	off int64 // bytes consumed
	tmp []byte
}

func newLexer(r io.Reader) *lexer { return &lexer{r: bufio.NewReaderSize(r, 64<<10)} }

// syntaxError is malformed JSON at a byte offset.
type syntaxError struct {
	msg string
	off int64
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s at byte %d", e.msg, e.off) }

func (x *lexer) syntax(c byte, looking string) error {
	return &syntaxError{msg: fmt.Sprintf("invalid character %q %s", c, looking), off: x.off}
}

// early turns the end of the body into io.ErrUnexpectedEOF; other read
// errors (the body limit) stay as they are.
func early(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// peek is the next byte that is not white space, not consumed; io.EOF at
// the end of the body.
func (x *lexer) peek() (byte, error) {
	for {
		c, err := x.r.ReadByte()
		if err != nil {
			return 0, err
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			x.off++
			continue
		}
		_ = x.r.UnreadByte()
		return c, nil
	}
}

// next consumes the next byte that is not white space; the end of the
// body is io.ErrUnexpectedEOF.
func (x *lexer) next() (byte, error) {
	c, err := x.peek()
	if err != nil {
		return 0, early(err)
	}
	_, _ = x.r.ReadByte()
	x.off++
	return c, nil
}

// expect consumes want, or fails saying what it looked for.
func (x *lexer) expect(want byte, looking string) error {
	c, err := x.next()
	if err != nil {
		return err
	}
	if c != want {
		return x.syntax(c, looking)
	}
	return nil
}

// str reads a string whose opening quote is consumed.
func (x *lexer) str() (string, error) {
	x.tmp = x.tmp[:0]
	start := x.off - 1
	for {
		chunk, err := x.r.ReadSlice('"')
		x.off += int64(len(chunk))
		x.tmp = append(x.tmp, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", early(err)
		}
		n := 0 // backslashes before the quote
		for i := len(x.tmp) - 2; i >= 0 && x.tmp[i] == '\\'; i-- {
			n++
		}
		if n%2 == 0 {
			break
		}
	}
	s := x.tmp[:len(x.tmp)-1]
	escaped := false
	for _, c := range s {
		if c < 0x20 {
			return "", &syntaxError{msg: fmt.Sprintf("invalid character %q in a string", c), off: start}
		}
		if c == '\\' {
			escaped = true
		}
	}
	if escaped {
		var out string
		q := append([]byte{'"'}, x.tmp...)
		if err := json.Unmarshal(q, &out); err != nil {
			return "", &syntaxError{msg: "invalid escape in a string", off: start}
		}
		return out, nil
	}
	if !utf8.Valid(s) {
		return strings.ToValidUTF8(string(s), "\uFFFD"), nil // as encoding/json does
	}
	return string(s), nil
}

// number reads a number whose first byte c is consumed.
func (x *lexer) number(c byte) (string, error) {
	start := x.off - 1
	x.tmp = append(x.tmp[:0], c)
	for {
		b, err := x.r.ReadByte()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
		if (b < '0' || b > '9') && b != '.' && b != 'e' && b != 'E' && b != '+' && b != '-' {
			_ = x.r.UnreadByte()
			break
		}
		x.off++
		x.tmp = append(x.tmp, b)
	}
	if !validNumber(x.tmp) {
		return "", &syntaxError{msg: fmt.Sprintf("invalid number %q", capText(string(x.tmp), maxQuoted)), off: start}
	}
	return string(x.tmp), nil
}

// validNumber checks JSON's number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func validNumber(b []byte) bool {
	i := 0
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(b)
}

// literal reads true, false or null, whose first byte c is consumed.
func (x *lexer) literal(c byte) (string, error) {
	start := x.off - 1
	x.tmp = append(x.tmp[:0], c)
	for len(x.tmp) < 5 {
		b, err := x.r.ReadByte()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
		if b < 'a' || b > 'z' {
			_ = x.r.UnreadByte()
			break
		}
		x.off++
		x.tmp = append(x.tmp, b)
	}
	switch s := string(x.tmp); s {
	case "true", "false", "null":
		return s, nil
	}
	return "", &syntaxError{msg: fmt.Sprintf("invalid literal %q", x.tmp), off: start}
}

// Kinds of JSON value.
type kind int

const (
	kindString kind = iota
	kindNumber
	kindBool
	kindNull
	kindNested // an object or array, not read
)

// value reads a scalar; an object or array is reported (kindNested) with
// its first byte consumed and the rest not read.
func (x *lexer) value() (string, kind, error) {
	c, err := x.next()
	if err != nil {
		return "", 0, err
	}
	switch {
	case c == '"':
		s, err := x.str()
		return s, kindString, err
	case c == '-' || (c >= '0' && c <= '9'):
		s, err := x.number(c)
		return s, kindNumber, err
	case c == 't' || c == 'f' || c == 'n':
		s, err := x.literal(c)
		if s == "null" {
			return "", kindNull, err
		}
		return s, kindBool, err
	case c == '{' || c == '[':
		return "", kindNested, nil
	}
	return "", 0, x.syntax(c, "looking for a value")
}
