package bench

import (
	"bufio"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/bottleneck-ml/bottleneck/internal/parallel"
)

// Env describes the machine and build a Result was measured with (the
// counterpart of ae_bench.py's env: torch version and BLAS there, Go
// version and GEMM build here).
type Env struct {
	Go         string  `json:"go"`
	GOARCH     string  `json:"goarch"`
	GOAMD64    string  `json:"goamd64,omitempty"`
	Tags       string  `json:"tags,omitempty"`
	GEMM       string  `json:"gemm"` // "asm" or "generic": how internal/f32 was built
	GOMAXPROCS int     `json:"gomaxprocs"`
	Threads    int     `json:"threads"`
	CPUs       int     `json:"cpus"`
	CPU        string  `json:"cpu"`
	CPUMHz     float64 `json:"cpu_mhz,omitempty"`
}

func environment() Env {
	e := Env{
		Go: runtime.Version(), GOARCH: runtime.GOARCH, GEMM: "generic",
		GOMAXPROCS: runtime.GOMAXPROCS(0), Threads: parallel.Threads(), CPUs: runtime.NumCPU(),
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "GOAMD64":
				e.GOAMD64 = s.Value
			case "-tags":
				e.Tags = s.Value
			}
		}
	}
	noasm := false
	for _, t := range strings.Split(e.Tags, ",") {
		noasm = noasm || t == "noasm"
	}
	if runtime.GOARCH == "amd64" && !noasm {
		e.GEMM = "asm"
	}
	e.CPU, e.CPUMHz = cpuInfo()
	return e
}

// cpuInfo returns the first processor's model as ae_bench.py prints it,
// "name (family F model M)", and its clock from /proc/cpuinfo.
func cpuInfo() (string, float64) {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH, 0
	}
	defer f.Close()
	fields := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			if len(fields) > 0 {
				break
			}
			continue
		}
		k = strings.TrimSpace(k)
		if _, dup := fields[k]; !dup {
			fields[k] = strings.TrimSpace(v)
		}
	}
	get := func(k string) string {
		if v, ok := fields[k]; ok {
			return v
		}
		return "?"
	}
	mhz, _ := strconv.ParseFloat(fields["cpu MHz"], 64)
	return get("model name") + " (family " + get("cpu family") + " model " + get("model") + ")", mhz
}
