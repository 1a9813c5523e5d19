package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/catena-bridge/catena-bridge/internal/catenasim"
	"github.com/catena-bridge/catena-bridge/internal/sink"
	"github.com/catena-bridge/catena-bridge/internal/verify"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writers of a command
// (its logger, progress goroutines) and a test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// cli runs realMain in-process with env as the whole environment.
func cli(ctx context.Context, env map[string]string, args ...string) (code int, stdout, stderr string) {
	var out, errw syncBuffer
	code = realMain(ctx, args, &out, &errw, func(k string) string { return env[k] })
	return code, out.String(), errw.String()
}

// TestHelp: every command's --help exits 0 with a usage naming the command
// and the environment variables behind its flags.
func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		cmd  string
		want []string
	}{
		{"run", []string{"POLL_INTERVAL", "GAP_THRESHOLD", "SWEEP_INTERVAL", "LOOKBACK", "KAFKA_BROKERS", "KAFKA_TOPIC", "CATENA_RATE_LIMIT",
			"CATENA_CLIENT_ID", "CATENA_CLIENT_SECRET_FILE", "SCHEMA_REGISTRY_URL", "H3_RESOLUTIONS", "ADMIN_ADDR", "LOG_LEVEL", "FLEET_IDS"}},
		{"backfill", []string{"--from RFC3339", "-to", "BACKFILL_CONCURRENCY", "KAFKA_BROKERS", "CATENA_RATE_LIMIT", "CATENA_API_URL", "KAFKA_COMPRESSION"}},
		{"tail", []string{"-from-beginning", "-max", "-dlq", "KAFKA_BROKERS", "KAFKA_TOPIC", "SCHEMA_REGISTRY_URL", "LOG_LEVEL"}},
		{"demo", []string{"-history", "-live", "SIM_FLEETS", "SIM_VEHICLES", "SIM_SPEED", "SIM_FAULT_MALFORMED_EVERY", "LOG_LEVEL"}},
		{"sim", []string{"SIM_ADDR", "SIM_SEED", "SIM_REPORT_INTERVAL", "SIM_CLIENT_SECRET", "SIM_FAULT_429_EVERY",
			"--rate-limit", "SIM_RATE_LIMIT", "default 0: off"}},
		{"invite", []string{"--fleet-ref REF", "-json", "-expires-in-hours", "CATENA_API_URL", "CATENA_TOKEN_URL", "CATENA_CLIENT_ID", "CATENA_CLIENT_SECRET"}},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			for _, h := range []string{"--help", "-h"} {
				code, stdout, stderr := cli(context.Background(), nil, tc.cmd, h)
				if code != exitOK {
					t.Fatalf("%s %s: exit %d, want 0; stderr:\n%s", tc.cmd, h, code, stderr)
				}
				help := stdout + stderr
				if !strings.Contains(help, "Usage: catena-bridge "+tc.cmd) {
					t.Errorf("%s %s: usage does not name the command:\n%s", tc.cmd, h, help)
				}
				for _, w := range tc.want {
					if !strings.Contains(help, w) {
						t.Errorf("%s %s: usage does not mention %s", tc.cmd, h, w)
					}
				}
			}
		})
	}
	t.Run("version", func(t *testing.T) {
		if code, _, stderr := cli(context.Background(), nil, "version", "--help"); code != exitOK {
			t.Errorf("version --help: exit %d; stderr:\n%s", code, stderr)
		}
	})
}

func TestHelpListsCommands(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		code, stdout, _ := cli(context.Background(), nil, args...)
		if code != exitOK {
			t.Errorf("%v: exit %d, want 0", args, code)
		}
		for _, c := range commands {
			if !regexp.MustCompile(`(?m)^  ` + c.name + ` +` + regexp.QuoteMeta(c.summary) + `$`).MatchString(stdout) {
				t.Errorf("%v: command %q with its summary is not listed:\n%s", args, c.name, stdout)
			}
		}
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no args", nil, "Usage: catena-bridge <command>"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unexpected argument", []string{"tail", "extra"}, `unexpected argument "extra"`},
		{"unknown flag", []string{"run", "--no-such-flag"}, "flag provided but not defined: -no-such-flag"},
		{"bad flag value", []string{"run", "--poll-interval", "5"}, `invalid value "5" for flag -poll-interval`},
	} {
		code, stdout, stderr := cli(context.Background(), nil, tc.args...)
		if code != exitUsage {
			t.Errorf("%s: exit %d, want %d", tc.name, code, exitUsage)
		}
		if !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: stderr does not contain %q:\n%s", tc.name, tc.want, stderr)
		}
		if stdout != "" {
			t.Errorf("%s: stdout is not empty: %q", tc.name, stdout)
		}
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := cli(context.Background(), nil, "version")
	if code != exitOK || stdout != "catena-bridge "+version+"\n" {
		t.Errorf("version: exit %d, stdout %q", code, stdout)
	}
}

