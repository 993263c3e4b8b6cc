package bench

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clkTck is USER_HZ, the unit of /proc/stat (100 on every Linux ABI Go
// supports).
const clkTck = 100

// meter is ae_bench.py's CpuMeter: system-wide busy time from /proc/stat,
// this process's CPU time from getrusage, over a wall-clock interval.
type meter struct {
	busy, steal int64
	own         time.Duration
	wall        time.Time
}

func startMeter() meter {
	var m meter
	m.busy, m.steal = procStat()
	m.own = processTime()
	m.wall = time.Now()
	return m
}

func (m meter) stop() CPU {
	busy, steal := procStat()
	own := processTime() - m.own
	wall := time.Since(m.wall).Seconds()
	if wall <= 0 {
		return CPU{}
	}
	sys := float64(busy-m.busy) / clkTck
	return CPU{
		OwnCPU:     round(own.Seconds()/wall, 3),
		Contention: round(max(0, sys-own.Seconds())/wall, 3),
		Steal:      round(float64(steal-m.steal)/clkTck/wall, 3),
	}
}

// procStat returns the busy (user nice system irq softirq) and steal
// ticks of all CPUs.
func procStat() (busy, steal int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 {
		return 0, 0
	}
	v := make([]int64, len(f))
	for i := 1; i < len(f); i++ {
		v[i-1], _ = strconv.ParseInt(f[i], 10, 64)
	}
	busy = v[0] + v[1] + v[2] + v[5] + v[6]
	if len(f) > 8 {
		steal = v[7]
	}
	return busy, steal
}

func processTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
