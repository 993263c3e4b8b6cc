package dataset

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Format names a file format.
type Format string

// The supported formats.
const (
	FormatIDX Format = "idx" // MNIST-style IDX (optionally gzipped)
	FormatCSV Format = "csv" // delimited text (, ; or tab), optionally gzipped
	FormatNPY Format = "npy" // one NumPy array
	FormatNPZ Format = "npz" // zip of NumPy arrays: X (data) and y (labels)
)

var idxName = regexp.MustCompile(`(-ubyte|\.idx[0-9]?)$`)

// DetectFormat tells the format from a file name: .idx, *-ubyte (e.g.
// train-images-idx3-ubyte), .csv, .txt, .tsv, .npy and .npz, each optionally
// followed by .gz (not for .npz). Load falls back to sniffing the content
// when the name says nothing.
func DetectFormat(path string) (Format, error) {
	base := strings.ToLower(filepath.Base(path))
	trimmed := strings.TrimSuffix(base, ".gz")
	switch {
	case strings.HasSuffix(trimmed, ".npy"):
		return FormatNPY, nil
	case strings.HasSuffix(base, ".npz"):
		return FormatNPZ, nil
	case strings.HasSuffix(trimmed, ".csv"), strings.HasSuffix(trimmed, ".txt"), strings.HasSuffix(trimmed, ".tsv"):
		return FormatCSV, nil
	case idxName.MatchString(trimmed):
		return FormatIDX, nil
	}
	return "", fail(ErrFormat, path, "cannot tell the format from the name; rename it (.csv, .npy, .npz, -idx3-ubyte) or pass --format idx|csv|npy|npz")
}

// sniff guesses the format from the first bytes of the (decompressed)
// content; "" when it cannot tell.
func sniff(head []byte) Format {
	switch {
	case bytes.HasPrefix(head, []byte("\x93NUMPY")):
		return FormatNPY
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return FormatNPZ
	case len(head) >= 4 && head[0] == 0 && head[1] == 0 && head[2] == 0x08 && head[3] >= 1 && head[3] <= 4:
		return FormatIDX
	case len(head) > 0 && bytes.IndexByte(head, 0) < 0 && utf8.Valid(trimPartialRune(head)):
		return FormatCSV
	}
	return ""
}

// trimPartialRune drops an incomplete UTF-8 sequence at the end of b.
func trimPartialRune(b []byte) []byte {
	for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
		if utf8.Valid(b) {
			return b
		}
		b = b[:len(b)-1]
	}
	return b
}

// osFS opens paths as given (absolute or relative to the working directory),
// unlike os.DirFS which only accepts unrooted slash paths.
type osFS struct{}

func (osFS) Open(name string) (fs.File, error) { return os.Open(name) }

// dataFile is an opened input: r yields the decompressed content, size is the
// number of content bytes when known (-1 for gzip).
type dataFile struct {
	f    fs.File
	r    *bufio.Reader
	gz   *gzip.Reader
	size int64
}

func (d *dataFile) Close() error {
	if d.gz != nil {
		d.gz.Close()
	}
	return d.f.Close()
}

// openData opens name in fsys, transparently decompressing gzip (detected by
// its magic bytes, not the name).
func openData(fsys fs.FS, name string) (*dataFile, error) {
	f, err := fsys.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, failCause(ErrOption, err, name, "no such file; check the path")
		}
		return nil, failCause(ErrOption, err, name, "cannot open: %v", err)
	}
	size := int64(-1)
	if st, err := f.Stat(); err == nil {
		if st.IsDir() {
			f.Close()
			return nil, fail(ErrOption, name, "is a directory; pass a data file")
		}
		size = st.Size()
	}
	d := &dataFile{f: f, r: bufio.NewReaderSize(f, 1<<16), size: size}
	if magic, _ := d.r.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(d.r)
		if err != nil {
			f.Close()
			return nil, failCause(ErrFormat, err, name, "bad gzip header: %v; re-download or decompress the file", err)
		}
		d.gz = gz
		d.r = bufio.NewReaderSize(gz, 1<<16)
		d.size = -1
	}
	return d, nil
}

// readExact reads exactly want bytes. When avail >= 0 it is the number of
// bytes known to remain (an os file), so a short file fails before anything
// is allocated. Otherwise (gzip, zip entries) the buffer grows with the data
// actually read, so a hostile header cannot force a huge allocation.
// what describes the data for the truncation message.
func readExact(name string, r io.Reader, want, avail int64, what string) ([]byte, error) {
	short := func(got int64) error {
		return fail(ErrTruncated, name, "truncated: the header declares %s (%d bytes) but only %d bytes follow; re-download the file", what, want, got)
	}
	if avail >= 0 && want > avail {
		return nil, short(avail)
	}
	if avail >= 0 {
		buf := make([]byte, want)
		n, err := io.ReadFull(r, buf)
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return nil, short(int64(n))
			}
			return nil, failCause(ErrFormat, err, name, "read error: %v", err)
		}
		return buf, nil
	}
	const start = 1 << 20
	buf := make([]byte, 0, min(want, start))
	for int64(len(buf)) < want {
		if len(buf) == cap(buf) {
			grow := min(int64(cap(buf)), want-int64(len(buf)))
			buf = append(buf[:cap(buf)], make([]byte, grow)...)[:len(buf)]
		}
		end := min(int64(cap(buf)), want)
		n, err := r.Read(buf[len(buf):end])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, failCause(ErrFormat, err, name, "read error: %v; re-download the file", err)
		}
	}
	if int64(len(buf)) < want {
		return nil, short(int64(len(buf)))
	}
	return buf, nil
}
