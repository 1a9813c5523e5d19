// Command lakecheck runs the lake example (examples/lake) end to end against
// a real Kafka broker (make test-lake):
//
//  1. the simulated Catena API and a Schema Registry (srfake, over HTTP on
//     127.0.0.1, so Spark can fetch the schema) in-process;
//  2. `catena-bridge backfill` over -days whole UTC days of simulated history
//     into a fresh topic (malformed points go to the dead-letter topic,
//     repeated page records are deduplicated by the bridge);
//  3. lake.py (Spark, trigger availableNow) writes the topic to Parquet;
//  4. then, in the same topic: a committed transaction of -fallback events
//     without occurred_at (their event day is ingested_at's: today, a day the
//     backfill has no events for), and an aborted transaction repeating
//     -aborted events already in the topic (a read_uncommitted reader would
//     see them as duplicates);
//  5. lake.py again, with the same checkpoint: it must add only step 4's
//     committed events;
//  6. the topic is read back read_committed and decoded in Go (the bridge's
//     own decoder) into expected.csv: id, event day, timestamps, H3 cells;
//  7. check.py (DuckDB) compares the lake with it.
//
// It exits non-zero if any step fails; the work folder (logs, lake,
// expected.csv) is kept on failure or with -keep.
package main

import (
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/catena-bridge/catena-bridge/internal/avro"
	"github.com/catena-bridge/catena-bridge/internal/catenasim"
	"github.com/catena-bridge/catena-bridge/internal/record"
	"github.com/catena-bridge/catena-bridge/internal/sink"
	"github.com/catena-bridge/catena-bridge/schemas"
	"github.com/catena-bridge/catena-bridge/scripts/benchenv"
)

