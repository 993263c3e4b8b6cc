package dataset

import (
	"bufio"
	"errors"
	"io/fs"
	"strings"
)

// ReadColumnNames reads column names from spec (the CLI's --columns): a
// file, or a comma-separated list in which an item naming a file stands
// for the names in it, so "kddcup.names,label,difficulty" extends a names
// file with two columns. A file holds one name per line, or one
// comma-separated line, or the kddcup.names format: a first line listing
// the classes, then "name: type." lines (the names before the colons are
// returned).
func ReadColumnNames(spec string) ([]string, error) {
	return readColumnNames(osFS{}, spec)
}

func readColumnNames(fsys fs.FS, spec string) ([]string, error) {
	st, err := fs.Stat(fsys, spec)
	if err == nil && !st.IsDir() {
		return readNamesFile(fsys, spec)
	}
	if !strings.Contains(spec, ",") {
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, failCause(ErrOption, err, spec, "cannot read the column names file: %v", err)
		}
		return nil, fail(ErrOption, spec, "no such column names file, and not a comma-separated list; pass NAMES (a,b,c) or a file with one name per line")
	}
	var parts []string
	for _, item := range strings.Split(spec, ",") {
		if st, err := fs.Stat(fsys, strings.TrimSpace(item)); strings.TrimSpace(item) != "" && err == nil && !st.IsDir() {
			names, err := readNamesFile(fsys, strings.TrimSpace(item))
			if err != nil {
				return nil, err
			}
			parts = append(parts, names...)
			continue
		}
		parts = append(parts, item)
	}
	return splitNames("columns", parts)
}

// readNamesFile reads the names of one file (see ReadColumnNames).
func readNamesFile(fsys fs.FS, spec string) ([]string, error) {
	f, err := fsys.Open(spec)
	if err != nil {
		return nil, failCause(ErrOption, err, spec, "cannot open: %v", err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<22)
	for sc.Scan() {
		if l := strings.TrimSpace(strings.TrimPrefix(sc.Text(), "\ufeff")); l != "" && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "|") {
			lines = append(lines, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, failCause(ErrFormat, err, spec, "read error: %v", err)
	}
	var colon []string
	for _, l := range lines {
		if i := strings.IndexByte(l, ':'); i > 0 {
			colon = append(colon, l[:i])
		}
	}
	switch {
	case len(colon) > 0:
		return splitNames(spec, colon)
	case len(lines) == 1 && strings.Contains(lines[0], ","):
		return splitNames(spec, strings.Split(lines[0], ","))
	}
	return splitNames(spec, lines)
}

func splitNames(src string, parts []string) ([]string, error) {
	names := make([]string, 0, len(parts))
	seen := map[string]bool{}
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, fail(ErrOption, src, "column name %d is empty; remove the stray comma or line", i+1)
		}
		if seen[p] {
			return nil, fail(ErrOption, src, "column name %q appears twice; names must be unique", p)
		}
		seen[p] = true
		names = append(names, p)
	}
	if len(names) == 0 {
		return nil, fail(ErrOption, src, "no column names; pass a file with one name per line")
	}
	return names, nil
}
