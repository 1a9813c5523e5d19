package config_test

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/config"
)

// settings is what the publishing commands bind: every group of this package
// on one flag set, as cmd/catena-bridge does.
type settings struct {
	catena   config.Catena
	kafka    config.Kafka
	pipeline config.Pipeline
	admin    config.Admin
}

// baseEnv is the smallest valid environment: the three required settings.
func baseEnv() map[string]string {
	return map[string]string{
		"CATENA_CLIENT_ID":     "cid",
		"CATENA_CLIENT_SECRET": "s3cr3t-value",
		"KAFKA_BROKERS":        "localhost:9092",
	}
}

func getenvFrom(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// load binds every group on a fresh flag set over env, parses args and
// returns the settings with every problem the loader and the Validate
// methods report, joined as the commands join them.
func load(t *testing.T, env map[string]string, args ...string) (*settings, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	l := config.NewLoader(fs, getenvFrom(env))
	var s settings
	s.catena.Bind(l)
	s.kafka.Bind(l)
	s.pipeline.Bind(l)
	s.admin.Bind(l)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return &s, errors.Join(l.Err(), s.catena.Validate(), s.kafka.Validate(), s.pipeline.Validate(), s.admin.Validate())
}

// with returns baseEnv with kv ("NAME", "value", ...) applied; an empty value
// deletes the variable.
func with(kv ...string) map[string]string {
	env := baseEnv()
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(env, kv[i])
		} else {
			env[kv[i]] = kv[i+1]
		}
	}
	return env
}

func items(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = "id" + strconv.Itoa(i)
	}
	return strings.Join(s, ",")
}

