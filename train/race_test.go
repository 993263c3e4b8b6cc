//go:build race

package train

// raceEnabled: the race detector makes closures and sync.Pool allocate, so
// allocation counts are skipped under -race.
const raceEnabled = true