// validEnv is a configuration that passes validation (nothing is contacted
// before it does).
func validEnv(kv ...string) map[string]string {
	env := map[string]string{
		"CATENA_CLIENT_ID":     "cid",
		"CATENA_CLIENT_SECRET": "hunter2-cli-secret",
		"KAFKA_BROKERS":        "127.0.0.1:1",
		"ADMIN_ADDR":           "127.0.0.1:0",
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(env, kv[i])
		} else {
			env[kv[i]] = kv[i+1]
		}
	}
	return env
}

// TestBadConfiguration: configuration problems exit 2 before anything is
// contacted, naming the variable (or flag) and the value.
func TestBadConfiguration(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"rate limit not a number", validEnv("CATENA_RATE_LIMIT", "abc"), []string{"run"}, []string{`CATENA_RATE_LIMIT="abc"`, "not a number"}},
		{"poll interval without unit", validEnv("POLL_INTERVAL", "5"), []string{"run"}, []string{`POLL_INTERVAL="5"`, "not a duration"}},
		{"brokers missing", validEnv("KAFKA_BROKERS", ""), []string{"run"}, []string{"KAFKA_BROKERS is empty"}},
		{"webhook address without a secret", validEnv("WEBHOOK_ADDR", ":8443"), []string{"run"}, []string{`WEBHOOK_ADDR=":8443" needs WEBHOOK_SECRET`}},
		{"topic Kafka would reject", validEnv("KAFKA_TOPIC", "vehicle locations"), []string{"run"}, []string{`KAFKA_TOPIC="vehicle locations"`, "not allowed"}},
		{"topic too long", validEnv("KAFKA_TOPIC", strings.Repeat("t", 240)), []string{"backfill", "--from", "2026-11-01T00:00:00Z"}, []string{"KAFKA_TOPIC=", "at most 237"}},
		{"h3 resolution", validEnv("H3_RESOLUTIONS", "12"), []string{"run"}, []string{`H3_RESOLUTIONS="12"`, "12", "0..10"}},
		{"h3 resolution flag", validEnv(), []string{"backfill", "--from", "2026-11-01T00:00:00Z", "--h3-resolutions", "9,x"}, []string{`H3_RESOLUTIONS="9,x"`}},
		{"compression", validEnv("KAFKA_COMPRESSION", "brotli"), []string{"run"}, []string{`KAFKA_COMPRESSION="brotli"`}},
		{"compression backfill", validEnv("KAFKA_COMPRESSION", "brotli"), []string{"backfill", "--from", "2026-11-01T00:00:00Z"}, []string{`KAFKA_COMPRESSION="brotli"`}},
		{"backfill without from", validEnv(), []string{"backfill"}, []string{"--from is required"}},
		{"backfill from not RFC3339", validEnv(), []string{"backfill", "--from", "2026-11-01"}, []string{`--from="2026-11-01"`, "RFC3339"}},
		{"backfill to not RFC3339", validEnv(), []string{"backfill", "--from", "2026-11-01T00:00:00Z", "--to", "tomorrow"}, []string{`--to="tomorrow"`}},
		{"backfill from after to", validEnv(), []string{"backfill", "--from", "2026-11-02T00:00:00Z", "--to", "2026-11-01T00:00:00Z"},
			[]string{"--from=2026-11-02T00:00:00Z is not before --to=2026-11-01T00:00:00Z"}},
		{"backfill from equals to", validEnv(), []string{"backfill", "--from", "2026-11-01T00:00:00Z", "--to", "2026-11-01T00:00:00Z"}, []string{"is not before"}},
		{"backfill from in the future", validEnv(), []string{"backfill", "--from", "2999-01-01T00:00:00Z"}, []string{"--from=2999-01-01T00:00:00Z is not before --to="}},
		{"invite without fleet ref", validEnv(), []string{"invite"}, []string{"--fleet-ref is required"}},
		{"invite expiry", validEnv(), []string{"invite", "--fleet-ref", "a", "--expires-in-hours", "673"}, []string{"--expires-in-hours=673", "1..672"}},
		{"invite without client id", validEnv("CATENA_CLIENT_ID", ""), []string{"invite", "--fleet-ref", "a"}, []string{"CATENA_CLIENT_ID is empty"}},
		{"tail max", validEnv(), []string{"tail", "--max", "-1"}, []string{"--max=-1"}},
		{"tail brokers", validEnv("KAFKA_BROKERS", "kafka"), []string{"tail"}, []string{`KAFKA_BROKERS item "kafka"`}},
		{"tail log format", validEnv("LOG_FORMAT", "xml"), []string{"tail"}, []string{`LOG_FORMAT="xml"`}},
		{"sim speed", nil, []string{"sim", "--speed", "0"}, []string{"SIM_SPEED=0"}},
		{"sim rate limit", map[string]string{"SIM_RATE_LIMIT": "-1"}, []string{"sim"}, []string{"SIM_RATE_LIMIT=-1"}},
		{"sim rate burst", map[string]string{"SIM_RATE_BURST": "-2"}, []string{"sim"}, []string{"SIM_RATE_BURST=-2"}},
		{"sim fleets env", map[string]string{"SIM_FLEETS": "two"}, []string{"sim"}, []string{`SIM_FLEETS="two"`}},
		{"demo speed env", map[string]string{"SIM_SPEED": "-1"}, []string{"demo"}, []string{"SIM_SPEED=-1"}},
		{"demo log level", map[string]string{"LOG_LEVEL": "chatty"}, []string{"demo"}, []string{`LOG_LEVEL="chatty"`}},
		{"secret file missing", validEnv("CATENA_CLIENT_SECRET", "", "CATENA_CLIENT_SECRET_FILE", "/nonexistent/secret"), []string{"run"},
			[]string{`CATENA_CLIENT_SECRET_FILE="/nonexistent/secret"`}},
		{"everything at once", validEnv("CATENA_RATE_LIMIT", "abc", "POLL_INTERVAL", "5", "KAFKA_BROKERS", "", "H3_RESOLUTIONS", "12"),
			[]string{"backfill", "--from", "2026-11-01T00:00:00Z"},
			[]string{"CATENA_RATE_LIMIT", "POLL_INTERVAL", "KAFKA_BROKERS", "H3_RESOLUTIONS"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := cli(context.Background(), tc.env, tc.args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitUsage, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not contain %q:\n%s", w, stderr)
				}
			}
			if !strings.Contains(stderr, "catena-bridge "+tc.args[0]) {
				t.Errorf("stderr does not name the command %q:\n%s", tc.args[0], stderr)
			}
			if strings.Contains(stdout+stderr, "hunter2") {
				t.Errorf("output contains the client secret:\n%s", stderr)
			}
		})
	}
}

