package dataset

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

const small = `duration,proto,bytes,label
1,tcp,10,normal
2,udp,20,normal
3,tcp,30,attack
4,icmp,40,normal
`

func TestCSVTypesOneHotStandardize(t *testing.T) {
	ds := mustLoad(t, "s.csv", small, LoadOptions{Label: "label"})
	if !ds.Pre.Header {
		t.Errorf("header not detected")
	}
	wantF := []string{"duration", "proto=icmp", "proto=tcp", "proto=udp", "bytes"}
	if !slices.Equal(ds.Features, wantF) {
		t.Fatalf("Features = %q; want %q", ds.Features, wantF)
	}
	if !slices.Equal(ds.Labels, []string{"normal", "normal", "attack", "normal"}) {
		t.Errorf("Labels = %q", ds.Labels)
	}
	// duration 1..4: mean 2.5, population std sqrt(1.25).
	s := float32(math.Sqrt(1.25))
	want := [][]float32{
		{-1.5 / s, 0, 1, 0, -1.5 / s},
		{-0.5 / s, 0, 0, 1, -0.5 / s},
		{0.5 / s, 0, 1, 0, 0.5 / s},
		{1.5 / s, 1, 0, 0, 1.5 / s},
	}
	for i, w := range want {
		if got := ds.X.Row(i); !nearSlice(got, w) {
			t.Errorf("row %d = %v; want %v", i, got, w)
		}
	}
	if ds.Pre.Columns[1].Type != TypeCategorical || ds.Pre.Columns[0].Type != TypeNumeric || ds.Pre.Columns[3].Role != RoleLabel {
		t.Errorf("column specs %+v", ds.Pre.Columns)
	}
	if ds.Pre.OutputInUnitRange() {
		t.Errorf("standardized data reported in unit range")
	}
}

func TestCSVInference(t *testing.T) {
	for _, tc := range []struct {
		name, col string
		want      string
	}{
		{"ints", "1\n2\n3\n", TypeNumeric},
		{"floats+exp", "1.5\n-2e3\n.5\n", TypeNumeric},
		{"text", "a\nb\na\n", TypeCategorical},
		{"mixed small", "1\nx\n3\n", TypeCategorical},
		{"missing skipped", "1\n?\n3\n", TypeNumeric},
		{"inf is text", "1\ninf\n3\n", TypeCategorical},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := mustLoad(t, "c.csv", tc.col, LoadOptions{Header: NoHeader, Missing: MissingImpute})
			if got := ds.Pre.Columns[0].Type; got != tc.want {
				t.Errorf("type of %q = %s; want %s", tc.col, got, tc.want)
			}
		})
	}
}

func TestCSVHeaderDetection(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		header     *bool
		want       bool
		rows       int
	}{
		{"names over numbers", "a,b\n1,2\n3,4\n", nil, true, 2},
		{"numbers only", "1,2\n3,4\n", nil, false, 2},
		{"text over text", "a,b\nc,d\n", nil, false, 2},
		{"text with one numeric column", "name,x\nfoo,1\nbar,2\n", nil, true, 2},
		{"forced off", "a,b\n1,2\n", NoHeader, false, 2},
		{"forced on", "a,b\nc,d\n", WithHeader, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := mustLoad(t, "h.csv", tc.text, LoadOptions{Header: tc.header})
			if ds.Pre.Header != tc.want || ds.Len() != tc.rows {
				t.Errorf("header %v, %d rows; want %v, %d", ds.Pre.Header, ds.Len(), tc.want, tc.rows)
			}
		})
	}
}

func TestCSVNamesWithoutHeader(t *testing.T) {
	ds := mustLoad(t, "n.csv", "1,a\n2,b\n", LoadOptions{})
	if !slices.Equal(ds.Features, []string{"col0", "col1=a", "col1=b"}) {
		t.Errorf("Features = %q", ds.Features)
	}
	ds = mustLoad(t, "n.csv", "1,a\n2,b\n", LoadOptions{Columns: []string{"x", "k"}})
	if !slices.Equal(ds.Features, []string{"x", "k=a", "k=b"}) {
		t.Errorf("Features with Columns = %q", ds.Features)
	}
	_, err := loadString(t, "n.csv", "1,a\n2,b\n", LoadOptions{Columns: []string{"x"}})
	wantErr(t, err, ErrColumn, "n.csv", "1 column names given", "2 fields")
	_, err = loadString(t, "n.csv", "a,a\n1,2\n", LoadOptions{})
	wantErr(t, err, ErrColumn, `"a" appears twice`)
}

