// Package atomicfile writes files so that readers see either the old
// content or the complete new content, never a partial file.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
)

// WriteFile calls write with a buffered writer on a temporary file in the
// directory of path, syncs and closes it, renames it over path and syncs
// the directory. On any error the temporary file is removed and an
// existing file at path is left untouched. The new file gets mode perm
// exactly (the umask is not applied).
func WriteFile(path string, write func(w io.Writer) error, perm os.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if base == "" {
		return fmt.Errorf("atomicfile: %q: path names a directory, not a file", path)
	}
	if fi, statErr := os.Stat(dir); statErr != nil {
		if errors.Is(statErr, os.ErrNotExist) {
			return fmt.Errorf("atomicfile: %s: directory %s does not exist; create it first: %w", path, dir, statErr)
		}
		return fmt.Errorf("atomicfile: %s: %w", path, statErr)
	} else if !fi.IsDir() {
		return fmt.Errorf("atomicfile: %s: %s is not a directory", path, dir)
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("atomicfile: %s: create temporary file: %w", path, err)
	}
	tmp := f.Name()
	renamed := false
	defer func() {
		if err != nil && !renamed {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 64<<10)
	if err = write(bw); err != nil {
		return fmt.Errorf("atomicfile: %s: %w", path, err)
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("atomicfile: %s: write: %w", path, err)
	}
	if err = f.Chmod(perm); err != nil {
		return fmt.Errorf("atomicfile: %s: chmod: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("atomicfile: %s: sync: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("atomicfile: %s: close: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("atomicfile: %s: rename: %w", path, err)
	}
	renamed = true
	if runtime.GOOS == "windows" {
		return nil // directories cannot be synced there
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("atomicfile: %s: open directory to sync: %w", path, err)
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("atomicfile: %s: sync directory: %w", path, err)
	}
	return nil
}

// File is a file being written atomically: its content goes to a
// temporary file beside path, and Commit puts it in place; Abort (or a
// failed Commit) removes it, leaving any existing file at path untouched.
type File struct {
	path string
	perm os.FileMode
	f    *os.File
	*bufio.Writer
	done bool
}

// Create starts writing path atomically.
func Create(path string, perm os.FileMode) (*File, error) {
	a := &File{path: path, perm: perm}
	err := WriteFile(path, func(io.Writer) error { return errCreate }, perm)
	if !errors.Is(err, errCreate) {
		return nil, err // the directory is missing or not one
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("atomicfile: %s: create temporary file: %w", path, err)
	}
	a.f, a.Writer = f, bufio.NewWriterSize(f, 64<<10)
	return a, nil
}

var errCreate = errors.New("probe")

// Abort discards what was written.
func (a *File) Abort() {
	if a.done {
		return
	}
	a.done = true
	a.f.Close()
	os.Remove(a.f.Name())
}

// Commit flushes, syncs and renames the file over path.
func (a *File) Commit() (err error) {
	if a.done {
		return fmt.Errorf("atomicfile: %s: already committed or aborted", a.path)
	}
	defer func() {
		if err != nil {
			a.Abort()
		}
		a.done = true
	}()
	if err = a.Flush(); err != nil {
		return fmt.Errorf("atomicfile: %s: write: %w", a.path, err)
	}
	if err = a.f.Chmod(a.perm); err != nil {
		return fmt.Errorf("atomicfile: %s: chmod: %w", a.path, err)
	}
	if err = a.f.Sync(); err != nil {
		return fmt.Errorf("atomicfile: %s: sync: %w", a.path, err)
	}
	if err = a.f.Close(); err != nil {
		return fmt.Errorf("atomicfile: %s: close: %w", a.path, err)
	}
	if err = os.Rename(a.f.Name(), a.path); err != nil {
		return fmt.Errorf("atomicfile: %s: rename: %w", a.path, err)
	}
	return nil
}
