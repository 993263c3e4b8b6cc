package onnx

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/bottleneck-ml/bottleneck/onnx/onnxpb"
	"github.com/bottleneck-ml/bottleneck/tensor"
)

// The tests run exported models in ONNX Runtime through Node
// (testdata/ort_run.js) with the npm package onnxruntime-node@1.30.0
// installed outside the repository:
//
//	npm install --ignore-scripts --prefix "${BOTTLENECK_ORT_DIR:-$HOME/.cache/bottleneck-ort}" onnxruntime-node@1.30.0
//
// and check them with onnx.checker from Debian's python3-onnx when
// /usr/bin/python3 has it. Either is skipped with a message when missing.

// ortDir is where onnxruntime-node is installed.
func ortDir() string {
	if d := os.Getenv("BOTTLENECK_ORT_DIR"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "bottleneck-ort")
}

// needORT skips the test when Node or onnxruntime-node is missing.
func needORT(t *testing.T) (node, modules string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("ONNX Runtime comparison skipped: no node on PATH (apt-get install nodejs)")
	}
	modules = filepath.Join(ortDir(), "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "onnxruntime-node", "package.json")); err != nil {
		t.Skipf("ONNX Runtime comparison skipped: onnxruntime-node is not installed in %s (npm install --ignore-scripts --prefix %s onnxruntime-node@1.30.0, or set BOTTLENECK_ORT_DIR)", ortDir(), ortDir())
	}
	return node, modules
}

// ortRun is one run of a model on named float32 inputs.
type ortRun struct {
	model  string
	inputs map[string]*tensor.Tensor
}

// ortTensor is an output of ONNX Runtime.
type ortTensor struct {
	Type string `json:"type"`
	Dims []int  `json:"dims"`
	F    []float64
	B    []bool
}

// runORT runs models in ONNX Runtime, all in one Node process.
func runORT(t *testing.T, runs []ortRun) []map[string]*ortTensor {
	t.Helper()
	node, modules := needORT(t)
	dir := t.TempDir()
	type input struct {
		File string `json:"file"`
		Dims []int  `json:"dims"`
	}
	type run struct {
		Model  string           `json:"model"`
		Out    string           `json:"out"`
		Inputs map[string]input `json:"inputs"`
	}
	var job struct {
		Runs []run `json:"runs"`
	}
	for i, r := range runs {
		jr := run{Model: r.model, Out: filepath.Join(dir, "out"+strconv.Itoa(i)), Inputs: map[string]input{}}
		for name, x := range r.inputs {
			b := make([]byte, 4*len(x.Data))
			for k, v := range x.Data {
				binary.LittleEndian.PutUint32(b[4*k:], math.Float32bits(v))
			}
			f := filepath.Join(dir, "in"+strconv.Itoa(i)+"_"+name+".bin")
			if err := os.WriteFile(f, b, 0o644); err != nil {
				t.Fatal(err)
			}
			jr.Inputs[name] = input{File: f, Dims: x.Shape}
		}
		job.Runs = append(job.Runs, jr)
	}
	jb, _ := json.Marshal(job)
	jf := filepath.Join(dir, "job.json")
	if err := os.WriteFile(jf, jb, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, filepath.Join("testdata", "ort_run.js"), jf)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ort_run.js: %v\n%s", err, out)
	}
	t.Logf("%s", strings.TrimSpace(string(out)))
	res := make([]map[string]*ortTensor, len(runs))
	for i, r := range job.Runs {
		raw, err := os.ReadFile(filepath.Join(r.Out, "outputs.json"))
		if err != nil {
			t.Fatal(err)
		}
		var desc map[string]json.RawMessage
		if err := json.Unmarshal(raw, &desc); err != nil {
			t.Fatal(err)
		}
		if e, ok := desc["error"]; ok {
			t.Fatalf("ONNX Runtime failed on %s: %s", runs[i].model, e)
		}
		res[i] = map[string]*ortTensor{}
		for name, d := range desc {
			var ot ortTensor
			if err := json.Unmarshal(d, &ot); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(r.Out, name+".bin"))
			if err != nil {
				t.Fatal(err)
			}
			switch ot.Type {
			case "float32":
				for k := 0; k+4 <= len(b); k += 4 {
					ot.F = append(ot.F, float64(math.Float32frombits(binary.LittleEndian.Uint32(b[k:]))))
				}
			case "float64":
				for k := 0; k+8 <= len(b); k += 8 {
					ot.F = append(ot.F, math.Float64frombits(binary.LittleEndian.Uint64(b[k:])))
				}
			case "bool":
				for _, v := range b {
					ot.B = append(ot.B, v != 0)
				}
			default:
				t.Fatalf("output %s has type %s", name, ot.Type)
			}
			res[i][name] = &ot
		}
	}
	return res
}

var (
	checkerOnce sync.Once
	checkerOK   bool
)

// checkONNX runs onnx.checker.check_model(full_check=True) on files when
// Debian's python3-onnx is installed (opset 17 and below: ONNX 1.12).
func checkONNX(t *testing.T, files ...string) {
	t.Helper()
	const py = "/usr/bin/python3"
	checkerOnce.Do(func() {
		checkerOK = exec.Command(py, "-c", "import onnx").Run() == nil
	})
	if !checkerOK {
		t.Log("onnx.checker skipped: /usr/bin/python3 has no onnx module (apt-get install python3-onnx)")
		return
	}
	script := `import sys, onnx
for f in sys.argv[1:]:
    onnx.checker.check_model(onnx.load(f), full_check=True)
print("onnx %s: checked %d models" % (onnx.__version__, len(sys.argv) - 1))`
	out, err := exec.Command(py, append([]string{"-c", script}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("onnx.checker: %v\n%s", err, out)
	}
	t.Logf("%s", strings.TrimSpace(string(out)))
}

// saveONNX writes m into dir as name.onnx.
func saveONNX(t *testing.T, dir, name string, m *onnxpb.ModelProto) string {
	t.Helper()
	p := filepath.Join(dir, name+".onnx")
	if err := Save(p, m); err != nil {
		t.Fatal(err)
	}
	return p
}

// maxDiff is the largest |a−b| over float32 values and float64 ones.
func maxDiff(t *testing.T, what string, got []float64, want []float32) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values from ONNX Runtime, %d from bottleneck", what, len(got), len(want))
	}
	var m float64
	for i, v := range want {
		d := math.Abs(got[i] - float64(v))
		if d > m || math.IsNaN(d) {
			m = d
		}
	}
	return m
}