func TestCSVLabelDropNormal(t *testing.T) {
	text := "1,x,5,n\n2,y,6,a\n3,x,7,n\n"
	for _, tc := range []struct {
		name   string
		opt    LoadOptions
		feats  []string
		labels []string
	}{
		{"label by index", LoadOptions{Label: "3"}, []string{"col0", "col1=x", "col1=y", "col2"}, []string{"n", "a", "n"}},
		{"label by name", LoadOptions{Columns: []string{"d", "s", "b", "cls"}, Label: "cls"}, []string{"d", "s=x", "s=y", "b"}, []string{"n", "a", "n"}},
		{"drop by index and name", LoadOptions{Columns: []string{"d", "s", "b", "cls"}, Label: "cls", Drop: []string{"0", "b"}}, []string{"s=x", "s=y"}, []string{"n", "a", "n"}},
		{"normal filter", LoadOptions{Label: "3", Normal: "n"}, []string{"col0", "col1=x", "col2"}, []string{"n", "n"}},
		{"no label", LoadOptions{}, []string{"col0", "col1=x", "col1=y", "col2", "col3=a", "col3=n"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := mustLoad(t, "l.csv", text, tc.opt)
			if !slices.Equal(ds.Features, tc.feats) || !slices.Equal(ds.Labels, tc.labels) {
				t.Errorf("Features %q Labels %q; want %q %q", ds.Features, ds.Labels, tc.feats, tc.labels)
			}
			if ds.Dim() != len(tc.feats) || ds.X.Cols() != len(tc.feats) {
				t.Errorf("Dim %d, X %v; want %d columns", ds.Dim(), ds.X.Shape, len(tc.feats))
			}
		})
	}
	// Normal filter: statistics come from the kept rows only (1 and 3).
	ds := mustLoad(t, "l.csv", text, LoadOptions{Label: "3", Normal: "n"})
	if c := ds.Pre.Columns[0]; c.Center != 2 || c.Spread != 1 {
		t.Errorf("fitted on normal rows: center %v spread %v; want 2, 1", c.Center, c.Spread)
	}
}

func TestCSVOptionErrors(t *testing.T) {
	text := "1,x,n\n2,y,a\n"
	for _, tc := range []struct {
		name  string
		opt   LoadOptions
		kind  error
		parts []string
	}{
		{"unknown label", LoadOptions{Label: "cls"}, ErrColumn, []string{`label column "cls" not found`, "col0"}},
		{"label index out of range", LoadOptions{Label: "3"}, ErrColumn, []string{`"3" not found`}},
		{"unknown drop", LoadOptions{Drop: []string{"zz"}}, ErrColumn, []string{`"zz" to drop`}},
		{"drop the label", LoadOptions{Label: "2", Drop: []string{"2"}}, ErrColumn, []string{"both the label and dropped"}},
		{"normal without label", LoadOptions{Normal: "n"}, ErrOption, []string{"needs --label"}},
		{"normal absent", LoadOptions{Label: "2", Normal: "normal"}, ErrOption, []string{`no row has label "normal"`, `"a", "n"`}},
		{"bad missing policy", LoadOptions{Missing: "zero"}, ErrOption, []string{`"zero"`}},
		{"bad scale", LoadOptions{Scale: "log"}, ErrOption, []string{`"log"`}},
		{"nothing left", LoadOptions{Label: "2", Drop: []string{"0", "1"}}, ErrColumn, []string{"no feature columns"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadString(t, "o.csv", text, tc.opt)
			wantErr(t, err, tc.kind, append([]string{"o.csv"}, tc.parts...)...)
		})
	}
}