// newSim serves a simulator on httptest and returns its API URL.
func newSim(t *testing.T, cfg catenasim.Config) (*catenasim.Server, string) {
	t.Helper()
	sim, err := catenasim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return sim, srv.URL
}

// apiEnv points the bridge at a simulator with the given secret.
func apiEnv(api, secret string) map[string]string {
	return map[string]string{
		"CATENA_API_URL":           api,
		"CATENA_TOKEN_URL":         api + catenasim.TokenPath,
		"CATENA_CLIENT_ID":         "cli-test",
		"CATENA_CLIENT_SECRET":     secret,
		"CATENA_RETRY_MAX_ELAPSED": "10s",
		"LOG_LEVEL":                "warn",
	}
}

func TestInvite(t *testing.T) {
	_, api := newSim(t, catenasim.Config{ClientID: "cli-test", ClientSecret: "right-secret-9f2"})
	ctx := context.Background()

	code, stdout, stderr := cli(ctx, apiEnv(api, "right-secret-9f2"), "invite", "--fleet-ref", "acme-42", "--fleet-name", "Acme")
	if code != exitOK {
		t.Fatalf("invite: exit %d; stderr:\n%s", code, stderr)
	}
	if !regexp.MustCompile(`^` + regexp.QuoteMeta(catenasim.MagicLinkBase) + `\S+\n$`).MatchString(stdout) {
		t.Errorf("invite stdout is not one magic link line: %q", stdout)
	}
	if !strings.HasPrefix(stdout, "https://connect.catenatelematics.com/?invite=") {
		t.Errorf("magic link %q", stdout)
	}
	if !strings.Contains(stderr, `invitation for fleet "acme-42" created`) {
		t.Errorf("stderr does not report the new invitation:\n%s", stderr)
	}

	code, stdout, stderr = cli(ctx, apiEnv(api, "right-secret-9f2"), "invite", "--fleet-ref", "acme-42", "--json")
	if code != exitOK {
		t.Fatalf("invite --json: exit %d; stderr:\n%s", code, stderr)
	}
	var inv map[string]any
	if err := json.Unmarshal([]byte(stdout), &inv); err != nil {
		t.Fatalf("invite --json stdout is not JSON: %v\n%s", err, stdout)
	}
	link, _ := inv["magic_link"].(string)
	if !strings.HasPrefix(link, catenasim.MagicLinkBase) || inv["status"] != "active" || inv["fleet_ref"] != "acme-42" {
		t.Errorf("invite --json: magic_link %q, status %v, fleet_ref %v", link, inv["status"], inv["fleet_ref"])
	}

	// The same fleet again refreshes the invitation.
	code, _, stderr = cli(ctx, apiEnv(api, "right-secret-9f2"), "invite", "--fleet-ref", "acme-42")
	if code != exitOK || !strings.Contains(stderr, "refreshed") {
		t.Errorf("second invite: exit %d, stderr:\n%s", code, stderr)
	}

	code, stdout, stderr = cli(ctx, apiEnv(api, "wrong-secret-77c"), "invite", "--fleet-ref", "acme-42")
	if code != exitFailure {
		t.Fatalf("wrong secret: exit %d, want %d; stderr:\n%s", code, exitFailure, stderr)
	}
	if !strings.Contains(stderr, "invalid_client") {
		t.Errorf("wrong secret: stderr does not mention invalid_client:\n%s", stderr)
	}
	if strings.Contains(stdout+stderr, "wrong-secret-77c") {
		t.Errorf("wrong secret: output contains the secret:\n%s", stderr)
	}
}

