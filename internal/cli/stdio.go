package cli

import (
	"fmt"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/bottleneck-ml/bottleneck/dataset"
	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/imagetask"
)

// "-" names standard input for --data and picture arguments, and standard
// output for -o. Loaders read files (formats are sniffed, CSV streamed),
// so standard input is first copied to a temporary file, removed when the
// command ends.

var (
	tmpMu   sync.Mutex
	tmpDirs []string
	stdin   io.Reader = os.Stdin // tests replace it
)

// cleanupTemp removes the temporary files of the commands run so far.
func cleanupTemp() {
	tmpMu.Lock()
	defer tmpMu.Unlock()
	for _, d := range tmpDirs {
		os.RemoveAll(d)
	}
	tmpDirs = nil
}

// tempDir makes a temporary folder removed when the command ends.
func tempDir() (string, error) {
	dir, err := os.MkdirTemp("", "bottleneck-stdin-")
	if err != nil {
		return "", err
	}
	tmpMu.Lock()
	tmpDirs = append(tmpDirs, dir)
	tmpMu.Unlock()
	return dir, nil
}

// fromStdin copies standard input to a temporary file and returns its
// path, named "stdin" so messages say where the data came from.
func fromStdin() (string, error) {
	dir, err := tempDir()
	if err != nil {
		return "", fmt.Errorf("reading standard input: %w", err)
	}
	path := filepath.Join(dir, "stdin")
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("reading standard input: %w", err)
	}
	if _, err := io.Copy(f, stdin); err != nil {
		f.Close()
		return "", fmt.Errorf("reading standard input: %w", err)
	}
	return path, f.Close()
}

// resolveStdin replaces a "-" data path by a file holding standard input.
func (d *dataFlags) resolveStdin() error {
	if d.path != "-" {
		return nil
	}
	p, err := fromStdin()
	if err != nil {
		return err
	}
	d.path = p
	return nil
}

// createMatrix starts the matrix output of encode and reconstruct: a .npy
// or .csv file, or "-" for standard output in the format --format names
// (csv unless it says npy).
func createMatrix(path, format string, cols int, header []string, stdout io.Writer) (*dataset.MatrixWriter, error) {
	if path != "-" {
		w, err := dataset.CreateMatrix(path, cols, header)
		if err != nil {
			return nil, usageError{err}
		}
		return w, nil
	}
	f := dataset.FormatCSV
	if strings.EqualFold(format, "npy") {
		f = dataset.FormatNPY
	}
	return dataset.NewMatrixWriter(stdout, f, cols, header)
}

// readPictureArg reads a picture argument, "-" for standard input.
func readPictureArg(path string) (*imageio.Image, error) {
	if path != "-" {
		return imagetask.ReadImage(path)
	}
	img, err := imageio.Decode(stdin)
	if err != nil {
		return nil, fmt.Errorf("standard input: %w", err)
	}
	if imageio.IsGrey(img) {
		return imageio.Grey(img), nil
	}
	return imageio.RGB(img), nil
}

// writePicture writes a PNG to path, "-" for standard output.
func writePicture(path string, img *imageio.Image, stdout io.Writer) error {
	if path != "-" {
		return imageio.WritePNG(path, img)
	}
	m, err := img.ToImage()
	if err != nil {
		return err
	}
	return png.Encode(stdout, m)
}