func TestCSVMissing(t *testing.T) {
	text := "a,b,c\n1,x,5\n?,y,6\n3,,NaN\n5,x,NA\n"
	_, err := loadString(t, "m.csv", text, LoadOptions{})
	wantErr(t, err, ErrMissing, "m.csv", "row 2 (line 3)", `column "a"`, "--missing impute")

	ds := mustLoad(t, "m.csv", text, LoadOptions{Missing: MissingImpute, Scale: ScaleNone})
	// a: median of 1,3,5 = 3; b: mode x; c: median of 5,6 = 5.5.
	want := [][]float32{{1, 1, 0, 5}, {3, 0, 1, 6}, {3, 1, 0, 5.5}, {5, 1, 0, 5.5}}
	for i, w := range want {
		if got := ds.X.Row(i); !nearSlice(got, w) {
			t.Errorf("imputed row %d = %v; want %v", i, got, w)
		}
	}
	// Mode ties break to the smallest category.
	ds = mustLoad(t, "m.csv", "k\nb\na\n?\n", LoadOptions{Missing: MissingImpute, Header: WithHeader})
	if got := ds.X.Row(2); !nearSlice(got, []float32{1, 0}) {
		t.Errorf("tie mode row = %v; want [1 0] (a)", got)
	}
	// Missing categorical value reported with its column.
	_, err = loadString(t, "m.csv", "k,v\nb,1\n,2\n", LoadOptions{})
	wantErr(t, err, ErrMissing, "row 2 (line 3)", `column "k"`)
}

func TestCSVBadNumber(t *testing.T) {
	// 199 numbers and one typo: the column stays numeric and the typo is
	// reported (or imputed).
	var b strings.Builder
	b.WriteString("duration,x\n")
	for i := range 200 {
		if i == 16 {
			b.WriteString("abc,1\n")
			continue
		}
		fmt.Fprintf(&b, "%d,1\n", i)
	}
	_, err := loadString(t, "train.csv", b.String(), LoadOptions{})
	wantErr(t, err, ErrValue, `dataset: train.csv: row 17 (line 18), column "duration": "abc" is not a number; fix the value or pass --missing impute`)
	ds := mustLoad(t, "train.csv", b.String(), LoadOptions{Missing: MissingImpute})
	if ds.Pre.Columns[0].Type != TypeNumeric || ds.Len() != 200 {
		t.Errorf("type %s, %d rows", ds.Pre.Columns[0].Type, ds.Len())
	}
}

func TestCSVBadRows(t *testing.T) {
	_, err := loadString(t, "b.csv", "a,b\n1,2\n3,4,5\n", LoadOptions{})
	wantErr(t, err, ErrFieldCount, "b.csv", "line 3 has 3 fields", "has 2")
	_, err = loadString(t, "q.csv", "a,b\n1,\"2\n", LoadOptions{})
	wantErr(t, err, ErrFormat, "q.csv", "line 2")
	_, err = loadString(t, "e.csv", "", LoadOptions{})
	wantErr(t, err, ErrFormat, "e.csv", "empty")
	_, err = loadString(t, "e.csv", "a,b\n", LoadOptions{Header: WithHeader})
	wantErr(t, err, ErrFormat, "no data rows")
}

func TestCSVDelimitersAndGzip(t *testing.T) {
	for _, tc := range []struct{ name, text string }{
		{"s.csv", "a;b\n1;2\n3;4\n"},
		{"t.tsv", "a\tb\n1\t2\n3\t4\n"},
		{"q.csv", "\"a,x\";b\n1;2\n3;4\n"},
		{"bom.csv", "\ufeffa,b\n1,2\n3,4\n"},
	} {
		ds := mustLoad(t, tc.name, tc.text, LoadOptions{})
		if ds.Dim() != 2 || ds.Len() != 2 || !ds.Pre.Header {
			t.Errorf("%s: %d×%d header %v; want 2×2 with header", tc.name, ds.Len(), ds.Dim(), ds.Pre.Header)
		}
	}
	ds, err := LoadFS(fsWith("z.csv.gz", string(gz([]byte(small)))), "z.csv.gz", LoadOptions{Label: "label"})
	if err != nil || ds.Len() != 4 {
		t.Fatalf("gzip CSV: %v", err)
	}
	// A name without an extension is sniffed.
	ds, err = LoadFS(fsWith("corrected.gz", string(gz([]byte(small)))), "corrected.gz", LoadOptions{Label: "label"})
	if err != nil || ds.Len() != 4 {
		t.Fatalf("sniffed CSV: %v", err)
	}
}

