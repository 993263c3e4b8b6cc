//go:build race

package nn_test

// raceEnabled: the race detector makes closures allocate, so allocation
// counts are skipped under -race.
const raceEnabled = true
