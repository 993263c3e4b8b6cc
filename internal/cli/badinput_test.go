package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadInput runs bad inputs end to end through the command line: each
// must fail with exit code 1 (2 for a bad flag value), a message naming
// the input and saying what is wrong, no output file left behind, and the
// inputs unchanged.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	table := writeTable(t, dir, 120)
	idx := writeIDX(t, dir, 40)
	model := filepath.Join(dir, "m.safetensors")
	mustRun(t, "train", "--data", table, "--label", "class", "--epochs", "2", "-o", model, "-q", "--no-plot")
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var gzBuf bytes.Buffer
	zw := gzip.NewWriter(&gzBuf)
	zw.Write(bytes.Repeat([]byte("1,2,3\n"), 1000))
	zw.Close()
	truncGz := file("trunc.csv.gz", string(gzBuf.Bytes()[:gzBuf.Len()/2]))
	raw, _ := os.ReadFile(model)
	truncModel := file("trunc.safetensors", string(raw[:len(raw)/2]))
	var hb bytes.Buffer
	binary.Write(&hb, binary.BigEndian, []uint32{0x803, 1 << 30, 1 << 14, 1 << 14})
	hugeIDX := file("huge-images-idx3-ubyte", hb.String())
	pngOf := func(name string, w, h int) string {
		var b bytes.Buffer
		png.Encode(&b, image.NewGray(image.Rect(0, 0, w, h)))
		return file(name, b.String())
	}
	onePx := pngOf("one.png", 1, 1)
	picture := pngOf("pic.png", 40, 40)
	// a PNG header claiming 100,000 × 100,000 pixels (a decompression bomb)
	bombRaw, _ := os.ReadFile(pngOf("bomb.png", 8, 8))
	binary.BigEndian.PutUint32(bombRaw[16:], 100000)
	binary.BigEndian.PutUint32(bombRaw[20:], 100000)
	bomb := file("bomb.png", string(bombRaw))
	hard := filepath.Join(dir, "hard.csv")
	if err := os.Link(table, hard); err != nil {
		t.Fatal(err)
	}
	sym := filepath.Join(dir, "sym.csv")
	if err := os.Symlink(table, sym); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	cases := []struct {
		name string
		args []string
		code int
		say  []string // the message must contain these
	}{
		{"train -o = data", []string{"train", "--data", table, "--label", "class", "-o", table}, 1, []string{table, "destroy"}},
		{"train -o = data through a hard link", []string{"train", "--data", table, "--label", "class", "-o", hard}, 1, []string{"destroy"}},
		{"train -o = data through a symlink", []string{"train", "--data", sym, "--label", "class", "-o", table}, 1, []string{"destroy"}},
		{"score -o = data", []string{"score", "-m", model, "--data", table, "-o", table}, 1, []string{"destroy"}},
		{"score -o = model", []string{"score", "-m", model, "--data", table, "-o", model}, 1, []string{"destroy"}},
		{"encode -o = data", []string{"encode", "-m", model, "--data", hard, "-o", table}, 1, []string{"destroy"}},
		{"reconstruct -o = data", []string{"reconstruct", "-m", model, "--data", table, "-o", table}, 1, []string{"destroy"}},
		{"denoise -o = input", []string{"denoise", picture, "-o", picture}, 1, []string{"destroy"}},
		{"upscale -o = input", []string{"upscale", "--scale", "2", picture, "-o", picture}, 1, []string{"destroy"}},
		{"colorize -o = input", []string{"colorize", picture, "-o", picture}, 1, []string{"destroy"}},
		{"empty CSV", []string{"train", "--data", file("empty.csv", ""), "-o", out + ".safetensors"}, 1, []string{"empty.csv"}},
		{"header-only CSV", []string{"train", "--data", file("head.csv", "a,b,c\n"), "-o", out + ".safetensors"}, 1, []string{"head.csv", "no data rows"}},
		{"ragged CSV", []string{"train", "--data", file("ragged.csv", "a,b\n1,2\n3\n4,5\n"), "-o", out + ".safetensors"}, 1, []string{"ragged.csv"}},
		{"binary as CSV", []string{"train", "--data", file("bin.csv", "\x00\x01\x02\xff\xfe"), "-o", out + ".safetensors"}, 1, []string{"bin.csv"}},
		{"NaN in CSV", []string{"score", "-m", model, "--data", file("nan.csv", "duration,bytes,rate,proto,class\nNaN,1,1,tcp,normal\n"), "-o", out + ".csv"}, 1, []string{"nan.csv", "duration"}},
		{"Inf in CSV", []string{"score", "-m", model, "--data", file("inf.csv", "duration,bytes,rate,proto,class\n1e400,1,1,tcp,normal\n"), "-o", out + ".csv"}, 1, []string{"inf.csv", "duration"}},
		{"huge IDX header", []string{"train", "--data", hugeIDX, "-o", out + ".safetensors"}, 1, []string{"huge-images-idx3-ubyte"}},
		{"truncated gzip", []string{"train", "--data", truncGz, "-o", out + ".safetensors"}, 1, []string{"trunc.csv.gz"}},
		{"truncated model", []string{"score", "-m", truncModel, "--data", table, "-o", out + ".csv"}, 1, []string{"trunc.safetensors"}},
		{"a CSV as the model", []string{"score", "-m", table, "--data", table, "-o", out + ".csv"}, 1, []string{"table.csv"}},
		{"a folder as the model", []string{"score", "-m", dir, "--data", table, "-o", out + ".csv"}, 1, []string{dir}},
		{"a folder as the data", []string{"score", "-m", model, "--data", dir, "-o", out + ".csv"}, 1, []string{dir}},
		{"0-byte picture", []string{"denoise", file("zero.png", ""), "-o", out + ".png"}, 1, []string{"zero.png"}},
		{"1×1 picture", []string{"upscale", "--scale", "2", onePx, "-o", out + ".png"}, 0, nil},
		{"decompression bomb", []string{"denoise", bomb, "-o", out + ".png"}, 1, []string{"bomb.png"}},
		{"a folder as the picture", []string{"denoise", dir, "-o", out + ".png"}, 1, []string{dir}},
		{"table data for an image model", []string{"score", "-m", "mnist-conv", "--data", table, "-o", out + ".csv"}, 2, []string{"table.csv", "images"}},
		{"image data for a table model", []string{"score", "-m", model, "--data", idx, "-o", out + ".csv"}, 1, []string{idx}},
		{"-o into a missing folder", []string{"train", "--data", table, "-o", filepath.Join(dir, "no", "such", "m.safetensors")}, 2, []string{"does not exist"}},
		{"-o is a folder", []string{"train", "--data", table, "-o", dir}, 2, []string{"is a folder"}},
		{"--epochs 0", []string{"train", "--data", table, "--epochs", "0", "-o", out + ".safetensors"}, 2, []string{"--epochs"}},
		{"--batch -5", []string{"train", "--data", table, "--batch", "-5", "-o", out + ".safetensors"}, 2, []string{"--batch"}},
		{"--lr -1", []string{"train", "--data", table, "--lr", "-1", "-o", out + ".safetensors"}, 2, []string{"--lr"}},
		{"--clip -1", []string{"train", "--data", table, "--clip", "-1", "-o", out + ".safetensors"}, 2, []string{"--clip"}},
		{"upscale -m upscale-x2 --scale 3", []string{"upscale", "-m", "upscale-x2", "--scale", "3", picture, "-o", out + ".png"}, 2, []string{"upscale-x3"}},
	}
	inputs := []string{table, idx, model, picture}
	sums := map[string][32]byte{}
	for _, p := range inputs {
		b, _ := os.ReadFile(p)
		sums[p] = sha256.Sum256(b)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, errs := run(t, c.args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d: %s", code, c.code, errs)
			}
			if strings.Contains(errs, "panic") || strings.Contains(errs, "goroutine ") {
				t.Fatalf("crashed: %s", errs)
			}
			for _, s := range c.say {
				if !strings.Contains(errs, s) {
					t.Errorf("message %q does not contain %q", errs, s)
				}
			}
			for _, ext := range []string{".safetensors", ".csv", ".png", ".npy"} {
				if _, err := os.Stat(out + ext); err == nil {
					os.Remove(out + ext)
					if c.code != 0 {
						t.Errorf("%s was left behind", out+ext)
					}
				}
			}
			for p, want := range sums {
				b, _ := os.ReadFile(p)
				if sha256.Sum256(b) != want {
					t.Fatalf("input %s was changed", p)
				}
			}
		})
	}
}

// TestResumeOtherData refuses to resume a checkpoint made on other data
// with the same shape and row count (MNIST resumed on Fashion-MNIST, say).
func TestResumeOtherData(t *testing.T) {
	dir := t.TempDir()
	a := writeTable(t, dir, 100)
	b := filepath.Join(dir, "b.csv")
	raw, _ := os.ReadFile(a)
	os.WriteFile(b, bytes.Replace(raw, []byte("tcp"), []byte("udp"), 5), 0o644)
	model := filepath.Join(dir, "m.safetensors")
	ckpt := filepath.Join(dir, "m.ckpt")
	// a checkpoint: interrupted before the first step
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb bytes.Buffer
	if code := Run(ctx, []string{"train", "--data", a, "--label", "class", "-o", model, "--checkpoint", ckpt, "-q"}, &out, &errb); code != exitInterrupted {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	code, _, errs := run(t, "train", "--data", b, "--label", "class", "-o", model, "--checkpoint", ckpt, "--resume", "-q")
	if code == 0 || !strings.Contains(errs, "other data") {
		t.Fatalf("resume on other data: exit %d, %q", code, errs)
	}
	if _, err := os.Stat(model); err == nil {
		t.Error("a model was written")
	}
}
