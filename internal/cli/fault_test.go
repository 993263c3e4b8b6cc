package cli

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the fault tests run the command line in a process of its
// own (the test binary itself, with BOTTLENECK_TEST_CLI=1), so it can be
// killed with SIGKILL.
func TestMain(m *testing.M) {
	if os.Getenv("BOTTLENECK_TEST_CLI") == "1" {
		os.Exit(Main())
	}
	os.Exit(m.Run())
}

// cliProcess starts the command line in a child process.
func cliProcess(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "BOTTLENECK_TEST_CLI=1")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &errb
}

// TestKillDuringTraining kills training with SIGKILL at random moments,
// resumes each time, and requires the final model file to be byte for
// byte the one an uninterrupted run writes.
func TestKillDuringTraining(t *testing.T) {
	if testing.Short() {
		t.Skip("kills processes; skipped with -short")
	}
	dir := t.TempDir()
	data := writeTable(t, dir, 20000)
	args := func(out string) []string {
		return []string{"train", "--data", data, "--label", "class", "--epochs", "8", "--batch", "16", "--dropout", "0.1",
			"-o", out, "--reproducible", "--no-plot", "-q", "--threads", "1"}
	}
	ref := filepath.Join(dir, "ref.safetensors")
	// the reference runs in a process of its own too, for its timing
	start := time.Now()
	cmd, errb := cliProcess(t, args(ref)...)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %s", err, errb)
	}
	took := time.Since(start)
	out := filepath.Join(dir, "m.safetensors")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	kills := 0
	for round := 0; round < 6; round++ {
		a := args(out)
		if round > 0 {
			a = append(a, "--resume")
		}
		cmd, errb := cliProcess(t, a...)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("round %d: %v: %s", round, err, errb)
			}
			round = 99 // finished: nothing left to interrupt
		case <-time.After(time.Duration((0.1 + 0.4*rng.Float64()) * float64(took))):
			cmd.Process.Signal(syscall.SIGKILL)
			<-done
			kills++
		}
	}
	// Unfinished, or killed between writing the model and removing the
	// checkpoint: --resume finishes the job either way.
	_, errModel := os.Stat(out)
	_, errCkpt := os.Stat(out + ".ckpt")
	if errModel != nil || errCkpt == nil {
		mustRun(t, append(args(out), "--resume")...)
	}
	a, _ := os.ReadFile(ref)
	b, _ := os.ReadFile(out)
	if !bytes.Equal(a, b) {
		t.Fatalf("after %d kills and resumes the model differs from an uninterrupted run's", kills)
	}
	if _, err := os.Stat(out + ".ckpt"); err == nil {
		t.Error("the checkpoint was left behind after success")
	}
	t.Logf("%d kills, the same model", kills)
}

// TestKillDuringScore kills scoring half way: the output file must not
// appear, partly written or otherwise.
func TestKillDuringScore(t *testing.T) {
	if testing.Short() {
		t.Skip("kills processes; skipped with -short")
	}
	dir := t.TempDir()
	data := writeTable(t, dir, 200)
	model := filepath.Join(dir, "m.safetensors")
	mustRun(t, "train", "--data", data, "--label", "class", "--epochs", "1", "-o", model, "-q", "--no-plot")
	var big strings.Builder
	raw, _ := os.ReadFile(data)
	lines := strings.SplitAfter(string(raw), "\n")
	big.WriteString(lines[0])
	for big.Len() < 30<<20 {
		for _, l := range lines[1:] {
			big.WriteString(l)
		}
	}
	bigPath := filepath.Join(dir, "big.csv")
	os.WriteFile(bigPath, []byte(big.String()), 0o644)
	for _, delay := range []time.Duration{50 * time.Millisecond, 300 * time.Millisecond, 800 * time.Millisecond} {
		out := filepath.Join(dir, fmt.Sprintf("scores-%d.csv", delay.Milliseconds()))
		cmd, _ := cliProcess(t, "score", "-m", model, "--data", bigPath, "-o", out)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
			// finished before the kill: the file must be complete
			b, err := os.ReadFile(out)
			if err != nil || !bytes.HasSuffix(b, []byte("\n")) {
				t.Fatalf("finished, but the output is %d bytes: %v", len(b), err)
			}
		case <-time.After(delay):
			cmd.Process.Signal(syscall.SIGKILL)
			<-done
			if _, err := os.Stat(out); err == nil {
				t.Errorf("killed after %v: %s exists", delay, out)
			}
		}
	}
}
