package dataset

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// Fuzz targets for the loaders that FuzzIDX, FuzzNPY and FuzzCSV do not
// reach: NPZ archives, the streaming NPY and CSV readers, and --columns
// files. Their seed corpora are in testdata/fuzz/<FuzzName>.

// sameBits reports whether a and b hold the same float32 bit patterns.
func sameBits(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
}

// checkLoaded checks the invariants of a Dataset any loader returns with
// MissingImpute: X has Len × Dim values, one name per model column, one
// label per row, and every value is finite.
func checkLoaded(t *testing.T, ds *Dataset) {
	t.Helper()
	if ds.Len() == 0 || ds.X.Len() != ds.Len()*ds.Dim() || len(ds.Features) != ds.Dim() || ds.Pre.Dim() != ds.Dim() {
		t.Fatalf("X %v, shape %v, %d features, preprocessor shape %v", ds.X.Shape, ds.Shape, len(ds.Features), ds.Pre.InputShape)
	}
	if ds.Labels != nil && len(ds.Labels) != ds.Len() {
		t.Fatalf("%d labels for %d rows", len(ds.Labels), ds.Len())
	}
	for i, v := range ds.X.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("X[%d] = %v after imputation", i, v)
		}
	}
}

// viaJSON is pre after a trip through JSON, as a model file stores it.
func viaJSON(t *testing.T, pre *Preprocessor) *Preprocessor {
	t.Helper()
	js, err := json.Marshal(pre)
	if err != nil {
		t.Fatalf("marshal the preprocessor: %v", err)
	}
	var p Preprocessor
	if err := json.Unmarshal(js, &p); err != nil {
		t.Fatalf("unmarshal the preprocessor: %v", err)
	}
	return &p
}

// FuzzNPZ loads mutated .npz archives. What Load accepts must satisfy
// the Dataset invariants, load the same under an uninformative name with
// Format npz, and be reproduced by LoadWith with its own preprocessor
// (after JSON, as in a model file).
func FuzzNPZ(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		opt := LoadOptions{Missing: MissingImpute}
		ds, err := LoadFS(fstest.MapFS{"f.npz": {Data: data}}, "f.npz", opt)
		opt.Format = FormatNPZ
		named, err2 := LoadFS(fstest.MapFS{"blob": {Data: data}}, "blob", opt)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("as f.npz: %v; as blob with Format npz: %v", err, err2)
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "dataset: ") {
				t.Fatalf("error %q lacks the dataset: prefix", err)
			}
			return
		}
		checkLoaded(t, ds)
		if !sameBits(named.X.Data, ds.X.Data) || !slices.Equal(named.Labels, ds.Labels) {
			t.Fatalf("Format npz on blob loads X %v labels %v; f.npz loads %v %v", named.X.Data, named.Labels, ds.X.Data, ds.Labels)
		}
		again, err := LoadWithFS(fstest.MapFS{"g.npz": {Data: data}}, "g.npz", viaJSON(t, ds.Pre), LoadOptions{})
		if err != nil {
			t.Fatalf("LoadWith on the training file: %v", err)
		}
		if !sameBits(again.X.Data, ds.X.Data) || !slices.Equal(again.Labels, ds.Labels) {
			t.Fatalf("LoadWith X %v labels %v; Load X %v labels %v", again.X.Data, again.Labels, ds.X.Data, ds.Labels)
		}
	})
}

// drainStream reads s to io.EOF, checking each batch (at most batch rows
// of pre.Dim() values), and returns the values, or the first error.
func drainStream(t *testing.T, s *Stream, pre *Preprocessor, batch int) ([]float32, error) {
	t.Helper()
	var all []float32
	for range 1 << 16 {
		b, err := s.Next()
		if errors.Is(err, io.EOF) {
			if rows := len(all) / pre.Dim(); s.Rows() != rows {
				t.Fatalf("Rows() = %d after %d rows", s.Rows(), rows)
			}
			return all, nil
		}
		if err != nil {
			return all, err
		}
		if b.Rows() < 1 || b.Rows() > batch || b.Cols() != pre.Dim() || b.Len() != b.Rows()*b.Cols() {
			t.Fatalf("batch of shape %v; want 1 to %d rows of %d values", b.Shape, batch, pre.Dim())
		}
		all = append(all, b.Data...)
	}
	t.Fatal("Next never returns io.EOF")
	return nil, nil
}

// checkStream streams path with pre and compares with LoadWith of the
// same file: a stream that reads to the end gives exactly LoadWith's
// rows, and a file LoadWith accepts streams without error.
func checkStream(t *testing.T, path string, pre *Preprocessor, opt LoadOptions, batch int) {
	t.Helper()
	want, loadErr := LoadWith(path, pre, opt)
	s, err := OpenStream(path, pre, opt, batch)
	if err == nil {
		defer s.Close()
		var got []float32
		got, err = drainStream(t, s, pre, batch)
		if err == nil && loadErr == nil && !sameBits(got, want.X.Data) {
			t.Fatalf("streamed (batch %d) %v; LoadWith %v", batch, got, want.X.Data)
		}
	}
	// LoadWith reads the whole file even for MaxRows, a stream only the
	// rows it returns: it may succeed where LoadWith finds a fault later on.
	if (err != nil && loadErr == nil) || (err == nil && loadErr != nil && opt.MaxRows == 0) {
		t.Fatalf("stream (batch %d, %+v): %v; LoadWith: %v", batch, opt, err, loadErr)
	}
}