// TestValidate is one case per rule: an environment and flags, and the
// substrings the error must contain (none: the settings are valid).
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{name: "minimal valid", env: baseEnv()},

		// Catena.
		{name: "api url scheme", env: with("CATENA_API_URL", "ftp://api.example"), want: []string{`CATENA_API_URL="ftp://api.example"`, "http(s) URL"}},
		{name: "api url without host", env: with("CATENA_API_URL", "http://"), want: []string{`CATENA_API_URL="http://"`}},
		{name: "api url unparsable", env: with("CATENA_API_URL", "http://bad host:x"), want: []string{`CATENA_API_URL: not a URL (invalid port ":x" after host)`}},
		{name: "registry url password hidden", env: with("SCHEMA_REGISTRY_URL", "ftp://u:hunter2@sr"), want: []string{`SCHEMA_REGISTRY_URL="ftp://u:xxxxx@sr"`}},
		{name: "api url by flag", env: baseEnv(), args: []string{"--api-url", "api.example"}, want: []string{`CATENA_API_URL="api.example"`}},
		{name: "token url", env: with("CATENA_TOKEN_URL", "auth.example/token"), want: []string{`CATENA_TOKEN_URL="auth.example/token"`}},
		{name: "http api url ok", env: with("CATENA_API_URL", "http://127.0.0.1:8085", "CATENA_TOKEN_URL", "http://127.0.0.1:8085/t")},
		{name: "client id missing", env: with("CATENA_CLIENT_ID", ""), want: []string{"CATENA_CLIENT_ID is empty", "--client-id"}},
		{name: "client secret missing", env: with("CATENA_CLIENT_SECRET", ""), want: []string{"CATENA_CLIENT_SECRET is empty", "CATENA_CLIENT_SECRET_FILE"}},
		{name: "secret file missing", env: with("CATENA_CLIENT_SECRET_FILE", "/nonexistent/catena-secret"), want: []string{`CATENA_CLIENT_SECRET_FILE="/nonexistent/catena-secret"`, "no such file"}},
		{name: "rate limit negative", env: with("CATENA_RATE_LIMIT", "-1"), want: []string{"CATENA_RATE_LIMIT=-1", ">= 0"}},
		{name: "rate limit zero turns it off", env: with("CATENA_RATE_LIMIT", "0")},
		{name: "rate limit fraction", env: with("CATENA_RATE_LIMIT", "0.5")},
		{name: "request timeout zero", env: with("CATENA_REQUEST_TIMEOUT", "0s"), want: []string{"CATENA_REQUEST_TIMEOUT=0s", "> 0"}},
		{name: "request timeout negative", env: with("CATENA_REQUEST_TIMEOUT", "-1s"), want: []string{"CATENA_REQUEST_TIMEOUT=-1s"}},
		{name: "retry max elapsed zero", env: with("CATENA_RETRY_MAX_ELAPSED", "0s"), want: []string{"CATENA_RETRY_MAX_ELAPSED=0s"}},
		{name: "page size zero", env: with("CATENA_PAGE_SIZE", "0"), want: []string{"CATENA_PAGE_SIZE=0", "1..1000"}},
		{name: "page size too big", env: with("CATENA_PAGE_SIZE", "1001"), want: []string{"CATENA_PAGE_SIZE=1001"}},
		{name: "page size bounds", env: with("CATENA_PAGE_SIZE", "1"), args: []string{"--page-size", "1000"}},

		// Kafka.
		{name: "brokers missing", env: with("KAFKA_BROKERS", ""), want: []string{"KAFKA_BROKERS is empty"}},
		{name: "brokers only commas", env: with("KAFKA_BROKERS", " , ,"), want: []string{"KAFKA_BROKERS is empty"}},
		{name: "broker without port", env: with("KAFKA_BROKERS", "localhost:9092,kafka2"), want: []string{`KAFKA_BROKERS item "kafka2"`, "host:port"}},
		{name: "several brokers", env: with("KAFKA_BROKERS", "k1:9092, k2:9092")},
		{name: "topic empty by flag", env: baseEnv(), args: []string{"--topic="}, want: []string{"KAFKA_TOPIC is empty"}},
		{name: "partitions zero", env: with("KAFKA_PARTITIONS", "0"), want: []string{"KAFKA_PARTITIONS=0", "must be 1.."}},
		{name: "partitions over limit", env: with("KAFKA_PARTITIONS", "99999999"), want: []string{"KAFKA_PARTITIONS=99999999", "must be 1.."}},
		{name: "replication factor zero", env: with("KAFKA_REPLICATION_FACTOR", "0"), want: []string{"KAFKA_REPLICATION_FACTOR=0"}},
		{name: "replication factor over int16", env: with("KAFKA_REPLICATION_FACTOR", "32768"), want: []string{"KAFKA_REPLICATION_FACTOR=32768"}},
		{name: "compression unknown", env: with("KAFKA_COMPRESSION", "brotli"), want: []string{`KAFKA_COMPRESSION="brotli"`, "zstd, lz4, snappy, gzip or none"}},
		{name: "compression lz4", env: with("KAFKA_COMPRESSION", "lz4")},
		{name: "compression snappy", env: with("KAFKA_COMPRESSION", "snappy")},
		{name: "compression gzip", env: with("KAFKA_COMPRESSION", "gzip")},
		{name: "compression none", env: with("KAFKA_COMPRESSION", "none")},
		{name: "sasl unknown", env: with("KAFKA_SASL_MECHANISM", "GSSAPI"), want: []string{`KAFKA_SASL_MECHANISM="GSSAPI"`, "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"}},
		{name: "sasl without user", env: with("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"), want: []string{"KAFKA_SASL_USERNAME is empty", `KAFKA_SASL_MECHANISM="SCRAM-SHA-512"`}},
		{name: "sasl lower case", env: with("KAFKA_SASL_MECHANISM", "plain", "KAFKA_SASL_USERNAME", "u", "KAFKA_SASL_PASSWORD", "p")},
		{name: "tls cert without key", env: with("KAFKA_TLS_CERT_FILE", "/c.pem"), want: []string{"KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE must be set together"}},
		{name: "tls key without cert", env: with("KAFKA_TLS_KEY_FILE", "/k.pem"), want: []string{"KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE must be set together"}},
		{name: "tls cert and key", env: with("KAFKA_TLS", "true", "KAFKA_TLS_CERT_FILE", "/c.pem", "KAFKA_TLS_KEY_FILE", "/k.pem")},
		{name: "registry url", env: with("SCHEMA_REGISTRY_URL", "registry:8081"), want: []string{`SCHEMA_REGISTRY_URL="registry:8081"`}},
		{name: "registry url ok", env: with("SCHEMA_REGISTRY_URL", "http://registry:8081")},

		// Pipeline.
		{name: "fleet ids at the limit", env: with("FLEET_IDS", items(100))},
		{name: "fleet ids over the limit", env: with("FLEET_IDS", items(101)), want: []string{"FLEET_IDS has 101 items", "at most 100"}},
		{name: "fleet refs over the limit", env: baseEnv(), args: []string{"--fleet-refs", items(101)}, want: []string{"FLEET_REFS has 101 items"}},
		{name: "poll interval zero", env: with("POLL_INTERVAL", "0s"), want: []string{"POLL_INTERVAL=0s", "> 0"}},
		// GAP_THRESHOLD is set here: unset, it is derived as twice the bad
		// poll interval and reported as a second problem the user never made.
		{name: "poll interval negative", env: with("POLL_INTERVAL", "-5s", "GAP_THRESHOLD", "1m"), want: []string{"POLL_INTERVAL=-5s"}},
		{name: "gap threshold negative", env: with("GAP_THRESHOLD", "-1m"), want: []string{"GAP_THRESHOLD=-1m0s"}},
		{name: "sweep interval zero", env: with("SWEEP_INTERVAL", "0s"), want: []string{"SWEEP_INTERVAL=0s"}},
		{name: "lookback zero", env: with("LOOKBACK", "0s"), want: []string{"LOOKBACK=0s", "45 days"}},
		{name: "lookback 45 days", env: with("LOOKBACK", "1080h")},
		{name: "lookback over 45 days", env: with("LOOKBACK", "1080h1s"), want: []string{"LOOKBACK=1080h0m1s", "45 days"}},
		{name: "concurrency zero", env: with("BACKFILL_CONCURRENCY", "0"), want: []string{"BACKFILL_CONCURRENCY=0", ">= 1"}},

		// Admin.
		{name: "log level unknown", env: with("LOG_LEVEL", "verbose"), want: []string{`LOG_LEVEL="verbose"`, "debug, info, warn or error"}},
		{name: "log level any case", env: with("LOG_LEVEL", "DEBUG")},
		{name: "log level warn", env: with("LOG_LEVEL", "warn")},
		{name: "log format unknown", env: with("LOG_FORMAT", "xml"), want: []string{`LOG_FORMAT="xml"`, "text or json"}},
		{name: "log format json", env: with("LOG_FORMAT", "json")},

		// Malformed values: named with the value, whatever the type.
		{name: "malformed duration", env: with("POLL_INTERVAL", "5"), want: []string{`POLL_INTERVAL="5"`, "not a duration", "30s"}},
		{name: "malformed duration word", env: with("CATENA_REQUEST_TIMEOUT", "soon"), want: []string{`CATENA_REQUEST_TIMEOUT="soon"`, "not a duration"}},
		{name: "malformed int", env: with("CATENA_PAGE_SIZE", "ten"), want: []string{`CATENA_PAGE_SIZE="ten"`, "not an integer"}},
		{name: "malformed int fraction", env: with("KAFKA_PARTITIONS", "1.5"), want: []string{`KAFKA_PARTITIONS="1.5"`, "not an integer"}},
		{name: "malformed float", env: with("CATENA_RATE_LIMIT", "abc"), want: []string{`CATENA_RATE_LIMIT="abc"`, "not a number"}},
		{name: "malformed bool", env: with("KAFKA_TLS", "yes"), want: []string{`KAFKA_TLS="yes"`, "not a boolean"}},
		{name: "malformed bool insecure", env: with("KAFKA_TLS_INSECURE_SKIP_VERIFY", "on"), want: []string{`KAFKA_TLS_INSECURE_SKIP_VERIFY="on"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.env, tc.args...)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("want no error, got:\n%v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error containing %q, got none", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			// One problem, one line: the other settings are valid.
			if n := strings.Count(err.Error(), "\n") + 1; n != 1 {
				t.Errorf("want exactly one problem reported, got %d:\n%v", n, err)
			}
		})
	}
}

// TestPrecedence checks flag > environment > default for every kind of
// setting.
func TestPrecedence(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		got  func(s *settings) any
		want any
	}{
		{"string default", baseEnv(), nil, func(s *settings) any { return s.kafka.Topic }, config.DefaultTopic},
		{"string env", with("KAFKA_TOPIC", "env.topic"), nil, func(s *settings) any { return s.kafka.Topic }, "env.topic"},
		{"string flag", with("KAFKA_TOPIC", "env.topic"), []string{"--topic", "flag.topic"}, func(s *settings) any { return s.kafka.Topic }, "flag.topic"},
		{"duration default", baseEnv(), nil, func(s *settings) any { return s.pipeline.PollInterval }, config.DefaultPollInterval},
		{"duration env", with("POLL_INTERVAL", "1m"), nil, func(s *settings) any { return s.pipeline.PollInterval }, time.Minute},
		{"duration flag", with("POLL_INTERVAL", "1m"), []string{"--poll-interval=2s"}, func(s *settings) any { return s.pipeline.PollInterval }, 2 * time.Second},
		{"int default", baseEnv(), nil, func(s *settings) any { return s.pipeline.PageSize }, 1000},
		{"int env", with("CATENA_PAGE_SIZE", "50"), nil, func(s *settings) any { return s.pipeline.PageSize }, 50},
		{"int flag", with("CATENA_PAGE_SIZE", "50"), []string{"--page-size", "7"}, func(s *settings) any { return s.pipeline.PageSize }, 7},
		{"float default", baseEnv(), nil, func(s *settings) any { return s.catena.RateLimit }, float64(config.DefaultRateLimit)},
		{"float env", with("CATENA_RATE_LIMIT", "2.5"), nil, func(s *settings) any { return s.catena.RateLimit }, 2.5},
		{"float flag", with("CATENA_RATE_LIMIT", "2.5"), []string{"--rate-limit", "0"}, func(s *settings) any { return s.catena.RateLimit }, 0.0},
		{"bool default", baseEnv(), nil, func(s *settings) any { return s.kafka.TLS }, false},
		{"bool env", with("KAFKA_TLS", "1"), nil, func(s *settings) any { return s.kafka.TLS }, true},
		{"bool flag", with("KAFKA_TLS", "true"), []string{"--tls=false"}, func(s *settings) any { return s.kafka.TLS }, false},
		{"list default", baseEnv(), nil, func(s *settings) any { return s.pipeline.FleetIDs }, []string(nil)},
		{"list env", with("FLEET_IDS", " a, b,,c ,"), nil, func(s *settings) any { return s.pipeline.FleetIDs }, []string{"a", "b", "c"}},
		{"list flag", with("FLEET_IDS", "a,b"), []string{"--fleet-ids", "x"}, func(s *settings) any { return s.pipeline.FleetIDs }, []string{"x"}},
		{"brokers env", with("KAFKA_BROKERS", "k1:1,k2:2"), nil, func(s *settings) any { return s.kafka.Brokers }, []string{"k1:1", "k2:2"}},
		{"brokers flag", with("KAFKA_BROKERS", "k1:1,k2:2"), []string{"--brokers", "k3:3"}, func(s *settings) any { return s.kafka.Brokers }, []string{"k3:3"}},
		{"admin addr default", baseEnv(), nil, func(s *settings) any { return s.admin.Addr }, ":9464"},
		{"admin addr flag empty turns it off", baseEnv(), []string{"--admin-addr="}, func(s *settings) any { return s.admin.Addr }, ""},
		{"defaults", baseEnv(), nil, func(s *settings) any {
			return []any{s.catena.APIURL, s.catena.TokenURL, s.kafka.Compression, s.kafka.Partitions, s.pipeline.SweepInterval, s.pipeline.Lookback, s.pipeline.H3Resolutions, s.admin.LogLevel, s.admin.LogFormat}
		}, []any{config.DefaultAPIURL, config.DefaultTokenURL, "snappy", 12, config.DefaultSweepInterval, config.DefaultLookback, "9,7,5", "info", "text"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := load(t, tc.env, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.got(s); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

// TestGapThresholdDefault: GAP_THRESHOLD unset is twice the poll interval,
// whichever way the poll interval was set; an explicit value stays.
func TestGapThresholdDefault(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want time.Duration
	}{
		{"default poll", baseEnv(), nil, 2 * config.DefaultPollInterval},
		{"env poll", with("POLL_INTERVAL", "100ms"), nil, 200 * time.Millisecond},
		{"flag poll", with("POLL_INTERVAL", "100ms"), []string{"--poll-interval", "5m"}, 10 * time.Minute},
		{"explicit", with("POLL_INTERVAL", "100ms", "GAP_THRESHOLD", "7m"), nil, 7 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := load(t, tc.env, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if s.pipeline.GapThreshold != tc.want {
				t.Errorf("GapThreshold = %v, want %v", s.pipeline.GapThreshold, tc.want)
			}
		})
	}
}

// TestClientSecretFileBounded: a secret file that is not a secret (a
// device that never ends, a large file) is refused after a bounded read,
// with a message naming the variable.
func TestClientSecretFileBounded(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(big, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/dev/zero", big} {
		_, err := load(t, with("CATENA_CLIENT_SECRET", "", "CATENA_CLIENT_SECRET_FILE", path))
		if err == nil || !strings.Contains(err.Error(), "CATENA_CLIENT_SECRET_FILE=") || !strings.Contains(err.Error(), "KiB") {
			t.Errorf("CATENA_CLIENT_SECRET_FILE=%s: got %v, want a bounded-size error naming the variable", path, err)
		}
	}
}

// TestClientSecretFile: the file's content, trimmed, is the secret and wins
// over CATENA_CLIENT_SECRET; an empty file is an empty secret.
func TestClientSecretFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	withNewline := write("secret", "  from-file\n\n")
	empty := write("empty", " \n")

	s, err := load(t, with("CATENA_CLIENT_SECRET", "", "CATENA_CLIENT_SECRET_FILE", withNewline))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.catena.Secret(); got != "from-file" || err != nil || s.catena.ClientSecret != "" {
		t.Errorf("secret from file = %q, %v (setting %q), want %q and the setting unchanged", got, err, s.catena.ClientSecret, "from-file")
	}

	s, err = load(t, with("CATENA_CLIENT_SECRET", "from-env"), "--client-secret-file", withNewline)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.catena.Secret(); got != "from-file" {
		t.Errorf("secret with both = %q, want the file's %q", got, "from-file")
	}

	_, err = load(t, with("CATENA_CLIENT_SECRET", "", "CATENA_CLIENT_SECRET_FILE", empty))
	if err == nil || !strings.Contains(err.Error(), "CATENA_CLIENT_SECRET_FILE=") || !strings.Contains(err.Error(), ": empty") {
		t.Errorf("empty secret file: got %v, want CATENA_CLIENT_SECRET_FILE named as empty", err)
	}

	missing := filepath.Join(dir, "missing")
	_, err = load(t, with("CATENA_CLIENT_SECRET_FILE", missing))
	if err == nil || !strings.Contains(err.Error(), "CATENA_CLIENT_SECRET_FILE=") || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing secret file: got %v, want it named", err)
	}
}

// TestAllErrorsTogether: every bad setting is in one error, and secrets are
// in none of them.
func TestAllErrorsTogether(t *testing.T) {
	env := map[string]string{
		"CATENA_CLIENT_SECRET":     "hunter2-secret",
		"KAFKA_SASL_PASSWORD":      "hunter3-secret",
		"SCHEMA_REGISTRY_PASSWORD": "hunter4-secret",
		"CATENA_RATE_LIMIT":        "abc",
		"POLL_INTERVAL":            "5",
		"KAFKA_COMPRESSION":        "brotli",
		"KAFKA_TLS":                "maybe",
		"CATENA_PAGE_SIZE":         "0",
		"LOOKBACK":                 "1081h",
		"LOG_LEVEL":                "loud",
		"LOG_FORMAT":               "yaml",
		"KAFKA_SASL_MECHANISM":     "PLAIN",
		"SCHEMA_REGISTRY_URL":      "nope",
		"LOG_FORMAT_UNUSED":        "ignored",
		"KAFKA_PARTITIONS":         "many",
		"BACKFILL_CONCURRENCY":     "-3",
		"SWEEP_INTERVAL":           "-1s",
	}
	_, err := load(t, env)
	if err == nil {
		t.Fatal("want errors")
	}
	msg := err.Error()
	for _, name := range []string{
		`CATENA_RATE_LIMIT="abc"`, `POLL_INTERVAL="5"`, `KAFKA_COMPRESSION="brotli"`, `KAFKA_TLS="maybe"`,
		"CATENA_PAGE_SIZE=0", "LOOKBACK=1081h0m0s", `LOG_LEVEL="loud"`, `LOG_FORMAT="yaml"`, "KAFKA_SASL_USERNAME is empty",
		`SCHEMA_REGISTRY_URL="nope"`, `KAFKA_PARTITIONS="many"`, "BACKFILL_CONCURRENCY=-3", "SWEEP_INTERVAL=-1s",
		"CATENA_CLIENT_ID is empty", "KAFKA_BROKERS is empty",
	} {
		if !strings.Contains(msg, name) {
			t.Errorf("error does not report %s:\n%s", name, msg)
		}
	}
	if strings.Contains(msg, "hunter") {
		t.Errorf("error contains a secret:\n%s", msg)
	}
}

// TestHelpShowsEnv: every flag's usage names its variable, and list
// defaults are shown.
func TestHelpShowsEnv(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	l := config.NewLoader(fs, getenvFrom(map[string]string{"FLEET_REFS": "r1,r2"}))
	var s settings
	s.catena.Bind(l)
	s.kafka.Bind(l)
	s.pipeline.Bind(l)
	s.admin.Bind(l)
	if l.FlagSet() != fs {
		t.Fatal("FlagSet() is not the flag set given to NewLoader")
	}
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(f.Usage, "(env ") {
			t.Errorf("--%s usage names no environment variable: %q", f.Name, f.Usage)
		}
	})
	if u := fs.Lookup("fleet-refs").Usage; !strings.Contains(u, "(env FLEET_REFS)") || !strings.Contains(u, "(default r1,r2)") {
		t.Errorf("--fleet-refs usage = %q, want its env and its default", u)
	}
}

// TestHelpHidesSecrets: a secret from the environment must not show as a
// flag default in --help output (which ends up in terminals, CI logs and
// issue reports).
func TestHelpHidesSecrets(t *testing.T) {
	env := with("CATENA_CLIENT_SECRET", "hunter2-secret", "KAFKA_SASL_PASSWORD", "hunter3-secret", "SCHEMA_REGISTRY_PASSWORD", "hunter4-secret")
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var out strings.Builder
	fs.SetOutput(&out)
	l := config.NewLoader(fs, getenvFrom(env))
	var s settings
	s.catena.Bind(l)
	s.kafka.Bind(l)
	fs.PrintDefaults()
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if s.catena.ClientSecret != "hunter2-secret" || s.kafka.SASLPassword != "hunter3-secret" || s.kafka.RegistryPassword != "hunter4-secret" {
		t.Errorf("secrets not read from the environment: %q %q %q", s.catena.ClientSecret, s.kafka.SASLPassword, s.kafka.RegistryPassword)
	}
	if strings.Contains(out.String(), "hunter") {
		t.Errorf("--help shows a secret from the environment:\n%s", out.String())
	}
}

// TestLoaderKinds covers the kinds the groups of this package do not use
// (Int64) and the loader without an environment variable.
func TestLoaderKinds(t *testing.T) {
	env := map[string]string{"SEED": "9007199254740993", "BAD_SEED": "x", "BIG_INT": "99999999999999999999"}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	l := config.NewLoader(fs, getenvFrom(env))
	var seed, bad int64
	var big int
	var noEnv time.Duration
	l.Int64(&seed, "seed", "SEED", 1, "seed")
	l.Int64(&bad, "bad-seed", "BAD_SEED", 1, "seed")
	l.Int(&big, "big", "BIG_INT", 1, "big")
	l.Duration(&noEnv, "live", "", time.Second, "no env")
	if err := fs.Parse([]string{"--live", "3s"}); err != nil {
		t.Fatal(err)
	}
	if seed != 9007199254740993 {
		t.Errorf("seed = %d", seed)
	}
	if noEnv != 3*time.Second {
		t.Errorf("live = %v", noEnv)
	}
	if u := fs.Lookup("live").Usage; strings.Contains(u, "(env") {
		t.Errorf("usage of a setting without a variable mentions one: %q", u)
	}
	err := l.Err()
	if err == nil {
		t.Fatal("want errors for BAD_SEED and BIG_INT")
	}
	for _, w := range []string{`BAD_SEED="x": not an integer`, `BIG_INT="99999999999999999999": not an integer`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not contain %q:\n%v", w, err)
		}
	}
	if bad != 1 || big != 1 {
		t.Errorf("malformed values replaced the defaults: bad-seed %d, big %d", bad, big)
	}
}

func TestTxnID(t *testing.T) {
	k := config.Kafka{Topic: "t1"}
	if got := k.TxnID("run-ab12"); got != "catena-bridge-t1-run-ab12" {
		t.Errorf("derived TxnID = %q", got)
	}
	k.TransactionalID = "mine"
	if got := k.TxnID("run-ab12"); got != "mine" {
		t.Errorf("configured TxnID = %q", got)
	}
}

func TestSplitList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{",", nil},
		{" , ,", nil},
		{"a", []string{"a"}},
		{"a,b", []string{"a", "b"}},
		{" a , b ,", []string{"a", "b"}},
		{"a,,b", []string{"a", "b"}},
		{"host:9092,\thost2:9092\n", []string{"host:9092", "host2:9092"}},
	} {
		if got := config.SplitList(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SplitList(%q) = %#v, want %#v", tc.in, got, tc.want)
		}
	}
}
