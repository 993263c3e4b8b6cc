package dataset

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package for bad input wraps
// one of them (test with errors.Is) and carries a message naming the file,
// the row or column where it applies, and what to do about it.
var (
	// ErrFormat: the file is not of the expected format or is malformed.
	ErrFormat = errors.New("dataset: bad format")
	// ErrTruncated: a header declares more data than the file holds.
	ErrTruncated = errors.New("dataset: truncated file")
	// ErrMissing: a value is missing and the missing-value policy is "error".
	ErrMissing = errors.New("dataset: missing value")
	// ErrValue: a value cannot be parsed (e.g. text in a numeric column).
	ErrValue = errors.New("dataset: bad value")
	// ErrColumn: a named column does not exist or is used inconsistently.
	ErrColumn = errors.New("dataset: bad column")
	// ErrFieldCount: a CSV row has the wrong number of fields.
	ErrFieldCount = errors.New("dataset: wrong field count")
	// ErrOption: a LoadOptions field is invalid or does not apply.
	ErrOption = errors.New("dataset: bad option")
)

// dsError is a user-facing error: its text is the full message, and it
// unwraps to a sentinel kind and, optionally, an underlying cause.
type dsError struct {
	msg   string
	kind  error
	cause error
}

func (e *dsError) Error() string { return e.msg }

func (e *dsError) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.kind != nil {
		errs = append(errs, e.kind)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// fail builds a user-facing error "dataset: <name>: <message>".
func fail(kind error, name string, format string, args ...any) error {
	return &dsError{msg: "dataset: " + name + ": " + fmt.Sprintf(format, args...), kind: kind}
}

// failCause is fail with an underlying cause that errors.Is/As can reach.
func failCause(kind, cause error, name string, format string, args ...any) error {
	return &dsError{msg: "dataset: " + name + ": " + fmt.Sprintf(format, args...), kind: kind, cause: cause}
}