// kafkaEnv is an in-process broker and registry for the bridge, with a
// topic of its own.
type kafkaEnv struct {
	brokers  []string
	registry string
	topic    string
}

func newKafkaEnv(t *testing.T) *kafkaEnv {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	reg := srfake.New()
	t.Cleanup(reg.Close)
	topic := "cli." + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '_'
	}, t.Name())
	return &kafkaEnv{brokers: c.ListenAddrs(), registry: reg.URL(), topic: topic}
}

// env returns the bridge's environment: the simulator at api, this broker
// and registry.
func (k *kafkaEnv) env(api string, kv ...string) map[string]string {
	env := apiEnv(api, "demo")
	env["CATENA_CLIENT_ID"] = "demo"
	env["CATENA_RATE_LIMIT"] = "0"
	env["KAFKA_BROKERS"] = strings.Join(k.brokers, ",")
	env["KAFKA_TOPIC"] = k.topic
	env["KAFKA_PARTITIONS"] = "3"
	env["SCHEMA_REGISTRY_URL"] = k.registry
	env["ADMIN_ADDR"] = "127.0.0.1:0"
	for i := 0; i < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	return env
}

var summaryRE = regexp.MustCompile(`^backfill \S+ \[\S+, \S+\): (\d+) vehicles, fetched (\d+), published (\d+), duplicates skipped (\d+), left to earlier claims \d+, dead-lettered (\d+)( \(already complete\))?\n$`)

