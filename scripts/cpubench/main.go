// Command cpubench measures the CPU the bridge spends per record, honestly:
// the CPU of the bridge process alone (its rusage when it exits), on a
// backfill of -records simulated records served by the simulator in another
// process, into kfake (served by this process) and, with -brokers, into a
// real Kafka broker, side by side with a baseline bridge (encoding/json,
// h3-go, hamba/avro's Marshal, franz-go's defaults) doing the same work.
//
// Steps (make bench-cpu runs them):
//
//  1. serve the simulator (catena-bridge sim: -fleets × -vehicles vehicles,
//     one point a minute, no faults) and pick the range that holds -records
//     points: [to - records/vehicles minutes, to);
//
//  2. stages: a child process reads every page of that range whole (the
//     HTTP read, its own stage), then runs the bridge's pre-Kafka stages
//     over it (the catena client, which splits each page as
//     record.DecodeItem decodes its records, Validate + geo.Enrich, the
//     Avro encoder) and reads its own CPU and allocations between stages;
//
//  3. for each broker (kfake, then -brokers): `catena-bridge backfill` over
//     the range into a fresh topic, then the baseline (cpubench baseline);
//     each a child process whose CPU, wall time and peak RSS (VmHWM) are
//     read; the records are what each says it published;
//
//  4. print one table.
//
//     go run ./scripts/cpubench -bin bin/catena-bridge [-brokers 127.0.0.1:29092]
//
// -cpuprofile FILE writes a CPU profile of the stages child (step 2), to
// see where the pre-Kafka CPU goes: go tool pprof FILE.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catena-bridge/catena-bridge/scripts/benchenv"
)

func main() {
	if len(os.Args) > 1 {
		var err error
		switch os.Args[1] {
		case "stages":
			err = runStages(os.Args[2:])
		case "baseline":
			err = runBaseline(os.Args[2:])
		default:
			err = bench(os.Args[1:])
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "cpubench:", err)
			os.Exit(1)
		}
		return
	}
	if err := bench(nil); err != nil {
		fmt.Fprintln(os.Stderr, "cpubench:", err)
		os.Exit(1)
	}
}

type options struct {
	bin          string
	brokers      string
	records      int
	fleets       int
	vehicles     int
	dir          string
	skipBaseline bool
	cpuProfile   string
}