func TestCSVMaxRowsAndScales(t *testing.T) {
	ds := mustLoad(t, "s.csv", small, LoadOptions{Label: "label", MaxRows: 2})
	if ds.Len() != 2 {
		t.Errorf("MaxRows 2: %d rows", ds.Len())
	}
	ds = mustLoad(t, "s.csv", small, LoadOptions{Label: "label", Scale: ScaleMinMax})
	if got := ds.X.Row(3); !nearSlice(got, []float32{1, 1, 0, 0, 1}) {
		t.Errorf("minmax row 3 = %v", got)
	}
	if !ds.Pre.OutputInUnitRange() {
		t.Errorf("minmax not reported in unit range")
	}
	ds = mustLoad(t, "s.csv", small, LoadOptions{Label: "label", Scale: ScaleNone})
	if got := ds.X.Row(0); !nearSlice(got, []float32{1, 0, 1, 0, 10}) || ds.Pre.OutputInUnitRange() {
		t.Errorf("none row 0 = %v, unit %v", got, ds.Pre.OutputInUnitRange())
	}
	ds = mustLoad(t, "u.csv", "p,q\n0,a\n0.5,b\n1,a\n", LoadOptions{Scale: ScaleNone})
	if !ds.Pre.OutputInUnitRange() {
		t.Errorf("unscaled [0,1] column + one-hot not in unit range")
	}
	// Constant column: std 0 → 1, values 0.
	ds = mustLoad(t, "c.csv", "k\n7\n7\n", LoadOptions{Header: WithHeader})
	if c := ds.Pre.Columns[0]; c.Spread != 1 || ds.X.Data[0] != 0 {
		t.Errorf("constant column spread %v value %v", c.Spread, ds.X.Data[0])
	}
}

