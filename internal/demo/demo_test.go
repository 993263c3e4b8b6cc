package demo

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"testing"
)

// The demo's fraud part finds the synthetic frauds without labels.
func TestDemoFraud(t *testing.T) {
	var out bytes.Buffer
	if err := demoFraud(context.Background(), Options{Dir: t.TempDir(), Seed: 1}, &out); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`ROC-AUC ([0-9.]+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no ROC-AUC in:\n%s", out.String())
	}
	if auc, _ := strconv.ParseFloat(m[1], 64); auc < 0.95 {
		t.Errorf("fraud ROC-AUC %v; want ≥ 0.95:\n%s", auc, out.String())
	}
	if !regexp.MustCompile(`fraud_\w+ +\w+ \d+%`).MatchString(out.String()) {
		t.Errorf("no top features of anomalous rows:\n%s", out.String())
	}
}
