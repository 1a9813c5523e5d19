package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/catena-bridge/catena-bridge/scripts/benchenv"
)

// run is one child process the benchmark measured.
type run struct {
	wall    time.Duration
	cpu     time.Duration // user + system of the child alone (its rusage)
	user    time.Duration
	sys     time.Duration
	peakRSS int64 // highest VmHWM sampled, bytes
	// mallocs is the last go_memstats_mallocs_total scraped (admin != ""),
	// and scraped the events published by then, from the same scrape.
	mallocs, scraped uint64
	stdout           string
}

// runChild runs bin args with env added to a clean environment and waits for
// it. The CPU figure is the child's own rusage (wait4), so neither the
// simulator (another process) nor kfake (this process) is counted.
func runChild(bin string, args, env []string, admin, logPath string) (*run, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Env = append(benchenv.Clean("GOMAXPROCS"), env...)
	cmd.Stdout, cmd.Stderr = &out, f
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var hwm atomic.Int64
	var last atomic.Pointer[[2]uint64] // mallocs, events published
	done := make(chan struct{})
	if admin != "" {
		go func() {
			// Seldom: a scrape costs the bridge about 1.4 ms of CPU
			// (100 scrapes of an idle bridge: 0.14 s), counted as its
			// own. At every 50 ms that was about 0.45 µs a record of a
			// 300,000-record run of 5 s. Allocations are read as a
			// ratio, so the work after the last scrape does not skew
			// them.
			t := time.NewTicker(500 * time.Millisecond)
			defer t.Stop()
			for {
				if m, p, ok := scrapeMallocs(admin); ok {
					last.Store(&[2]uint64{m, p})
				}
				select {
				case <-done:
					return
				case <-t.C:
				}
			}
		}()
	}
	go func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if v := vmHWM(cmd.Process.Pid); v > hwm.Load() {
				hwm.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	err = cmd.Wait()
	wall := time.Since(start)
	close(done)
	fmt.Fprintf(f, "\n--- stdout ---\n%s", out.String())
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w (log %s)", bin, strings.Join(args, " "), err, logPath)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	r := &run{
		wall:    wall,
		user:    time.Duration(ru.Utime.Nano()),
		sys:     time.Duration(ru.Stime.Nano()),
		peakRSS: hwm.Load(),
		stdout:  out.String(),
	}
	if l := last.Load(); l != nil {
		r.mallocs, r.scraped = l[0], l[1]
	}
	r.cpu = r.user + r.sys
	return r, nil
}

// vmHWM is the peak RSS of pid's own address space. (Not ru_maxrss: Go
// starts children with CLONE_VFORK, and Linux folds the parent's hiwater
// RSS into the child's ru_maxrss; see scripts/restartbench.)
func vmHWM(pid int) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

var scrapeClient = &http.Client{Timeout: time.Second}

// scrapeMallocs reads go_memstats_mallocs_total and
// catena_bridge_events_published_total from a bridge's /metrics.
func scrapeMallocs(admin string) (mallocs, published uint64, ok bool) {
	resp, err := scrapeClient.Get("http://" + admin + "/metrics")
	if err != nil {
		return 0, 0, false
	}
	defer resp.Body.Close()
	var seen int
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() && seen < 2 {
		for name, dst := range map[string]*uint64{"go_memstats_mallocs_total ": &mallocs, "catena_bridge_events_published_total ": &published} {
			if rest, ok := strings.CutPrefix(sc.Text(), name); ok {
				f, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
				if err != nil {
					return 0, 0, false
				}
				*dst = uint64(f)
				seen++
			}
		}
	}
	return mallocs, published, seen == 2
}
