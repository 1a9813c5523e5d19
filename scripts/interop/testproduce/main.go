// Command testproduce checks scripts/interop/consume.py against records that
// Go clients wrote: it serves a fake Schema Registry (franz-go srfake) on a
// fixed port, registers the event schema, produces Confluent-framed Avro
// (hamba/avro) records keyed by fleet_id with a catena-id header,
// transactionally, to a fresh topic on a real broker, and then runs the Python
// checker against topic and registry, exiting with the checker's status.
//
// Two committed transactions carry the expected events; an aborted one between
// them repeats some of their ids, so a reader that is not read_committed
// reports duplicates. -fault breaks one committed record on purpose (key,
// header, partition, duplicate or frame) to prove the checker catches it: the
// checker must then exit non-zero, and testproduce inverts that, exiting 0
// only if the fault was reported.
//
//	go run ./scripts/interop/testproduce -brokers 127.0.0.1:29092 \
//	    -python .cache/venv/bin/python [-fault partition]
//
// Without -python it prints the topic and registry URL and keeps serving the
// registry until interrupted, for running consume.py by hand.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

func main() {
	os.Exit(run())
}

func run() int {
	var (
		brokers      = flag.String("brokers", envOr("KAFKA_BROKERS", "127.0.0.1:29092"), "seed brokers (default $KAFKA_BROKERS or 127.0.0.1:29092)")
		registryAddr = flag.String("registry-addr", "127.0.0.1:28081", "listen address of the fake Schema Registry")
		schemaPath   = flag.String("schema", filepath.Join(repoRoot(), "schemas", "vehicle_location.avsc"), "Avro schema of the events (.avsc)")
		topic        = flag.String("topic", fmt.Sprintf("interop-%d", time.Now().UnixNano()), "topic to create and fill")
		partitions   = flag.Int("partitions", 6, "partitions of the topic")
		n            = flag.Int("n", 40, "committed events to produce (two transactions)")
		fleets       = flag.Int("fleets", 7, "distinct fleet ids (keys)")
		fault        = flag.String("fault", "", "break one committed record: key|header|partition|duplicate|frame")
		python       = flag.String("python", os.Getenv("INTEROP_PYTHON"), "python with the interop venv; empty: serve the registry until interrupted")
		consume      = flag.String("consume", filepath.Join(repoRoot(), "scripts", "interop", "consume.py"), "path of consume.py")
	)
	flag.Parse()
	switch *fault {
	case "", "key", "header", "partition", "duplicate", "frame":
	default:
		fmt.Fprintf(os.Stderr, "testproduce: -fault %q: want key, header, partition, duplicate or frame\n", *fault)
		return 2
	}

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()

	schemaText, err := os.ReadFile(*schemaPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testproduce: read schema: %v\n", err)
		return 2
	}
	reg := srfake.NewRegistry()
	id, _, err := reg.RegisterSchema(*topic+"-value", sr.Schema{Schema: string(schemaText), Type: sr.TypeAvro})
	if err != nil {
		fmt.Fprintf(os.Stderr, "testproduce: register schema: %v\n", err)
		return 1
	}
	ln, err := net.Listen("tcp", *registryAddr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testproduce: registry listen %s: %v\n", *registryAddr, err)
		return 1
	}
	srv := &http.Server{Handler: reg.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	registryURL := "http://" + ln.Addr().String()

	p := producer{
		seeds:      strings.Split(*brokers, ","),
		topic:      *topic,
		partitions: *partitions,
		schemaID:   id,
		schemaText: string(schemaText),
		fault:      *fault,
	}
	if err := p.run(ctx, *n, *fleets); err != nil {
		fmt.Fprintf(os.Stderr, "testproduce: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "testproduce: %d events committed to %s (%d partitions), schema id %d at %s\n", *n, *topic, *partitions, id, registryURL)

	if *python == "" {
		fmt.Fprintf(os.Stderr, "testproduce: serving the registry until interrupted; run:\n  consume.py --brokers %s --topic %s --registry %s --expect-count %d\n", *brokers, *topic, registryURL, *n)
		<-ctx.Done()
		return 0
	}
	cmd := exec.CommandContext(ctx, *python, *consume,
		"--brokers", *brokers, "--topic", *topic, "--registry", registryURL, "--expect-count", strconv.Itoa(*n))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil && *fault == "":
		return 0
	case err == nil:
		fmt.Fprintf(os.Stderr, "testproduce: consume.py passed although -fault %s broke a record\n", *fault)
		return 1
	case errors.As(err, &exit) && exit.ExitCode() == 1 && *fault != "":
		fmt.Fprintf(os.Stderr, "testproduce: consume.py reported the %s fault, as it must\n", *fault)
		return 0
	default:
		fmt.Fprintf(os.Stderr, "testproduce: consume.py: %v\n", err)
		return 1
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// repoRoot is the repository root, found from this file's location when run
// with go run, else the working directory.
func repoRoot() string {
	if _, file, _, ok := runtime.Caller(0); ok {
		if root := filepath.Join(filepath.Dir(file), "..", "..", ".."); exists(filepath.Join(root, "go.mod")) {
			return filepath.Clean(root)
		}
	}
	return "."
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