func TestBackfillAndTail(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	sim, api := newSim(t, catenasim.Config{
		Seed: 5, Fleets: 1, VehiclesPerFleet: 2, ReportInterval: time.Minute,
		Clock:  catenasim.NewManualClock(t0),
		Faults: catenasim.Faults{MalformedEvery: 10, DuplicateEvery: 2},
	})
	k := newKafkaEnv(t)
	env := k.env(api, "CATENA_PAGE_SIZE", "50")
	ctx := context.Background()
	from, to := t0.Add(-2*time.Hour), t0
	args := []string{"backfill", "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339)}
	valid, malformed := verify.Truth(sim, from, to, t0)

	code, stdout, stderr := cli(ctx, env, args...)
	if code != exitOK {
		t.Fatalf("backfill: exit %d; stderr:\n%s", code, stderr)
	}
	m := summaryRE.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("backfill summary not found in stdout %q", stdout)
	}
	if m[1] != "2" || m[3] != strconv.Itoa(len(valid)) || m[6] != "" {
		t.Errorf("backfill summary %q: want 2 vehicles, published %d, not already complete", strings.TrimSpace(stdout), len(valid))
	}
	if dl, _ := strconv.Atoi(m[5]); dl == 0 || dl > len(malformed) {
		t.Errorf("backfill dead-lettered %s, want 1..%d", m[5], len(malformed))
	}
	if m[4] == "0" {
		t.Errorf("backfill skipped no duplicates with DuplicateEvery set: %q", stdout)
	}

	code, stdout, stderr = cli(ctx, env, args...)
	if code != exitOK {
		t.Fatalf("second backfill: exit %d; stderr:\n%s", code, stderr)
	}
	if m := summaryRE.FindStringSubmatch(stdout); m == nil || m[6] == "" || m[3] != "0" {
		t.Errorf("second backfill: want published 0 (already complete), got %q", stdout)
	}

	// The ledger lists the job's claim, done; a backfill is not released.
	code, stdout, stderr = cli(ctx, env, "ledger")
	if code != exitOK || !strings.Contains(stdout, "backfill-") || !strings.Contains(stdout, "done") ||
		!strings.Contains(stdout, from.Format(time.RFC3339)) {
		t.Errorf("ledger: exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	job := strings.Fields(strings.Split(stdout, "\n")[1])[1]
	if code, _, stderr = cli(ctx, env, "ledger", "--release", job); code != exitFailure || !strings.Contains(stderr, "not a live tail") {
		t.Errorf("ledger --release %s: exit %d, stderr %q; want 1, not a live tail", job, code, stderr)
	}

	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	code, stdout, stderr = cli(tctx, env, "tail", "--from-beginning", "--max", "5")
	if code != exitOK {
		t.Fatalf("tail: exit %d; stderr:\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("tail --max 5 printed %d lines:\n%s", len(lines), stdout)
	}
	for _, line := range lines {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("tail line is not a JSON object: %v\n%s", err, line)
		}
		for _, f := range []string{"id", "fleet_id", "h3_index_11", "latitude"} {
			if _, ok := ev[f]; !ok {
				t.Errorf("tail line has no %q: %s", f, line)
			}
		}
		if _, ok := valid[ev["id"].(string)]; !ok {
			t.Errorf("tail printed event %v, which is not a valid simulated record", ev["id"])
		}
	}

	for _, flag := range []string{"--format=envelope", "--meta"} {
		code, stdout, stderr = cli(tctx, env, "tail", flag, "--from-beginning", "--max", "1")
		var wrapped struct {
			Topic     string         `json:"topic"`
			Partition *int32         `json:"partition"`
			Offset    *int64         `json:"offset"`
			Key       string         `json:"key"`
			Headers   []string       `json:"headers"`
			Payload   map[string]any `json:"payload"`
		}
		if err := json.Unmarshal([]byte(stdout), &wrapped); err != nil || code != exitOK || wrapped.Partition == nil || wrapped.Offset == nil ||
			wrapped.Key == "" || !slices.Contains(wrapped.Headers, "catena-id") || wrapped.Payload["id"] == nil {
			t.Errorf("tail %s: exit %d, %v, line %q, stderr %q", flag, code, err, stdout, stderr)
		}
	}
	if code, _, stderr := cli(tctx, env, "tail", "--format=yaml"); code != exitUsage || !strings.Contains(stderr, `--format="yaml"`) {
		t.Errorf("tail --format=yaml: exit %d, stderr %q; want exit 2 naming the value", code, stderr)
	}

	code, stdout, stderr = cli(tctx, env, "tail", "--dlq", "--from-beginning", "--max", "1")
	if code != exitOK {
		t.Fatalf("tail --dlq: exit %d; stderr:\n%s", code, stderr)
	}
	var dl struct {
		Reason string         `json:"reason"`
		Record map[string]any `json:"record"`
	}
	if err := json.Unmarshal([]byte(stdout), &dl); err != nil {
		t.Fatalf("tail --dlq line is not JSON: %v\n%s", err, stdout)
	}
	if dl.Reason == "" || dl.Record == nil || strings.Count(stdout, "\n") != 1 {
		t.Errorf("tail --dlq: want one line with a reason and the record, got %q", stdout)
	}
	if id, _ := dl.Record["id"].(string); id != "" {
		if _, ok := malformed[id]; !ok {
			t.Errorf("dead letter %q is not a malformed simulated record", id)
		}
	}
}

// TestRun starts run against a real-time simulator and stops it like a
// signal does (ctx cancelled) once the topic holds events: it exits 0.
func TestRun(t *testing.T) {
	_, api := newSim(t, catenasim.Config{Seed: 3, Fleets: 1, VehiclesPerFleet: 2, ReportInterval: time.Second})
	k := newKafkaEnv(t)
	env := k.env(api, "POLL_INTERVAL", "100ms", "SWEEP_INTERVAL", "1s", "LOOKBACK", "1m", "LOG_LEVEL", "info")

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var code int
	var stderr string
	exited := make(chan struct{})
	go func() {
		code, _, stderr = cli(ctx, env, "run")
		close(exited)
	}()

	// Wait, without sleeping, for the first committed event; run exiting
	// early ends the wait too.
	r, err := sink.NewReader(sink.Config{Brokers: k.brokers, Topic: k.topic})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	go func() {
		select {
		case <-exited:
			wcancel()
		case <-wctx.Done():
		}
	}()
	got := 0
	if err := r.Follow(wctx, k.topic, true, func(*kgo.Record) error { got++; return sink.ErrStop }); err != nil {
		t.Fatal(err)
	}
	if got == 0 {
		select {
		case <-exited:
			t.Fatalf("run exited %d before publishing; stderr:\n%s", code, stderr)
		default:
			t.Fatal("no event in the topic within a minute")
		}
	}
	stop() // what SIGINT/SIGTERM do
	select {
	case <-exited:
		if code != exitOK {
			t.Fatalf("run: exit %d after the stop, want 0; stderr:\n%s", code, stderr)
		}
		if !strings.Contains(stderr, "stopped") {
			t.Errorf("run did not log its stop:\n%s", stderr)
		}
	case <-time.After(time.Minute):
		t.Fatal("run did not exit within a minute of the stop")
	}
}

func TestDemo(t *testing.T) {
	start := time.Now()
	code, stdout, stderr := cli(context.Background(), map[string]string{"LOG_LEVEL": "warn"},
		"demo", "--live", "2s", "--history", "2h", "--fleets", "2", "--vehicles", "2")
	t.Logf("demo took %v", time.Since(start).Round(time.Millisecond))
	if code != exitOK {
		t.Fatalf("demo: exit %d; stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, w := range []string{"published (exactly once)", "partition", "demo finished"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("demo stdout does not contain %q:\n%s", w, stdout)
		}
	}
	events, partitions := 0, 0
	for _, line := range strings.Split(stdout, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "partition ") {
			partitions++
		}
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Errorf("demo event line is not JSON: %v\n%s", err, line)
			continue
		}
		if ev["id"] == nil || ev["fleet_id"] == nil {
			t.Errorf("demo event line without id or fleet_id: %s", line)
		}
		events++
	}
	if events != 3 {
		t.Errorf("demo printed %d event lines for %d partitions, want 3:\n%s", events, partitions, stdout)
	}
}

// TestReadyWhileBrokerDown: with the broker unreachable the bridge keeps
// waiting (it does not exit), and its admin endpoint already serves: /healthz
// is ok and /readyz says what start-up waits for. SIGTERM (ctx) then stops it.
func TestReadyWhileBrokerDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		code, _, _ := cli(ctx, validEnv("ADMIN_ADDR", addr), "run") // KAFKA_BROKERS=127.0.0.1:1: nothing listens
		done <- code
	}()
	var body string
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			if resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(body, "kafka:") {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never reported the broker down; last answer %q (err %v)", body, err)
		}
		time.Sleep(20 * time.Millisecond) // polls the endpoint of a process that is waiting
	}
	if !strings.Contains(body, "startup: starting: connecting to Kafka") {
		t.Errorf("/readyz = %q, want the start-up step", body)
	}
	if resp, err := http.Get("http://" + addr + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("/healthz while waiting: %v %v", resp, err)
	}
	select {
	case code := <-done:
		t.Fatalf("bridge exited (%d) while the broker was down; it must wait", code)
	default:
	}
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("bridge did not stop on cancel while waiting for the broker")
	}
}
