package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfig: `config <command>` prints every setting of the command as
// VAR=value with its source, secrets masked, and starts nothing; invalid
// settings exit 2 with every error at once, as the command would.
func TestConfig(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("file-s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	valid := map[string]string{
		"CATENA_CLIENT_ID": "client", "CATENA_CLIENT_SECRET": "env-s3cret", "KAFKA_BROKERS": "kafka:9092",
		"SCHEMA_REGISTRY_URL": "https://user:url-s3cret@registry:8081", "KAFKA_SASL_PASSWORD": "sasl-s3cret",
		"POLL_INTERVAL": "15s",
	}
	for _, tc := range []struct {
		name     string
		env      map[string]string
		args     []string
		code     int
		want     []string // lines or fragments of stdout (code 0) or stderr
		notWant  []string // never in stdout or stderr
		wantNone bool     // nothing on stdout
	}{
		{name: "run by default", env: valid, args: []string{"config", "--rate-limit", "10"}, code: exitOK, want: []string{
			"CATENA_RATE_LIMIT=10  # flag\n", "POLL_INTERVAL=15s  # env\n", "SWEEP_INTERVAL=10m0s  # default\n",
			"GAP_THRESHOLD=30s  # default\n", // derived: 2 × POLL_INTERVAL
			"CATENA_CLIENT_SECRET=****  # env\n", "KAFKA_SASL_PASSWORD=****  # env\n",
			"SCHEMA_REGISTRY_URL=https://user:xxxxx@registry:8081  # env\n", "STANDBY=false  # default\n",
		}, notWant: []string{"s3cret"}},
		{name: "secret from a file", env: map[string]string{"CATENA_CLIENT_ID": "c", "CATENA_CLIENT_SECRET_FILE": secretFile, "KAFKA_BROKERS": "k:9092"},
			args: []string{"config", "backfill", "--from", "2026-11-01T00:00:00Z"}, code: exitOK,
			want:    []string{"CATENA_CLIENT_SECRET=  # default\n", "CATENA_CLIENT_SECRET_FILE=" + secretFile + "  # env\n", "BACKFILL_CONCURRENCY=8  # default\n"},
			notWant: []string{"s3cret"}},
		{name: "tail", env: map[string]string{"KAFKA_BROKERS": "k:9092"}, args: []string{"config", "tail"}, code: exitOK,
			want: []string{"KAFKA_BROKERS=k:9092  # env\n", "KAFKA_TOPIC=catena.vehicle_locations.v1  # default\n"}},
		{name: "every error at once", env: map[string]string{"POLL_INTERVAL": "soon", "CATENA_CLIENT_SECRET": "env-s3cret"}, args: []string{"config", "run", "--lookback", "-1h"},
			code: exitUsage, wantNone: true,
			want:    []string{`POLL_INTERVAL="soon"`, "CATENA_CLIENT_ID is empty", "KAFKA_BROKERS is empty", "LOOKBACK"},
			notWant: []string{"s3cret"}},
		{name: "unknown command", args: []string{"config", "nope"}, code: exitUsage, wantNone: true, want: []string{`unknown command "nope"`}},
		{name: "help", args: []string{"config", "--help"}, code: exitOK, want: []string{"Usage: catena-bridge config [command]", "flag, env or default"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := cli(context.Background(), tc.env, tc.args...)
			out := stdout
			if tc.code != exitOK {
				out = stderr
			}
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, nw := range tc.notWant {
				if strings.Contains(stdout+stderr, nw) {
					t.Errorf("output shows %q:\n%s%s", nw, stdout, stderr)
				}
			}
			if tc.wantNone && stdout != "" {
				t.Errorf("stdout not empty: %q", stdout)
			}
		})
	}
}
