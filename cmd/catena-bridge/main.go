// Command catena-bridge streams vehicle locations from the Catena Telematics
// API into Kafka, exactly once, as Avro events keyed by fleet_id.
//
// Run `catena-bridge help` for the commands; `catena-bridge <command> --help`
// for each command's flags and environment variables.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"syscall"

	"github.com/catena-bridge/catena-bridge/internal/config"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the work failed: API, broker, fencing
	exitUsage   = 2 // bad usage or configuration
)

// defaultMemoryLimit is the Go runtime's soft memory limit unless GOMEMLIMIT
// is set: a restart reads the topics back, and the records it drops are
// garbage the collector would otherwise let grow to twice the live heap.
const defaultMemoryLimit = 200 << 20

// defaultGCPercent is the collector's GOGC unless GOGC is set. A record
// leaves about 2 KB of garbage behind (its decoded strings, the page's event
// arena, the producer's records), and at Go's default of 100 collections
// are about a tenth of a backfill's CPU. Interleaved make bench-cpu runs
// (300,000 records into kfake, four rounds, the machine shared) gave, per
// record and peak RSS: GOGC 100 5.97-6.35 µs, 123-129 MiB; 150 5.56-5.89
// µs, 141-148 MiB; 200 5.43-6.24 µs, 170-180 MiB. 150 has the gain for the
// least memory. The memory limit above still applies: a bridge near it
// collects as often as it must.
const defaultGCPercent = 150

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(realMain(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *env, args []string) int
}

// env is what a command runs with: its streams and the environment.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string

	// showConfig makes a command print its settings and stop once they
	// are valid (catena-bridge config <command>).
	showConfig bool
	loaders    map[*flag.FlagSet]*config.Loader
}

// newLoader returns a config.Loader over fs and the environment, which
// parse finds again to print the settings.
func (e *env) newLoader(fs *flag.FlagSet) *config.Loader {
	l := config.NewLoader(fs, e.getenv)
	if e.loaders == nil {
		e.loaders = map[*flag.FlagSet]*config.Loader{}
	}
	e.loaders[fs] = l
	return l
}

var commands = []command{
	{"run", "tail the API live and publish new locations until stopped", cmdRun},
	{"backfill", "publish every vehicle's history over a time range, then exit", cmdBackfill},
	{"tail", "print the topic's events as JSON lines, decoded as consumers see them", cmdTail},
	{"ledger", "list the jobs that claimed the topic's records; release a retired live tail", cmdLedger},
	{"demo", "simulated API + in-process Kafka and registry: backfill, tail live, report", cmdDemo},
	{"sim", "serve the simulated Catena API (for docker compose and local runs)", cmdSim},
	{"invite", "create a fleet invitation and print its magic link", cmdInvite},
	{"webhooks", "subscribe to Catena webhooks; list, activate, pause, replay subscriptions", cmdWebhooks},
	{"version", "print the version", cmdVersion},
}

// config is added by init: it runs the other commands.
func init() {
	cfg := command{"config", "print a command's settings in effect and where each comes from; check them", cmdConfig}
	commands = slices.Insert(commands, len(commands)-1, cfg)
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func realMain(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	e := &env{stdout: stdout, stderr: stderr, getenv: getenv}
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, e, args[1:])
		}
	}
	fmt.Fprintf(stderr, "catena-bridge: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, `catena-bridge streams vehicle locations from the Catena Telematics API into Kafka:
OAuth2 client credentials, paged vehicle-locations, dedup on record id, H3 enrichment,
Avro (Schema Registry) events keyed by fleet_id, exactly once via Kafka transactions,
bad records in <topic>.dlq.

Usage: catena-bridge <command> [flags]

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Most flags have an environment variable (shown in each command's --help); flags win.
Durations use Go's syntax: 500ms, 30s, 10m.

Start here:  catena-bridge demo
`)
}

// parse parses a command's flags. It returns false and the exit code when the
// command should stop: --help (0) or bad usage or configuration (2).
func parse(e *env, fs *flag.FlagSet, args []string, configErr func() error) (int, bool) {
	fs.SetOutput(e.stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitUsage, false
	}
	if configErr != nil {
		if err := configErr(); err != nil {
			fmt.Fprintf(e.stderr, "%s: configuration:\n%s\n", fs.Name(), indent(err.Error()))
			return exitUsage, false
		}
	}
	if e.showConfig {
		printSettings(e.stdout, e.loaders[fs])
		return exitOK, false
	}
	return exitOK, true
}

func indent(s string) string {
	out := "  "
	for _, r := range s {
		out += string(r)
		if r == '\n' {
			out += "  "
		}
	}
	return out
}

func newFlagSet(e *env, name, synopsis, help string) *flag.FlagSet {
	fs := flag.NewFlagSet("catena-bridge "+name, flag.ContinueOnError)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: catena-bridge %s %s\n\n%s\nFlags:\n", name, synopsis, help)
		fs.PrintDefaults()
	}
	return fs
}

func cmdVersion(_ context.Context, e *env, _ []string) int {
	fmt.Fprintln(e.stdout, "catena-bridge", version)
	return exitOK
}