type options struct {
	bin, brokers, python, jars, dir string
	days, fleets, vehicles          int
	reportInterval                  time.Duration
	fallback, aborted               int
	keep, uncommitted               bool
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/catena-bridge", "catena-bridge binary (make build)")
	flag.StringVar(&o.brokers, "brokers", os.Getenv("KAFKA_BROKERS"), "Kafka seed brokers (default $KAFKA_BROKERS)")
	flag.StringVar(&o.python, "python", "", "python with pyspark and duckdb (default: the one examples/lake/setup.sh prepares)")
	flag.StringVar(&o.jars, "jars", "", "connector jars, comma-separated (default: the ones examples/lake/setup.sh fetches)")
	flag.StringVar(&o.dir, "workdir", ".cache/lake/run", "parent of this run's work folder")
	flag.IntVar(&o.days, "days", 3, "whole UTC days of history to backfill, ending at today's midnight")
	flag.IntVar(&o.fleets, "fleets", 3, "simulated fleets")
	flag.IntVar(&o.vehicles, "vehicles", 5, "simulated vehicles per fleet")
	flag.DurationVar(&o.reportInterval, "report-interval", 2*time.Minute, "each vehicle reports one point per interval")
	flag.IntVar(&o.fallback, "fallback", 5, "committed events without occurred_at added after the first lake run")
	flag.IntVar(&o.aborted, "aborted", 200, "events repeated in an aborted transaction")
	flag.BoolVar(&o.keep, "keep", false, "keep the work folder after a successful run")
	flag.BoolVar(&o.uncommitted, "uncommitted-too", false, "also write the topic with read_uncommitted into a second lake and require check.py to fail on it (the checks catch aborted records)")
	flag.Parse()
	if flag.NArg() != 0 || o.brokers == "" || o.days < 1 {
		fmt.Fprintln(os.Stderr, "lakecheck: -brokers (or KAFKA_BROKERS) is required")
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, &o); err != nil {
		fmt.Fprintln(os.Stderr, "lakecheck:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s lakecheck: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, o *options) (err error) {
	start := time.Now()
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%s: %w (make build)", o.bin, err)
	}
	here, err := exampleDir()
	if err != nil {
		return err
	}
	if o.python == "" || o.jars == "" {
		t := time.Now()
		cmd := exec.CommandContext(ctx, filepath.Join(here, "setup.sh"))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("examples/lake/setup.sh: %w", err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != 2 {
			return fmt.Errorf("examples/lake/setup.sh printed %q, want the python and the jars", out)
		}
		o.python, o.jars = cmp.Or(o.python, lines[0]), cmp.Or(o.jars, lines[1])
		logf("setup (venv, jars) in %v", time.Since(t).Round(100*time.Millisecond))
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp(o.dir, "lake-")
	if err != nil {
		return err
	}
	if work, err = filepath.Abs(work); err != nil {
		return err
	}
	defer func() {
		if err != nil || o.keep {
			logf("work folder kept: %s", work)
		} else {
			os.RemoveAll(work)
		}
	}()
	brokers := strings.Split(o.brokers, ",")
	topic := fmt.Sprintf("lake.%d", time.Now().UnixNano())

	registry := srfake.New()
	defer registry.Close()
	sim, err := catenasim.New(catenasim.Config{Fleets: o.fleets, VehiclesPerFleet: o.vehicles, ReportInterval: o.reportInterval,
		Faults: catenasim.Faults{MalformedEvery: 97, DuplicateEvery: 3}})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	api := "http://" + ln.Addr().String()
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	// --- 2. backfill whole days ---------------------------------------------------
	to := time.Now().UTC().Truncate(24 * time.Hour)
	from := to.AddDate(0, 0, -o.days)
	logf("topic %s, registry %s; backfill %s .. %s: %d vehicles, 1 point/%v", topic, registry.URL(),
		from.Format(time.RFC3339), to.Format(time.RFC3339), o.fleets*o.vehicles, o.reportInterval)
	t := time.Now()
	env := []string{
		"CATENA_API_URL=" + api, "CATENA_TOKEN_URL=" + api + catenasim.TokenPath,
		"CATENA_CLIENT_ID=demo", "CATENA_CLIENT_SECRET=demo", "CATENA_RATE_LIMIT=0",
		"KAFKA_BROKERS=" + o.brokers, "KAFKA_TOPIC=" + topic, "KAFKA_PARTITIONS=3",
		"SCHEMA_REGISTRY_URL=" + registry.URL(), "ADMIN_ADDR=off", "LOG_LEVEL=info",
	}
	if err := runCmd(ctx, filepath.Join(work, "backfill.log"), 5*time.Minute, append(benchenv.Clean("WEBHOOK_"), env...), bin,
		"backfill", "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339)); err != nil {
		return fmt.Errorf("backfill: %w", err)
	}
	backfillTook := time.Since(t)
	logf("backfill done in %v", backfillTook.Round(time.Millisecond))

	// --- 3. first lake run ----------------------------------------------------------
	lakeDir, ckpt := filepath.Join(work, "lake"), filepath.Join(work, "checkpoint")
	lake := func(name string, extra ...string) (time.Duration, error) {
		t := time.Now()
		args := append([]string{filepath.Join(here, "lake.py"),
			"--bootstrap-servers", o.brokers, "--topic", topic, "--schema-registry", registry.URL(),
			"--output", lakeDir, "--checkpoint", ckpt, "--jars", o.jars}, extra...)
		err := runCmd(ctx, filepath.Join(work, name+".log"), 5*time.Minute, os.Environ(), o.python, args...)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", name, err)
		}
		d := time.Since(t)
		logf("%s done in %v: %s", name, d.Round(time.Millisecond), lastLine(filepath.Join(work, name+".log"), "lake: wrote"))
		return d, nil
	}
	lake1, err := lake("lake-1")
	if err != nil {
		return err
	}

	// --- 4. fallback events (committed), repeats (aborted) --------------------------
	if err := addEvents(ctx, o, brokers, topic, registry.URL(), sim.Vehicles()[0]); err != nil {
		return err
	}

	// --- 5. second lake run: only the new committed events ---------------------------
	lake2, err := lake("lake-2")
	if err != nil {
		return err
	}

	// --- 6. the topic as Go reads it ----------------------------------------------------
	expected := filepath.Join(work, "expected.csv")
	n, days, dlq, err := writeExpected(ctx, brokers, topic, registry.URL(), expected)
	if err != nil {
		return err
	}
	logf("topic (read_committed): %d events over %d event days %v; %d dead letters", n, len(days), days, dlq)
	if len(days) < o.days {
		return fmt.Errorf("the topic's events cover %d event days, want at least %d", len(days), o.days)
	}

	// --- 7. DuckDB checks ---------------------------------------------------------------------
	check := func(lakeDir string) error {
		cmd := exec.CommandContext(ctx, o.python, filepath.Join(here, "check.py"), "--lake", lakeDir, "--expected", expected,
			"--min-days", strconv.Itoa(o.days+1), "--min-fallback", strconv.Itoa(o.fallback))
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		return cmd.Run()
	}
	if o.uncommitted {
		logf("negative control: the same topic read_uncommitted must fail the checks")
		if _, err := lake("lake-uncommitted", "--isolation-level", "read_uncommitted",
			"--output", filepath.Join(work, "lake-uncommitted"), "--checkpoint", filepath.Join(work, "checkpoint-uncommitted")); err != nil {
			return err
		}
		if err := check(filepath.Join(work, "lake-uncommitted")); err == nil {
			return errors.New("check.py passed a lake written read_uncommitted: it does not catch aborted records")
		}
		logf("negative control: check.py failed on it, as it must")
	}
	t = time.Now()
	if err := check(lakeDir); err != nil {
		return fmt.Errorf("check.py: %w", err)
	}
	logf("timings: backfill %v, lake run 1 %v, lake run 2 %v, checks %v, total %v",
		backfillTook.Round(100*time.Millisecond), lake1.Round(100*time.Millisecond), lake2.Round(100*time.Millisecond),
		time.Since(t).Round(100*time.Millisecond), time.Since(start).Round(100*time.Millisecond))
	return nil
}

// addEvents writes o.fallback new events without occurred_at in a committed
// transaction, then repeats o.aborted events already in the topic in an
// aborted one.
func addEvents(ctx context.Context, o *options, brokers []string, topic, registryURL string, v catenasim.Vehicle) error {
	reg, err := sr.NewClient(sr.URLs(registryURL))
	if err != nil {
		return err
	}
	ss, err := reg.SchemaByVersion(ctx, topic+"-value", -1)
	if err != nil {
		return fmt.Errorf("schema of %s-value: %w", topic, err)
	}
	codec, err := avro.NewCodec(schemas.VehicleLocation)
	if err != nil {
		return err
	}
	enc := avro.NewEncoder(codec, avro.ConfluentFraming(ss.ID))

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic),
		kgo.TransactionalID("lakecheck-"+topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		return err
	}
	defer cl.Close()
	txn := func(recs []*kgo.Record, commit kgo.TransactionEndTry) error {
		if err := cl.BeginTransaction(); err != nil {
			return err
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			cl.EndTransaction(ctx, kgo.TryAbort)
			return err
		}
		return cl.EndTransaction(ctx, commit)
	}

	now := time.Now().UTC()
	var recs []*kgo.Record
	for i := range o.fallback {
		fleetRef := v.FleetRef
		l := &record.Location{
			ID: fmt.Sprintf("00000000-1a4e-4000-8000-%012d", i), FleetID: v.FleetID, FleetRef: &fleetRef,
			CreatedAt: now, UpdatedAt: now, ConnectionID: v.ConnectionID, SourceName: v.SourceName,
			SourceID: "lakecheck-" + strconv.Itoa(i), VehicleID: &v.ID,
			// OccurredAt nil: the provider did not say when.
		}
		val, err := enc.Append(nil, l, now)
		if err != nil {
			return err
		}
		recs = append(recs, &kgo.Record{Key: []byte(v.FleetID), Value: val,
			Headers: []kgo.RecordHeader{{Key: "catena-id", Value: []byte(l.ID)}}})
	}
	if err := txn(recs, kgo.TryCommit); err != nil {
		return fmt.Errorf("committed transaction: %w", err)
	}

	r, err := sink.NewReader(sink.Config{Brokers: brokers, Topic: topic})
	if err != nil {
		return err
	}
	defer r.Close()
	var repeats []*kgo.Record
	if err := r.ReadAll(ctx, topic, func(rec *kgo.Record) {
		if len(repeats) < o.aborted {
			repeats = append(repeats, &kgo.Record{Key: rec.Key, Value: rec.Value, Headers: rec.Headers, Partition: rec.Partition})
		}
	}); err != nil {
		return err
	}
	if err := txn(repeats, kgo.TryAbort); err != nil {
		return fmt.Errorf("aborted transaction: %w", err)
	}
	logf("added %d committed events without occurred_at, and %d repeated events in an aborted transaction", len(recs), len(repeats))
	return nil
}

// writeExpected reads topic read_committed, decodes every event with the
// bridge's decoder and writes one CSV row per event. It returns the number
// of events, their event days (sorted) and the dead-letter topic's size.
func writeExpected(ctx context.Context, brokers []string, topic, registryURL, path string) (n int, days []string, dlq int, err error) {
	reg, err := sr.NewClient(sr.URLs(registryURL))
	if err != nil {
		return 0, nil, 0, err
	}
	codec, err := avro.NewCodec(schemas.VehicleLocation)
	if err != nil {
		return 0, nil, 0, err
	}
	dec := avro.NewDecoder(reg, codec)
	r, err := sink.NewReader(sink.Config{Brokers: brokers, Topic: topic})
	if err != nil {
		return 0, nil, 0, err
	}
	defer r.Close()
	f, err := os.Create(path)
	if err != nil {
		return 0, nil, 0, err
	}
	defer f.Close()
	w := csv.NewWriter(f)
	cols := []string{"id", "event_date", "occurred_at_us", "ingested_at_us", "created_at_us",
		"latitude", "longitude", "h3_index_11", "h3_index_9", "h3_index_7", "h3_index_5", "kafka_partition", "kafka_offset"}
	w.Write(cols)
	seen := map[string]bool{}
	dayset := map[string]bool{}
	var derr error
	err = r.ReadAll(ctx, topic, func(rec *kgo.Record) {
		if derr != nil {
			return
		}
		ev, err := dec.Decode(ctx, rec.Value)
		if err != nil {
			derr = fmt.Errorf("%s[%d]@%d: %w", topic, rec.Partition, rec.Offset, err)
			return
		}
		id, _ := ev["id"].(string)
		if seen[id] {
			derr = fmt.Errorf("id %s twice in the topic (the bridge broke exactly once)", id)
			return
		}
		seen[id] = true
		evt, ok := ev["occurred_at"].(time.Time)
		if !ok {
			evt, _ = ev["ingested_at"].(time.Time)
		}
		day := evt.UTC().Format(time.DateOnly)
		dayset[day] = true
		row := []string{id, day, micros(ev["occurred_at"]), micros(ev["ingested_at"]), micros(ev["created_at"]),
			num(ev["latitude"]), num(ev["longitude"]), num(ev["h3_index_11"]), num(ev["h3_index_9"]), num(ev["h3_index_7"]), num(ev["h3_index_5"]),
			strconv.Itoa(int(rec.Partition)), strconv.FormatInt(rec.Offset, 10)}
		derr = w.Write(row)
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return 0, nil, 0, err
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return 0, nil, 0, err
	}
	if err := r.ReadAll(ctx, topic+".dlq", func(*kgo.Record) { dlq++ }); err != nil {
		return 0, nil, 0, err
	}
	for d := range dayset {
		days = append(days, d)
	}
	slices.Sort(days)
	return len(seen), days, dlq, f.Close()
}

// micros renders a decoded timestamp as microseconds since the epoch; "" for null.
func micros(v any) string {
	if t, ok := v.(time.Time); ok {
		return strconv.FormatInt(t.UnixMicro(), 10)
	}
	return ""
}

// num renders a decoded long or double exactly; "" for null.
func num(v any) string {
	switch v := v.(type) {
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return ""
}

// runCmd runs name args with env, output to logPath, within timeout; on
// failure it prints the log's tail.
func runCmd(ctx context.Context, logPath string, timeout time.Duration, env []string, name string, args ...string) error {
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) } // Spark's JVM too
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("%w (timed out after %v)", err, timeout)
		}
		b, _ := os.ReadFile(logPath)
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		fmt.Fprintf(os.Stderr, "--- last lines of %s:\n%s\n---\n", logPath, strings.Join(lines[max(0, len(lines)-60):], "\n"))
		return err
	}
	return nil
}

// lastLine returns the last line of the file at path that starts with prefix.
func lastLine(path, prefix string) string {
	b, _ := os.ReadFile(path)
	out := ""
	for l := range strings.Lines(string(b)) {
		if strings.HasPrefix(l, prefix) {
			out = strings.TrimSpace(l)
		}
	}
	return out
}

// exampleDir is examples/lake, found from the working directory (the
// repository root under make) or its parents.
func exampleDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "examples", "lake")
		if _, err := os.Stat(filepath.Join(p, "lake.py")); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("examples/lake/lake.py not found from the working directory")
		}
		dir = parent
	}
}
