package dataset

import (
	"os"
	"path/filepath"
	"testing"
)

const sharedData = "/work/shared/data"

func needData(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join(sharedData, rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared data %s not present", p)
	}
	return p
}

func nslColumns(t *testing.T) []string {
	t.Helper()
	names, err := ReadColumnNames(needData(t, "kddcup99/kddcup.names"))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 41 {
		t.Fatalf("kddcup.names: %d names; want 41", len(names))
	}
	return append(names, "label", "difficulty")
}

func TestRealNSLKDD(t *testing.T) {
	path := needData(t, "nsl-kdd/KDDTrain+_20Percent.txt")
	cols := nslColumns(t)
	ds, err := Load(path, LoadOptions{Columns: cols, Label: "label", Drop: []string{"difficulty"}})
	if err != nil {
		t.Fatal(err)
	}
	// 38 numeric columns + protocol_type (3) + service (66) + flag (11) in
	// the 20% training subset (the full KDDTrain+ has 70 services → 122).
	if ds.Len() != 25192 || ds.Dim() != 118 {
		t.Fatalf("NSL-KDD: %d×%d; want 25192×118", ds.Len(), ds.Dim())
	}
	normal := 0
	for _, l := range ds.Labels {
		if l == "normal" {
			normal++
		}
	}
	if normal != 13449 {
		t.Errorf("normal rows = %d; want 13449", normal)
	}
	if ds.Pre.Header {
		t.Errorf("header detected in a headerless file")
	}
	tr, err := Load(path, LoadOptions{Columns: cols, Label: "label", Drop: []string{"difficulty"}, Normal: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Len() != 13449 {
		t.Errorf("Normal filter: %d rows; want 13449", tr.Len())
	}
	test, err := LoadWith(needData(t, "nsl-kdd/KDDTest+.txt"), tr.Pre, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if test.Len() != 22544 || test.Dim() != tr.Dim() {
		t.Errorf("KDDTest+: %d×%d; want 22544×%d", test.Len(), test.Dim(), tr.Dim())
	}
	t.Logf("normal-only dim %d, test warnings: %v", tr.Dim(), test.Warnings)
}

func TestRealMNIST(t *testing.T) {
	path := needData(t, "mnist/t10k-images-idx3-ubyte.gz")
	ds, err := Load(path, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 10000 || len(ds.Labels) != 10000 || ds.Dim() != 784 {
		t.Fatalf("MNIST t10k: %d rows, %d labels, dim %d", ds.Len(), len(ds.Labels), ds.Dim())
	}
	counts := map[string]int{}
	for _, l := range ds.Labels {
		counts[l]++
	}
	if counts["0"] != 980 || counts["9"] != 1009 {
		t.Errorf("label counts %v; want 0: 980, 9: 1009", counts)
	}
	if !ds.Pre.OutputInUnitRange() {
		t.Errorf("MNIST should be in the unit range")
	}
}

func TestRealADBench(t *testing.T) {
	path := needData(t, "adbench/6_cardio.npz")
	ds, err := Load(path, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	anom := 0
	for _, l := range ds.Labels {
		if l == "1" {
			anom++
		}
	}
	if ds.Len() != 1831 || ds.Dim() != 21 || anom != 176 {
		t.Errorf("cardio: %d×%d, %d anomalies; want 1831×21, 176", ds.Len(), ds.Dim(), anom)
	}
	t.Logf("cardio scale %s", ds.Pre.Scale)
	all, _ := filepath.Glob(filepath.Join(sharedData, "adbench", "*.npz"))
	for _, p := range all {
		ds, err := Load(p, LoadOptions{})
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if ds.Labels == nil || ds.Len() == 0 {
			t.Errorf("%s: %d rows, labels %v", p, ds.Len(), ds.Labels != nil)
		}
	}
	bw, err := Load(needData(t, "adbench/4_breastw.npz"), LoadOptions{Normal: "0"})
	if err != nil {
		t.Fatal(err)
	}
	if bw.Len() != 683-239 || bw.Dim() != 9 {
		t.Errorf("breastw normal: %d×%d; want 444×9", bw.Len(), bw.Dim())
	}
}

func TestRealECGAndSKAB(t *testing.T) {
	ds, err := Load(needData(t, "ecg5000/ECG5000_TRAIN.txt"), LoadOptions{Label: "0"})
	if err != nil {
		t.Fatal(err)
	}
	n1 := 0
	for _, l := range ds.Labels {
		if l == "1.0000000e+00" {
			n1++
		}
	}
	if ds.Len() != 500 || ds.Dim() != 140 || n1 != 292 {
		t.Errorf("ECG5000: %d×%d, %d of class 1; want 500×140, 292", ds.Len(), ds.Dim(), n1)
	}
	sk, err := Load(needData(t, "skab/anomaly-free/anomaly-free.csv"), LoadOptions{Drop: []string{"datetime"}})
	if err != nil {
		t.Fatal(err)
	}
	if sk.Len() != 9405 || sk.Dim() != 8 || !sk.Pre.Header || sk.Pre.Comma != ";" {
		t.Errorf("SKAB anomaly-free: %d×%d header %v comma %q", sk.Len(), sk.Dim(), sk.Pre.Header, sk.Pre.Comma)
	}
}
