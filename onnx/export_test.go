package onnx

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/bottleneck-ml/bottleneck/anomaly"
	"github.com/bottleneck-ml/bottleneck/onnx/onnxpb"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// TestExportORT exports every shipped model, a trained NSL-KDD detector and
// synthetic models covering every layer and score, checks them with
// onnx.checker, runs them in ONNX Runtime and compares every output with
// bottleneck's: reconstruction and code within 1e-5 (dense) or 1e-4
// (convolutional), scores within 1e-5 relative, the same anomaly flags.
func TestExportORT(t *testing.T) {
	cases := append(shippedCases(t), syntheticCases(t)...)
	if testing.Short() {
		t.Log("-short: without the NSL-KDD detector")
	} else if kdd := kddOrNil(t); kdd != nil {
		cases = append(cases, kdd)
	}
	compareORT(t, cases, DefaultOpset, true)
}

// TestExportOpsets runs a table, a convolutional and a VAE model exported
// at the ends of the opset range in ONNX Runtime.
func TestExportOpsets(t *testing.T) {
	var cases []*exportCase
	for _, c := range syntheticCases(t) {
		switch c.name {
		case "table-mahal", "conv-all-layers", "conv-vae", "conv-residual", "colorize-classes":
			cases = append(cases, c)
		}
	}
	for _, op := range []int{MinOpset, MaxOpset} {
		t.Run("opset"+strconv.Itoa(op), func(t *testing.T) { compareORT(t, cases, op, op <= 17) })
	}
}

func kddOrNil(t *testing.T) (c *exportCase) {
	ok := t.Run("nsl-kdd-data", func(t *testing.T) { c = kddCase(t) })
	if !ok {
		t.FailNow()
	}
	return c
}

func compareORT(t *testing.T, cases []*exportCase, opset int, check bool) {
	dir := t.TempDir()
	var runs []ortRun
	var files []string
	type ref struct {
		c   *exportCase
		i   int
		dec bool
		z   *tensor.Tensor
	}
	var refs []ref
	for _, c := range cases {
		mp, err := Export(c.d, ExportOptions{Opset: opset, Version: "test"})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		f := saveONNX(t, dir, c.name, mp)
		files = append(files, f)
		for i, x := range c.x {
			runs = append(runs, ortRun{model: f, inputs: map[string]*tensor.Tensor{InputName: x}})
			refs = append(refs, ref{c: c, i: i})
		}
		if m := c.d.Model(); m.Config.Input != nil && !m.Config.Residual {
			dp, err := ExportDecoder(c.d, ExportOptions{Opset: opset})
			if err != nil {
				t.Fatalf("%s decoder: %v", c.name, err)
			}
			df := saveONNX(t, dir, c.name+".decoder", dp)
			files = append(files, df)
			cs, _ := m.CodeShape(nil)
			z := tensor.New(append([]int{3}, cs...)...)
			rng := rand.New(rand.NewPCG(11, 1))
			for k := range z.Data {
				z.Data[k] = float32(rng.NormFloat64())
			}
			runs = append(runs, ortRun{model: df, inputs: map[string]*tensor.Tensor{DecoderInName: z}})
			refs = append(refs, ref{c: c, dec: true, z: z})
		}
	}
	if check {
		checkONNX(t, files...)
	}
	res := runORT(t, runs)
	for k, r := range refs {
		out := res[k]
		m := r.c.d.Model().Clone()
		tol := r.c.tol()
		name := r.c.name
		if r.dec {
			want, err := m.Decode(nil, r.z)
			if err != nil {
				t.Fatal(err)
			}
			d := maxDiff(t, name+" decoder", out[ReconName].F, want.Data)
			t.Logf("%-22s decoder          max |Δ| %.2g", name, d)
			if d > tol {
				t.Errorf("%s: decoder output differs from bottleneck's by %g > %g", name, d, tol)
			}
			continue
		}
		x := r.c.model[r.i]
		rec, err := m.Reconstruct(nil, x)
		if err != nil {
			t.Fatal(err)
		}
		code, err := m.Encode(nil, x)
		if err != nil {
			t.Fatal(err)
		}
		dr := maxDiff(t, name+" reconstruction", out[ReconName].F, rec.Data)
		dc := maxDiff(t, name+" code", out[CodeName].F, code.Data)
		line := "reconstruction max |Δ| " + strconv.FormatFloat(dr, 'g', 2, 64) + ", code " + strconv.FormatFloat(dc, 'g', 2, 64)
		if dr > tol || dc > tol {
			t.Errorf("%s (input %v): ONNX Runtime differs from bottleneck: reconstruction %g, code %g > %g", name, x.Shape, dr, dc, tol)
		}
		if !sameDims(out[ReconName].Dims, rec.Shape) {
			t.Errorf("%s: reconstruction has dims %v, bottleneck's %v", name, out[ReconName].Dims, rec.Shape)
		}
		if sc, ok := out[ScoreName]; ok {
			results, err := r.c.d.Score(x)
			if err != nil {
				t.Fatal(err)
			}
			var rel float64
			flips := 0
			th := r.c.d.Threshold().Value
			for i, res := range results {
				rel = max(rel, math.Abs(sc.F[i]-res.Score)/max(math.Abs(res.Score), 1))
				if out[AnomalyName].B[i] != res.Anomaly {
					// a flag may only differ for a score at the threshold
					if math.Abs(res.Score-th) > 1e-5*max(1, math.Abs(th)) {
						t.Errorf("%s row %d: anomaly %v in ONNX Runtime, %v in bottleneck (score %g, threshold %g)", name, i, out[AnomalyName].B[i], res.Anomaly, res.Score, th)
					}
					flips++
				}
			}
			line += ", score max |Δ|/max(|s|,1) " + strconv.FormatFloat(rel, 'g', 2, 64) + " (" + r.c.d.Scoring().Metric + "), anomaly flags " + strconv.Itoa(len(results)-flips) + "/" + strconv.Itoa(len(results)) + " equal"
			if rel > 1e-5 {
				t.Errorf("%s: scores differ by %g relative > 1e-5", name, rel)
			}
		} else if r.c.d.Threshold() != nil && r.c.d.Window() == 1 && r.c.d.Model().Config.Input != nil {
			t.Errorf("%s: no score output for a model with a threshold", name)
		}
		t.Logf("%-22s %-16s %s", name, fmt.Sprint(x.Shape), line)
	}
}

