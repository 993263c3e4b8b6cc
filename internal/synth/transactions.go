// Package synth makes seeded synthetic data sets for demos and tests.
//
// Transactions is a card-transaction-like table: a population of
// cardholders with their own home region, typical spend and active hours
// make normal purchases, and a fraction of rows are replaced by one of
// four fraud patterns seen in card-fraud write-ups:
//
//   - card testing: a burst of tiny online amounts (many transactions in
//     the last hour, amount under 2),
//   - account takeover: a large purchase in an unusual category
//     (electronics or jewellery) far from home, at night,
//   - skimmed card abroad: a foreign, card-present cash withdrawal far
//     from home,
//   - high-value online: an online purchase several times the
//     cardholder's usual spend from a new device.
//
// Each pattern changes only some of the columns, so a detector has to
// notice unusual combinations, not one extreme value. The same seed gives
// the same rows on every platform (math/rand/v2's PCG).
package synth

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
)

// TransactionColumns are the columns of Transactions, label last.
var TransactionColumns = []string{
	"amount", "hour", "category", "channel", "distance_km", "foreign",
	"txn_last_hour", "txn_last_24h", "amount_vs_usual", "new_device", "class",
}

// Fraud patterns (the class column of fraudulent rows).
const (
	Normal          = "normal"
	CardTesting     = "fraud_card_testing"
	AccountTakeover = "fraud_takeover"
	SkimmedAbroad   = "fraud_skimmed_abroad"
	HighValueOnline = "fraud_high_value_online"
)

var categories = []string{"grocery", "fuel", "restaurant", "retail", "travel", "electronics", "jewellery", "cash"}

// typical share of each category in normal spending, and its median amount
var catWeight = []float64{0.30, 0.15, 0.20, 0.20, 0.04, 0.05, 0.01, 0.05}
var catAmount = []float64{45, 55, 35, 60, 300, 250, 400, 100}

type holder struct {
	spend  float64 // multiplier of the category medians
	hour   float64 // centre of the active hours
	online float64 // probability of an online purchase
	rate   float64 // transactions per day
}

// Transactions returns n rows (strings, in TransactionColumns order) of
// which about fraudFrac are fraudulent, from seed.
func Transactions(n int, fraudFrac float64, seed uint64) [][]string {
	rng := rand.New(rand.NewPCG(seed, 0x7e1e5ca1e))
	holders := make([]holder, 200)
	for i := range holders {
		holders[i] = holder{
			spend:  math.Exp(0.4 * rng.NormFloat64()),
			hour:   11 + 7*rng.Float64(),
			online: 0.1 + 0.4*rng.Float64(),
			rate:   1 + 4*rng.Float64(),
		}
	}
	rows := make([][]string, n)
	for i := range rows {
		h := holders[rng.IntN(len(holders))]
		var r txn
		if rng.Float64() < fraudFrac {
			r = fraud(rng, h)
		} else {
			r = normal(rng, h)
		}
		rows[i] = r.strings()
	}
	return rows
}

type txn struct {
	amount, hour, distance, vsUsual   float64
	category, channel, class          string
	foreign, newDevice, lastH, last24 int
}

func (t txn) strings() []string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
	return []string{f(t.amount), fmt.Sprint(int(t.hour) % 24), t.category, t.channel, f(t.distance),
		fmt.Sprint(t.foreign), fmt.Sprint(t.lastH), fmt.Sprint(t.last24), f(t.vsUsual), fmt.Sprint(t.newDevice), t.class}
}

func pick(rng *rand.Rand, w []float64) int {
	u := rng.Float64()
	for i, v := range w {
		if u < v {
			return i
		}
		u -= v
	}
	return len(w) - 1
}

func normal(rng *rand.Rand, h holder) txn {
	c := pick(rng, catWeight)
	usual := catAmount[c] * h.spend
	amt := usual * math.Exp(0.5*rng.NormFloat64())
	t := txn{
		amount: amt, hour: math.Mod(h.hour+3*rng.NormFloat64()+24, 24), category: categories[c],
		channel: "in_store", distance: math.Exp(1 + 0.8*rng.NormFloat64()), class: Normal,
		vsUsual: amt / usual,
	}
	if categories[c] == "travel" {
		t.distance *= 20
		if rng.Float64() < 0.3 {
			t.foreign = 1
		}
	}
	if rng.Float64() < h.online && categories[c] != "fuel" && categories[c] != "cash" {
		t.channel = "online"
	}
	if rng.Float64() < 0.02 {
		t.newDevice = 1
	}
	t.last24 = poisson(rng, h.rate)
	t.lastH = min(t.last24, poisson(rng, h.rate/16))
	return t
}

func fraud(rng *rand.Rand, h holder) txn {
	t := normal(rng, h)
	switch rng.IntN(4) {
	case 0: // card testing
		t.class, t.channel, t.category = CardTesting, "online", "retail"
		t.amount = 0.5 + 1.5*rng.Float64()
		t.lastH = 5 + rng.IntN(15)
		t.last24 = t.lastH + poisson(rng, h.rate)
		t.vsUsual = t.amount / (catAmount[3] * h.spend)
	case 1: // account takeover
		t.class = AccountTakeover
		c := 5 + rng.IntN(2)
		t.category = categories[c]
		t.amount = catAmount[c] * h.spend * (3 + 5*rng.Float64())
		t.vsUsual = t.amount / (catAmount[c] * h.spend)
		t.hour = float64(1 + rng.IntN(4))
		t.distance = 50 + 500*rng.Float64()
	case 2: // skimmed card used abroad
		t.class, t.category, t.channel, t.foreign = SkimmedAbroad, "cash", "in_store", 1
		t.amount = 200 + 300*rng.Float64()
		t.vsUsual = t.amount / (catAmount[7] * h.spend)
		t.distance = 1000 + 4000*rng.Float64()
	default: // high-value online from a new device
		t.class, t.channel, t.newDevice = HighValueOnline, "online", 1
		t.vsUsual = 4 + 6*rng.Float64()
		t.amount *= t.vsUsual
	}
	return t
}

func poisson(rng *rand.Rand, lambda float64) int {
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// WriteCSV writes Transactions(n, fraudFrac, seed) as CSV with the header
// TransactionColumns.
func WriteCSV(w io.Writer, n int, fraudFrac float64, seed uint64) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(TransactionColumns); err != nil {
		return err
	}
	if err := cw.WriteAll(Transactions(n, fraudFrac, seed)); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}
