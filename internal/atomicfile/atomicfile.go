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
