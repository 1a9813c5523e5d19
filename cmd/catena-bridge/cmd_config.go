package main

import (
	"context"
	"fmt"
	"io"

	"github.com/catena-bridge/catena-bridge/internal/config"
)

func cmdConfig(ctx context.Context, e *env, args []string) int {
	name := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		name, args = args[0], args[1:]
	}
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		fmt.Fprint(e.stdout, `Usage: catena-bridge config [command] [flags]

Prints the settings of command (default run) in effect, one VAR=value line each,
followed by where the value comes from: flag, env or default. Flags and the
environment are read exactly as the command reads them. Secrets (and passwords in
URLs) are masked. When the settings are invalid, every error is printed at once and
the exit code is 2, as the command itself would exit; nothing is started.

  catena-bridge config run --rate-limit 10
  KAFKA_BROKERS=kafka:9092 catena-bridge config backfill --from 2026-11-01T00:00:00Z
`)
		return exitOK
	}
	for _, c := range commands {
		if c.name != name || name == "config" || name == "version" {
			continue
		}
		ce := *e
		ce.showConfig = true
		return c.run(ctx, &ce, args)
	}
	fmt.Fprintf(e.stderr, "catena-bridge config: unknown command %q\n", name)
	return exitUsage
}

// printSettings prints each setting as VAR=value with its source; a
// setting without an environment variable shows as --flag=value.
func printSettings(w io.Writer, l *config.Loader) {
	if l == nil {
		return
	}
	for _, s := range l.Settings() {
		name := s.Env
		if name == "" {
			name = "--" + s.Flag
		}
		fmt.Fprintf(w, "%s=%s  # %s\n", name, s.Value, s.Source)
	}
}
