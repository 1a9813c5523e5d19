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
	peakRSS int64  // highest VmHWM sampled, bytes
	mallocs uint64 // the last go_memstats_mallocs_total scraped (admin != "")
	stdout  string
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
	var mallocs atomic.Uint64
	done := make(chan struct{})
	if admin != "" {
		go func() {
			t := time.NewTicker(50 * time.Millisecond)
			defer t.Stop()
			for {
				if v, ok := scrapeMallocs(admin); ok {
					mallocs.Store(v)
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
		mallocs: mallocs.Load(),
		stdout:  out.String(),
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

// scrapeMallocs reads go_memstats_mallocs_total from a bridge's /metrics.
func scrapeMallocs(admin string) (uint64, bool) {
	resp, err := scrapeClient.Get("http://" + admin + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "go_memstats_mallocs_total "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return uint64(f), err == nil
		}
	}
	return 0, false
}
