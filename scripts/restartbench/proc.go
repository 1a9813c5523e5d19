package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
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

// proc is a catena-bridge process the benchmark started.
type proc struct {
	name    string
	cmd     *exec.Cmd
	start   time.Time // just before fork/exec
	admin   string    // host:port of its /metrics
	logPath string
	done    chan struct{} // closed when it has exited
	waitErr error
	hwm     atomic.Int64 // highest VmHWM sampled, bytes
	maxHeap atomic.Int64 // highest go_memstats_heap_inuse_bytes scraped
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startProc starts bin args with env (added to this process's environment),
// its stdout and stderr in logPath.
func startProc(name, bin string, args, env []string, admin, logPath string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(benchenv.Clean(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	// Its own process group: a Ctrl-C of the benchmark does not reach it
	// before the benchmark decides how to stop it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &proc{name: name, cmd: cmd, admin: admin, logPath: logPath, done: make(chan struct{})}
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go p.sampleHWM()
	go func() {
		p.waitErr = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// sampleHWM samples VmHWM every 20ms while the process runs.
//
// Not ru_maxrss: Go starts children with clone(CLONE_VM|CLONE_VFORK), and
// Linux folds the hiwater RSS of the mm an exec replaces (here the
// benchmark's own, large after the prefill) into the child's ru_maxrss, so
// that reports the benchmark's peak, not the bridge's. VmHWM is the peak of
// the bridge's own address space, and it only grows.
func (p *proc) sampleHWM() {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		p.sample()
		select {
		case <-p.done:
			return
		case <-t.C:
		}
	}
}

func (p *proc) sample() int64 {
	hwm, _ := p.procStatus()
	for {
		old := p.hwm.Load()
		if hwm <= old || p.hwm.CompareAndSwap(old, hwm) {
			return max(hwm, old)
		}
	}
}

// peakRSS is the highest VmHWM seen: the peak RSS, to within the last 20ms
// of a process that exited by itself.
func (p *proc) peakRSS() int64 { return p.hwm.Load() }

// signal sends sig and waits up to timeout for the exit (then SIGKILL).
func (p *proc) stop(sig syscall.Signal, timeout time.Duration) {
	if p.exited() {
		return
	}
	p.sample()
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// procStatus reads VmHWM and VmRSS (bytes) of the running process.
func (p *proc) procStatus() (hwm, rss int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(fields[0], 10, 64)
		switch k {
		case "VmHWM":
			hwm = n * 1024
		case "VmRSS":
			rss = n * 1024
		}
	}
	return hwm, rss
}

var httpc = &http.Client{Timeout: 2 * time.Second}

// metrics scrapes /metrics and returns every sample summed by metric name
// (labels dropped), and each labelled sample under its full name
// (name{label="value"}). It keeps the highest heap in use it saw.
func (p *proc) metrics() (map[string]float64, error) {
	resp, err := httpc.Get("http://" + p.admin + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	m, err := parseMetrics(resp.Body)
	if err == nil {
		for h := int64(m[mHeap]); ; {
			old := p.maxHeap.Load()
			if h <= old || p.maxHeap.CompareAndSwap(old, h) {
				break
			}
		}
	}
	return m, err
}

func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		full, name := line[:i], line[:i]
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		if j := strings.IndexByte(name, '{'); j >= 0 {
			name = name[:j]
			out[full] = v
		}
		out[name] += v
	}
	return out, sc.Err()
}

const (
	mTxns      = "catena_bridge_transactions_committed_total"
	mRestored  = "catena_bridge_restore_records_read_total"
	mPublished = "catena_bridge_events_published_total"
	mSweeps    = "catena_bridge_sweeps_total"
	mHeap      = "go_memstats_heap_inuse_bytes"
	mDedupIDs  = "catena_bridge_dedup_ids"
	mDone      = `catena_bridge_backfill_vehicles{state="done"}`
)

var errExited = errors.New("process exited")

// waitMetric polls /metrics every interval until cond holds, and returns the
// time since the process started at the first scrape where it held, with
// that scrape. /metrics refusing connections (not up yet) is not an error.
func (p *proc) waitMetric(ctx context.Context, interval, timeout time.Duration, cond func(map[string]float64) bool) (time.Duration, map[string]float64, error) {
	deadline := time.After(timeout)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		m, err := p.metrics()
		if err == nil && cond(m) {
			return time.Since(p.start), m, nil
		}
		select {
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		case <-p.done:
			// One last look is impossible (the admin server is gone).
			return 0, m, fmt.Errorf("%s: %w (%v); log %s", p.name, errExited, p.waitErr, p.logPath)
		case <-deadline:
			return 0, m, fmt.Errorf("%s: condition not met after %v; log %s", p.name, timeout, p.logPath)
		case <-t.C:
		}
	}
}

// logLine is one line of the bridge's JSON log.
type logLine struct {
	At    time.Time
	Level string
	Msg   string
	Attrs map[string]any
}

func readLog(path string) []logLine {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []logLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		l := logLine{Attrs: m}
		if s, ok := m["time"].(string); ok {
			l.At, _ = time.Parse(time.RFC3339Nano, s)
		}
		l.Level, _ = m["level"].(string)
		l.Msg, _ = m["msg"].(string)
		delete(m, "time")
		delete(m, "level")
		delete(m, "msg")
		out = append(out, l)
	}
	return out
}