// fixturePre fits a preprocessor on a small fixture file.
func fixturePre(f *testing.F, name, content string, opt LoadOptions) *Preprocessor {
	ds, err := LoadFS(fstest.MapFS{name: {Data: []byte(content)}}, name, opt)
	if err != nil {
		f.Fatalf("fixture %s: %v", name, err)
	}
	return ds.Pre
}

// writeTemp writes data to name in a fresh temporary directory (streams
// read real files).
func writeTemp(t *testing.T, name string, data []byte) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// FuzzStreamNPY streams mutated NPY files in batches of 1 to 8 rows: with
// the preprocessor of a fixed 3-column fixture (standardised, imputing;
// also with LoadOptions that refuse missing values, and with MaxRows),
// and with the one Load fits on the file itself. Either way a stream
// that reads to the end holds exactly the rows LoadWith gives, and
// errors are the same.
func FuzzStreamNPY(f *testing.F) {
	var fix strings.Builder
	WriteNPY(&fix, []float32{1, 10, 0, 2, 20, 0, 4, 15, 1, 3, 12, 1}, []int{4, 3})
	fixed := fixturePre(f, "fix.npy", fix.String(), LoadOptions{Missing: MissingImpute, Scale: ScaleStandardize})
	f.Fuzz(func(t *testing.T, data []byte, batch uint8) {
		b := 1 + int(batch%8)
		path := writeTemp(t, "x.npy", data)
		checkStream(t, path, fixed, LoadOptions{}, b)
		checkStream(t, path, fixed, LoadOptions{Missing: MissingError}, b)
		checkStream(t, path, fixed, LoadOptions{MaxRows: 2}, b)
		ds, err := Load(path, LoadOptions{Missing: MissingImpute})
		if err != nil {
			return
		}
		checkStream(t, path, ds.Pre, LoadOptions{}, b)
	})
}

// FuzzStreamCSV streams mutated CSV files in batches of 1 to 8 rows: with
// the preprocessor of a fixed table (numeric, categorical and label
// columns, with a header), and with the one Load fits on the file itself.
// Either way a stream that reads to the end holds exactly the rows
// LoadWith gives, and errors are the same.
func FuzzStreamCSV(f *testing.F) {
	fixed := fixturePre(f, "fix.csv", "amount,proto,hour,label\n12.5,tcp,3,ok\n8,udp,4,ok\n10,tcp,23,bad\n9.5,icmp,0,ok\n", LoadOptions{Label: "label", Missing: MissingImpute})
	f.Fuzz(func(t *testing.T, data []byte, batch uint8) {
		b := 1 + int(batch%8)
		path := writeTemp(t, "x.csv", data)
		checkStream(t, path, fixed, LoadOptions{}, b)
		checkStream(t, path, fixed, LoadOptions{MaxRows: 2, Missing: MissingError}, b)
		ds, err := Load(path, LoadOptions{Missing: MissingImpute})
		if err != nil {
			return
		}
		checkStream(t, path, ds.Pre, LoadOptions{Header: &ds.Pre.Header}, b)
	})
}

// FuzzColumnNames reads mutated --columns files (one name per line, one
// comma-separated line, or kddcup.names). Accepted names are non-empty,
// trimmed and unique; a file holding a one-name-per-line list of them
// reads back the same; and the names work as LoadOptions.Columns of a
// headerless CSV with that many columns.
func FuzzColumnNames(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		p := filepath.Join(dir, "cols.names")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		names, err := ReadColumnNames(p)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "dataset: ") {
				t.Fatalf("error %q lacks the dataset: prefix", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, n := range names {
			if n == "" || n != strings.TrimSpace(n) || seen[n] {
				t.Fatalf("names %q: empty, untrimmed or repeated %q", names, n)
			}
			seen[n] = true
		}
		if len(names) > len(data) {
			t.Fatalf("%d names from %d bytes", len(names), len(data))
		}
		// Names written one per line read back the same, unless a name
		// would turn that file into another format (a colon makes it
		// kddcup.names, a leading # or | a comment, a comma a list).
		plain := true
		for _, n := range names {
			plain = plain && !strings.ContainsAny(n, ":,\n\r") && !strings.HasPrefix(n, "#") && !strings.HasPrefix(n, "|") && !strings.HasPrefix(n, "\ufeff")
		}
		if plain && len(names) > 1 {
			q := filepath.Join(dir, "again.txt")
			os.WriteFile(q, []byte(strings.Join(names, "\n")+"\n"), 0o644)
			again, err := ReadColumnNames(q)
			if err != nil || !slices.Equal(again, names) {
				t.Fatalf("names %q written one per line read back as %q, %v", names, again, err)
			}
		}
		// The names label the columns of a headerless file.
		if len(names) > 64 {
			return
		}
		var row []string
		for i := range names {
			row = append(row, string(rune('1'+i%9)))
		}
		csv := strings.Join(row, ";") + "\n" + strings.Join(row, ";") + "\n"
		ds, err := LoadFS(fstest.MapFS{"d.csv": {Data: []byte(csv)}}, "d.csv", LoadOptions{Columns: names, Header: NoHeader, Comma: ';'})
		if err != nil {
			t.Fatalf("a headerless file of %d columns named %q: %v", len(names), names, err)
		}
		if !slices.Equal(ds.Pre.FeatureColumns(), names) {
			t.Fatalf("columns %q; want %q", ds.Pre.FeatureColumns(), names)
		}
	})
}
