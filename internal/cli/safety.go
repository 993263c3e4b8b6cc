package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// refuseOverwrite refuses an output path that is one of the inputs (the
// same file, through links or another spelling too), before any work: a
// command must never destroy the data it reads. Inputs may be
// comma-separated lists and "" (none).
func refuseOverwrite(output string, inputs ...string) error {
	if output == "" || output == "-" {
		return nil
	}
	out, err := os.Stat(output)
	if err != nil {
		return nil // a new file cannot be an input
	}
	for _, in := range inputs {
		for _, p := range strings.Split(in, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			st, err := os.Stat(p)
			if err != nil {
				continue
			}
			if os.SameFile(out, st) {
				return fmt.Errorf("the output %s is the input %s; writing it would destroy the input. Pass another -o", output, p)
			}
			if st.IsDir() {
				if rel, err := filepath.Rel(p, output); err == nil && !strings.HasPrefix(rel, "..") && out.Mode().IsRegular() {
					// writing a picture into a folder being read is fine;
					// only overwriting one of its files is not
					if sameAsAny(out, p) {
						return fmt.Errorf("the output %s is one of the inputs in %s; writing it would destroy it. Pass another -o", output, p)
					}
				}
			}
		}
	}
	return nil
}

// sameAsAny reports whether out is one of the files directly in dir.
func sameAsAny(out os.FileInfo, dir string) bool {
	es, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range es {
		if st, err := os.Stat(filepath.Join(dir, e.Name())); err == nil && os.SameFile(out, st) {
			return true
		}
	}
	return false
}