func sameDims(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestExportNames checks the declared inputs and outputs and the metadata.
func TestExportNames(t *testing.T) {
	d := trainDetector(t, loadTable(t, tableCSV(200, 1)), tableOptions())
	mp, err := Export(d, ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	g := mp.GetGraph()
	var outs []string
	for _, o := range g.GetOutput() {
		outs = append(outs, o.GetName())
	}
	want := []string{ReconName, CodeName, AnomalyName, ScoreName}
	if len(outs) != 4 || g.GetInput()[0].GetName() != InputName {
		t.Errorf("outputs %v, input %q; want %v and %q", outs, g.GetInput()[0].GetName(), want, InputName)
	}
	props := map[string]string{}
	for _, p := range mp.GetMetadataProps() {
		props[p.GetKey()] = p.GetValue()
	}
	for _, k := range []string{MetaVersion, MetaHash, MetaThreshold, MetaThresholdMethod, MetaScore, MetaColumns, MetaEncoding, MetaConfig, MetaPreprocess, MetaSections} {
		if props[k] == "" {
			t.Errorf("metadata %q is missing", k)
		}
	}
	if props[MetaHash] != d.Version() || props[MetaThresholdMethod] != "far:0.01" || props[MetaColumns] != `["amount","hour","country"]` {
		t.Errorf("metadata hash %q method %q columns %q; want %q, far:0.01, [amount hour country]", props[MetaHash], props[MetaThresholdMethod], props[MetaColumns], d.Version())
	}
	if mp.GetOpsetImport()[0].GetVersion() != DefaultOpset || mp.GetIrVersion() != 8 {
		t.Errorf("opset %d IR %d; want %d and 8", mp.GetOpsetImport()[0].GetVersion(), mp.GetIrVersion(), DefaultOpset)
	}
	if _, err := Export(d, ExportOptions{Opset: 12}); err == nil {
		t.Error("opset 12 was accepted")
	}
	b, err := Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Unmarshal(b)
	if err != nil || len(back.GetGraph().GetNode()) != len(g.GetNode()) {
		t.Fatalf("Unmarshal: %v", err)
	}
	if _, err := Unmarshal([]byte("not a model")); err == nil {
		t.Error("Unmarshal took garbage")
	}
	p := filepath.Join(t.TempDir(), "m.onnx")
	if err := Save(p, mp); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err != nil {
		t.Fatal(err)
	}
	_ = onnxpb.TensorProto_FLOAT
}

func tableOptions() anomaly.TrainOptions {
	o := anomaly.TrainOptions{Hidden: []int{6}, Code: 3, Seed: 1}
	o.Fit.Epochs = 2
	return o
}