func TestLoadWithCSV(t *testing.T) {
	tr := mustLoad(t, "train.csv", small, LoadOptions{Label: "label", Normal: "normal"})
	// Reordered columns with a header, an unseen category, and no label.
	test := "bytes,proto,duration,extra\n10,tcp,1,z\n20,gre,2,z\n"
	ds, err := LoadWithFS(fsWith("test.csv", test), "test.csv", tr.Pre, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Labels != nil || ds.Len() != 2 {
		t.Errorf("labels %v rows %d", ds.Labels, ds.Len())
	}
	if ds.Unknown["proto"] != 1 || len(ds.Warnings) != 1 || !strings.Contains(ds.Warnings[0], `"gre"`) {
		t.Errorf("Unknown %v Warnings %q", ds.Unknown, ds.Warnings)
	}
	want, _ := tr.Pre.TransformRecords([][]string{{"1", "tcp", "10", "x"}, {"2", "gre", "20"}})
	if !nearSlice(ds.X.Data, want.Data) {
		t.Errorf("LoadWith = %v; TransformRecords = %v", ds.X.Data, want.Data)
	}
	if !nearSlice(ds.X.Row(1)[1:3], []float32{0, 0}) {
		t.Errorf("unknown category not all-zero: %v", ds.X.Row(1))
	}

	// Positional, without header, with and without the label column.
	for _, text := range []string{"1,tcp,10,attack\n2,udp,20,normal\n", "1,tcp,10\n2,udp,20\n"} {
		ds, err := LoadWithFS(fsWith("p.csv", text), "p.csv", tr.Pre, LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ds.Len() != 2 || ds.Pre.Header != tr.Pre.Header {
			t.Errorf("%q: %d rows", text, ds.Len())
		}
	}
	ds, err = LoadWithFS(fsWith("p.csv", "1,tcp,10,attack\n2,udp,20,normal\n"), "p.csv", tr.Pre, LoadOptions{Normal: "normal"})
	if err != nil || ds.Len() != 1 || ds.Labels[0] != "normal" {
		t.Errorf("LoadWith Normal: %v", err)
	}

	_, err = LoadWithFS(fsWith("m.csv", "duration,label\n1,normal\n"), "m.csv", tr.Pre, LoadOptions{})
	wantErr(t, err, ErrColumn, "m.csv", "columns proto, bytes used by the model are missing")
	_, err = LoadWithFS(fsWith("w.csv", "1,2\n3,4\n"), "w.csv", tr.Pre, LoadOptions{})
	wantErr(t, err, ErrColumn, "w.csv", "2 fields per row", "expects 4")
	_, err = LoadWithFS(fsWith("v.csv", "duration,proto,bytes\nx,tcp,1\n"), "v.csv", tr.Pre, LoadOptions{})
	wantErr(t, err, ErrValue, `row 1 (line 2), column "duration": "x" is not a number`)
	ds, err = LoadWithFS(fsWith("v.csv", "duration,proto,bytes\nx,tcp,1\n"), "v.csv", tr.Pre, LoadOptions{Missing: MissingImpute})
	if err != nil || !near(ds.X.Data[0], float32((tr.Pre.Columns[0].Fill-tr.Pre.Columns[0].Center)/tr.Pre.Columns[0].Spread)) {
		t.Errorf("impute at apply: %v %v", err, ds)
	}
}

func TestPreprocessorJSONRoundTrip(t *testing.T) {
	tr := mustLoad(t, "train.csv", small, LoadOptions{Label: "label", Missing: MissingImpute})
	b, err := json.Marshal(tr.Pre)
	if err != nil {
		t.Fatal(err)
	}
	var pre Preprocessor
	if err := json.Unmarshal(b, &pre); err != nil {
		t.Fatal(err)
	}
	recs := [][]string{{"3", "udp", "17", "x"}, {"?", "icmp", "1e3", "y"}, {"9", "new", "-1"}}
	a, err := tr.Pre.TransformRecords(recs)
	if err != nil {
		t.Fatal(err)
	}
	c, err := pre.TransformRecords(recs)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Data, c.Data) {
		t.Errorf("after JSON round trip %v; before %v", c.Data, a.Data)
	}
	ds, err := LoadWithFS(fsWith("t.csv", small), "t.csv", &pre, LoadOptions{})
	if err != nil || !slices.Equal(ds.X.Data, tr.X.Data) {
		t.Errorf("LoadWith(round-tripped pre) differs from training X: %v", err)
	}
}

func TestTransformRow(t *testing.T) {
	tr := mustLoad(t, "train.csv", small, LoadOptions{Label: "label"})
	row, err := tr.Pre.TransformRow(map[string]string{"duration": "1", "proto": "tcp", "bytes": "10", "label": "whatever"})
	if err != nil || !nearSlice(row, tr.X.Row(0)) {
		t.Errorf("TransformRow = %v, %v; want %v", row, err, tr.X.Row(0))
	}
	_, err = tr.Pre.TransformRow(map[string]string{"duration": "1", "proto": "tcp"})
	wantErr(t, err, ErrMissing, `column "bytes"`)
	_, err = tr.Pre.TransformRow(map[string]string{"duration": "1", "proto": "tcp", "bytes": "1", "bogus": "2"})
	wantErr(t, err, ErrColumn, `"bogus"`)
	_, err = tr.Pre.TransformRecords([][]string{{"1", "2"}})
	wantErr(t, err, ErrFieldCount, "record 0 has 2 fields")
}

func TestInverse(t *testing.T) {
	tr := mustLoad(t, "train.csv", small, LoadOptions{Label: "label"})
	dst := make([]float32, tr.Dim())
	tr.Pre.Inverse(tr.X.Row(1), dst)
	if !nearSlice(dst, []float32{2, 0, 0, 1, 20}) {
		t.Errorf("Inverse = %v; want [2 0 0 1 20]", dst)
	}
	if rec := tr.Pre.InverseRecord(tr.X.Row(3)); !slices.Equal(rec, []string{"4", "icmp", "40"}) {
		t.Errorf("InverseRecord = %q", rec)
	}
	if !slices.Equal(tr.Pre.FeatureColumns(), []string{"duration", "proto", "bytes"}) {
		t.Errorf("FeatureColumns = %q", tr.Pre.FeatureColumns())
	}
}

func TestReadColumnNames(t *testing.T) {
	kdd := "back,normal,smurf.\n\nduration: continuous.\nprotocol_type: symbolic.\n"
	for _, tc := range []struct {
		name, content, spec string
		want                []string
	}{
		{"lines", "a\nb\n\nc\n", "f", []string{"a", "b", "c"}},
		{"one csv line", "a, b,c\n", "f", []string{"a", "b", "c"}},
		{"kddcup.names", kdd, "f", []string{"duration", "protocol_type"}},
		{"inline", "", "x, y ,z", []string{"x", "y", "z"}},
		{"a file and more names", kdd, "f,label, difficulty", []string{"duration", "protocol_type", "label", "difficulty"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readColumnNames(fsWith("f", tc.content), tc.spec)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("readColumnNames(%q) = %q, %v; want %q", tc.spec, got, err, tc.want)
			}
		})
	}
	_, err := readColumnNames(fsWith(), "nofile")
	wantErr(t, err, ErrOption, "nofile", "no such column names file")
	_, err = readColumnNames(fsWith(), "a,,b")
	wantErr(t, err, ErrOption, "empty")
	_, err = readColumnNames(fsWith(), "a,a")
	wantErr(t, err, ErrOption, `"a" appears twice`)
	_, err = readColumnNames(fsWith("f", kdd), "f,duration")
	wantErr(t, err, ErrOption, `"duration" appears twice`)
}

