package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// row is the text table's layout: fixed widths, so that each row can be
// printed as its model finishes.
const row = "%-13s %5v %7v %15v %8v %7v %15v %8v %7v %10v\n"

// WriteHeader writes the heading of the table WriteRow fills.
func WriteHeader(w io.Writer) error {
	_, err := fmt.Fprintf(w, row, "model", "batch", "threads", "train samples/s", "ms/step", "GFLOP/s",
		"infer samples/s", "ms/batch", "GFLOP/s", "contention")
	return err
}

// WriteRow writes the result as one row of the table: throughput, median
// step time and GFLOP/s of each phase, and the other processes' CPU load
// during them ("-" for a phase that did not run).
func (r *Result) WriteRow(w io.Writer) error {
	_, err := fmt.Fprintf(w, row, r.Model, r.Batch, r.Threads,
		num(r.TrainSamplesPerS, 1), num(r.TrainStepMsMedian, 3), num(r.TrainGFLOPsApprox, 2),
		num(r.InferSamplesPerS, 1), num(r.InferBatchMsMed, 3), num(r.InferGFLOPs, 2),
		contention(r.TrainCPU, r.InferCPU))
	return err
}

// num formats a measured value, "-" when the phase did not run.
func num(v float64, prec int) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.*f", prec, v)
}

// contention is the other processes' CPU load during the timed loops
// (train/infer), in CPUs.
func contention(train, infer *CPU) string {
	var parts []string
	for _, c := range []*CPU{train, infer} {
		if c != nil {
			parts = append(parts, fmt.Sprintf("%.2f", c.Contention))
		}
	}
	return strings.Join(parts, "/")
}

// WriteDescription writes Describe's rows as a table: input, default
// batch, learning rate, parameters, forward FLOPs per sample and training
// FLOPs per step (3× the forward, as MODELS.md counts them).
func WriteDescription(w io.Writer, rows []DescribeRow) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "model\tinput\tdefault batch\tAdam lr\tparams\tFLOPs/sample fwd\ttrain FLOPs/step\t")
	for _, r := range rows {
		in := strings.Trim(strings.ReplaceAll(fmt.Sprint(r.Input), " ", "x"), "[]")
		trainG := 3 * float64(r.FwdFLOPsPerSample) * float64(r.DefaultBatch) / 1e9
		fmt.Fprintf(tw, "%s\t%s\t%d\t%g\t%s\t%s\t%.3f G\t\n", r.Model, in, r.DefaultBatch, r.LR,
			thousands(r.Params), thousands(r.FwdFLOPsPerSample), trainG)
	}
	return tw.Flush()
}

// thousands formats n with comma separators, as Python's {:,}.
func thousands(n int) string {
	if n < 0 {
		return "-" + thousands(-n)
	}
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
