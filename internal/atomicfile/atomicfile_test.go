package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeString(s string) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	}
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	for _, content := range []string{"first", "second, longer content"} {
		if err := WriteFile(path, writeString(content), 0o644); err != nil {
			t.Fatalf("WriteFile(%q) = %v; want nil", content, err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != content {
			t.Errorf("content = %q; want %q", got, content)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v; want 0644", fi.Mode().Perm())
	}
	if names := dirEntries(t, dir); len(names) != 1 {
		t.Errorf("directory holds %q; want only model.safetensors", names)
	}
}

func TestWriteFileRelative(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := WriteFile("plain.txt", writeString("x"), 0o600); err != nil {
		t.Fatalf("WriteFile(relative) = %v", err)
	}
	if got, _ := os.ReadFile("plain.txt"); string(got) != "x" {
		t.Errorf("content = %q; want %q", got, "x")
	}
}

func TestWriteFileCallbackError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.bin")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := WriteFile(path, func(w io.Writer) error {
		// Write more than the buffer so that part reaches the temp file.
		if _, err := w.Write(make([]byte, 200<<10)); err != nil {
			return err
		}
		return boom
	}, 0o644)
	if !errors.Is(err, boom) {
		t.Fatalf("WriteFile = %v; want wrapped %v", err, boom)
	}
	if !strings.HasPrefix(err.Error(), "atomicfile: ") {
		t.Errorf("error %q lacks the atomicfile: prefix", err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "old" {
		t.Errorf("content = %q; want old content kept", got)
	}
	if names := dirEntries(t, dir); len(names) != 1 {
		t.Errorf("directory holds %q; want no temporary files left", names)
	}
}

func TestWriteFileMissingDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope", "out.bin")
	err := WriteFile(path, writeString("x"), 0o644)
	if err == nil {
		t.Fatal("WriteFile into a missing directory = nil; want error")
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("WriteFile = %v; want wrapped os.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("error %q should say the directory does not exist", err)
	}
}

func TestWriteFileDirIsFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(filepath.Join(file, "x"), writeString("x"), 0o644); err == nil {
		t.Error("WriteFile under a regular file = nil; want error")
	}
}