func bench(args []string) error {
	var o options
	fs := flag.NewFlagSet("cpubench", flag.ExitOnError)
	fs.StringVar(&o.bin, "bin", "bin/catena-bridge", "catena-bridge binary")
	fs.StringVar(&o.brokers, "brokers", "", "a real Kafka broker to measure too (kfake is always measured)")
	fs.IntVar(&o.records, "records", 300000, "records in the backfill")
	fs.IntVar(&o.fleets, "fleets", 5, "simulated fleets")
	fs.IntVar(&o.vehicles, "vehicles", 10, "simulated vehicles per fleet")
	fs.StringVar(&o.dir, "dir", "", "folder for the processes' logs (default a temporary one)")
	fs.BoolVar(&o.skipBaseline, "skip-baseline", false, "measure the bridge only")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the stages child to this file (go tool pprof)")
	_ = fs.Parse(args)
	if o.dir == "" {
		d, err := os.MkdirTemp("", "cpubench-")
		if err != nil {
			return err
		}
		o.dir = d
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}

	// 1. The simulator, in its own process.
	simAddr, err := freeAddr()
	if err != nil {
		return err
	}
	api := "http://" + simAddr
	sim := exec.Command(o.bin, "sim", "--addr", simAddr, "--seed", "11", "--fleets", strconv.Itoa(o.fleets),
		"--vehicles", strconv.Itoa(o.vehicles), "--report-interval", "1m")
	sim.Env = benchenv.Clean("GOMAXPROCS")
	simLog, err := os.Create(filepath.Join(o.dir, "sim.log"))
	if err != nil {
		return err
	}
	sim.Stdout, sim.Stderr = simLog, simLog
	sim.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := sim.Start(); err != nil {
		return err
	}
	defer func() { _ = sim.Process.Signal(syscall.SIGTERM); _ = sim.Wait() }()
	if err := waitHTTP(api+"/realms/catena/protocol/openid-connect/token", 20*time.Second); err != nil {
		return err
	}
	n := o.fleets * o.vehicles
	minutes := (o.records + n - 1) / n
	to := time.Now().UTC().Truncate(time.Minute).Add(-time.Minute)
	from := to.Add(-time.Duration(minutes) * time.Minute)
	fmt.Fprintf(os.Stderr, "cpubench: %d vehicles × %d minutes [%s, %s), logs in %s\n", n, minutes,
		from.Format(time.RFC3339), to.Format(time.RFC3339), o.dir)
	rng := []string{"--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339)}

	// 2. The stages.
	fmt.Fprintln(os.Stderr, "cpubench: stages")
	stagesArgs := append([]string{"stages", "-api", api}, dashOne(rng)...)
	if o.cpuProfile != "" {
		stagesArgs = append(stagesArgs, "-cpuprofile", o.cpuProfile)
	}
	sr, err := runChild(self, stagesArgs, nil, "", filepath.Join(o.dir, "stages.log"))
	if err != nil {
		return err
	}
	var st stageFigures
	if err := json.Unmarshal([]byte(strings.TrimSpace(sr.stdout)), &st); err != nil {
		return fmt.Errorf("stages output %q: %w", sr.stdout, err)
	}

	// 3. End to end.
	kf, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		return err
	}
	defer kf.Close()
	targets := []struct{ name, brokers string }{{"kfake", strings.Join(kf.ListenAddrs(), ",")}}
	if o.brokers != "" {
		targets = append(targets, struct{ name, brokers string }{"Apache Kafka", o.brokers})
	}
	type row struct {
		target, impl string
		records      int64
		r            *run
	}
	var rows []row
	stamp := strconv.FormatInt(time.Now().Unix(), 36)
	for _, t := range targets {
		slug := strings.ReplaceAll(strings.ToLower(t.name), " ", "-")
		topic := "cpubench-bridge-" + slug + "-" + stamp
		admin, err := freeAddr()
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "cpubench: bridge into %s\n", t.name)
		r, err := runChild(o.bin, append([]string{"backfill"}, rng...), []string{
			"CATENA_API_URL=" + api, "CATENA_TOKEN_URL=" + api + "/realms/catena/protocol/openid-connect/token",
			"CATENA_CLIENT_ID=demo", "CATENA_CLIENT_SECRET=demo", "CATENA_RATE_LIMIT=0",
			"KAFKA_BROKERS=" + t.brokers, "KAFKA_TOPIC=" + topic, "ADMIN_ADDR=" + admin, "LOG_LEVEL=warn",
		}, admin, filepath.Join(o.dir, "bridge-"+slug+".log"))
		if err != nil {
			return err
		}
		got, err := published(r.stdout)
		if err != nil {
			return err
		}
		rows = append(rows, row{t.name, "catena-bridge", got, r})
		if o.skipBaseline {
			continue
		}
		btopic := "cpubench-baseline-" + slug + "-" + stamp
		if err := createTopic(t.brokers, btopic); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "cpubench: baseline into %s\n", t.name)
		r, err = runChild(self, append([]string{"baseline", "-api", api, "-brokers", t.brokers, "-topic", btopic}, dashOne(rng)...),
			nil, "", filepath.Join(o.dir, "baseline-"+slug+".log"))
		if err != nil {
			return err
		}
		got, err = published(r.stdout)
		if err != nil {
			return err
		}
		r.mallocs = allocsOf(r.stdout)
		rows = append(rows, row{t.name, "baseline", got, r})
	}

	// 4. The table.
	us := func(d time.Duration, n int64) string {
		return strconv.FormatFloat(float64(d.Nanoseconds())/float64(n)/1000, 'f', 2, 64)
	}
	per := func(a uint64, n int64) string { return strconv.FormatFloat(float64(a)/float64(n), 'f', 1, 64) }
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "stage (bridge, %d records of %s)\tCPU µs/record\tallocs/record\t\n", st.Records, "the simulator")
	var pre, all time.Duration
	var preAllocs uint64
	for i, name := range stageNames {
		fmt.Fprintf(tw, "%s\t%s\t%s\t\n", name, us(st.CPU[i], st.Records), per(st.Allocs[i], st.Records))
		all += st.CPU[i]
		if i >= readStages {
			pre += st.CPU[i]
			preAllocs += st.Allocs[i]
		}
	}
	fmt.Fprintf(tw, "pre-Kafka stages (split, decode, validate, enrich, encode)\t%s\t%s\t\n", us(pre, st.Records), per(preAllocs, st.Records))
	fmt.Fprintf(tw, "page read and pre-Kafka stages\t%s\t\t\n", us(all, st.Records))
	for _, r := range rows {
		if r.impl == "catena-bridge" {
			fmt.Fprintf(tw, "produce into %s (end to end minus the read and stages above)\t%s\t\t\n", r.target, us(r.r.cpu-time.Duration(float64(all)*float64(r.records)/float64(st.Records)), r.records))
		}
	}
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "end to end (process CPU)\trecords\tCPU µs/record\tuser+sys s\tallocs/record\trecords/s (wall)\tpeak RSS MiB\t\n")
	for _, r := range rows {
		allocs := "-"
		switch {
		case r.impl != "catena-bridge" && r.r.mallocs > 0:
			allocs = per(r.r.mallocs, r.records)
		case r.r.scraped > 0:
			// The allocations by the last scrape, per event published
			// by then (start-up's included).
			allocs = "≈" + per(r.r.mallocs, int64(r.r.scraped))
		}
		fmt.Fprintf(tw, "%s into %s\t%d\t%s\t%.2f+%.2f\t%s\t%.0f\t%.0f\t\n", r.impl, r.target, r.records, us(r.r.cpu, r.records),
			r.r.user.Seconds(), r.r.sys.Seconds(), allocs, float64(r.records)/r.r.wall.Seconds(), float64(r.r.peakRSS)/(1<<20))
	}
	return tw.Flush()
}

// dashOne turns --flag into -flag (the subcommands use package flag).
func dashOne(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = strings.TrimPrefix(a, "-")
	}
	return out
}

var publishedRE = regexp.MustCompile(`published (\d+)`)

func published(stdout string) (int64, error) {
	m := publishedRE.FindStringSubmatch(stdout)
	if m == nil {
		return 0, fmt.Errorf("no published count in %q", stdout)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	if n == 0 {
		return 0, errors.New("published 0 records")
	}
	return n, nil
}

var allocsRE = regexp.MustCompile(`allocs (\d+)`)

func allocsOf(stdout string) uint64 {
	m := allocsRE.FindStringSubmatch(stdout)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

func createTopic(brokers, topic string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 12, 1, nil, topic)
	if err != nil {
		return err
	}
	return resp.Err
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitHTTP(u string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within %v: %w", u, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
