package synth

import (
	"slices"
	"strings"
	"testing"
)

func TestTransactions(t *testing.T) {
	a := Transactions(2000, 0.02, 7)
	if !slices.EqualFunc(a, Transactions(2000, 0.02, 7), slices.Equal[[]string]) {
		t.Fatal("same seed, different rows")
	}
	if slices.EqualFunc(a, Transactions(2000, 0.02, 8), slices.Equal[[]string]) {
		t.Fatal("different seeds, same rows")
	}
	kinds := map[string]int{}
	for _, r := range a {
		if len(r) != len(TransactionColumns) {
			t.Fatalf("row has %d columns, want %d", len(r), len(TransactionColumns))
		}
		kinds[r[len(r)-1]]++
	}
	fraud := 0
	for k, c := range kinds {
		if strings.HasPrefix(k, "fraud_") {
			fraud += c
		}
	}
	if fraud < 20 || fraud > 70 || len(kinds) != 5 {
		t.Errorf("classes %v: want about 40 frauds of all four kinds", kinds)
	}
}