func TestDetectFormat(t *testing.T) {
	for _, tc := range []struct {
		path string
		want Format
	}{
		{"train-images-idx3-ubyte.gz", FormatIDX},
		{"t10k-images.idx3-ubyte", FormatIDX},
		{"x.idx", FormatIDX},
		{"a/b.CSV", FormatCSV},
		{"KDDTrain+.txt", FormatCSV},
		{"x.tsv.gz", FormatCSV},
		{"codes.npy", FormatNPY},
		{"6_cardio.npz", FormatNPZ},
	} {
		if got, err := DetectFormat(tc.path); got != tc.want || err != nil {
			t.Errorf("DetectFormat(%q) = %q, %v; want %q", tc.path, got, err, tc.want)
		}
	}
	_, err := DetectFormat("data.bin")
	wantErr(t, err, ErrFormat, "data.bin", "--format")
	_, err = LoadFS(fsWith("data.bin", "\x01\x02\x00"), "data.bin", LoadOptions{})
	wantErr(t, err, ErrFormat, "data.bin", "--format")
	_, err = Load("/nonexistent/x.csv", LoadOptions{})
	wantErr(t, err, ErrOption, "/nonexistent/x.csv", "no such file")
}

func TestCSVOutOfRange(t *testing.T) {
	_, err := loadString(t, "r.csv", "a\n1\n1e300\n", LoadOptions{Header: WithHeader, Scale: ScaleNone})
	wantErr(t, err, ErrValue, "r.csv", "row 2 (line 3)", `"1e300" is out of float32 range`)
	ds := mustLoad(t, "r.csv", "a\n1e300\n-1e300\n1e308\n", LoadOptions{Header: WithHeader})
	for _, v := range ds.X.Data {
		if math.IsInf(float64(v), 0) || v != v {
			t.Errorf("standardized huge values: %v", ds.X.Data)
		}
	}
}

func TestCSVErrorRowAfterNormalFilter(t *testing.T) {
	_, err := loadString(t, "f.csv", "a,b,l\n1,x,bad\n2,y,ok\n?,x,ok\n", LoadOptions{Label: "l", Normal: "ok"})
	wantErr(t, err, ErrMissing, "row 3 (line 4)", `column "a"`)
}

func TestCSVWhitespaceAndWarnings(t *testing.T) {
	ds := mustLoad(t, "w.txt", "  1.0e+00  -0.5  2\n  2.0e+00  0.5  3\n", LoadOptions{Label: "0"})
	if ds.Pre.Comma != " " || ds.Dim() != 2 || !slices.Equal(ds.Labels, []string{"1.0e+00", "2.0e+00"}) {
		t.Errorf("whitespace file: comma %q dim %d labels %q", ds.Pre.Comma, ds.Dim(), ds.Labels)
	}
	_, err := loadString(t, "w.txt", "1 2 3\n4 5\n", LoadOptions{})
	wantErr(t, err, ErrFieldCount, "w.txt", "line 2 has 2 fields")

	var b strings.Builder
	b.WriteString("id,v\n")
	for i := range 150 {
		fmt.Fprintf(&b, "u%d,%d\n", i, i)
	}
	ds = mustLoad(t, "ids.csv", b.String(), LoadOptions{})
	if len(ds.Warnings) != 1 || !strings.Contains(ds.Warnings[0], `pass --drop "id"`) {
		t.Errorf("Warnings = %q", ds.Warnings)
	}
}
