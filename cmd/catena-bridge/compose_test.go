package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
	"go.yaml.in/yaml/v3"

	"github.com/catena-bridge/catena-bridge/internal/avro"
	"github.com/catena-bridge/catena-bridge/internal/sink"
	"github.com/catena-bridge/catena-bridge/schemas"
)

// composePath is the repository's docker-compose.yml, seen from this package.
const composePath = "../../docker-compose.yml"

// composeFile is the part of a Compose file these tests read.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Image       string                      `yaml:"image"`
	Build       any                         `yaml:"build"`
	Command     []string                    `yaml:"command"`
	Environment composeEnv                  `yaml:"environment"`
	Ports       []string                    `yaml:"ports"`
	Restart     string                      `yaml:"restart"`
	DependsOn   map[string]composeDependsOn `yaml:"depends_on"`
	Healthcheck *composeHealthcheck         `yaml:"healthcheck"`
}

type composeDependsOn struct {
	Condition string `yaml:"condition"`
}

type composeHealthcheck struct {
	Test        []string `yaml:"test"`
	Interval    string   `yaml:"interval"`
	Timeout     string   `yaml:"timeout"`
	Retries     int      `yaml:"retries"`
	StartPeriod string   `yaml:"start_period"`
}

// composeEnv is a service's environment, written as a map or as a list of
// KEY=VALUE strings (Compose accepts both).
type composeEnv map[string]string

func (e *composeEnv) UnmarshalYAML(n *yaml.Node) error {
	*e = composeEnv{}
	switch n.Kind {
	case yaml.MappingNode:
		var m map[string]string
		if err := n.Decode(&m); err != nil {
			return err
		}
		for k, v := range m {
			(*e)[k] = v
		}
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		for _, kv := range l {
			k, v, _ := strings.Cut(kv, "=")
			(*e)[k] = v
		}
	default:
		return fmt.Errorf("line %d: environment is neither a map nor a list", n.Line)
	}
	return nil
}

// fromRepo reports whether the service is built from this repository
// (`build: .`, or a build section whose context is "."): its image runs
// catena-bridge with the service's command as arguments.
func (s composeService) fromRepo() bool {
	switch b := s.Build.(type) {
	case string:
		return b == "." || b == "./"
	case map[string]any:
		c, _ := b["context"].(string)
		return c == "." || c == "./"
	}
	return false
}

// containerPorts returns the container ports the service publishes
// ("HOST:CONTAINER", "CONTAINER" or with an IP in front; no ranges).
func (s composeService) containerPorts(t *testing.T) []string {
	var ports []string
	for _, p := range s.Ports {
		p, _, _ = strings.Cut(p, "/") // "8085:8085/tcp"
		parts := strings.Split(p, ":")
		c := parts[len(parts)-1]
		if _, err := strconv.Atoi(c); err != nil {
			t.Fatalf("port %q: container port %q is not a number", p, c)
		}
		ports = append(ports, c)
	}
	return ports
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", composePath, err)
	}
	if len(f.Services) == 0 {
		t.Fatalf("%s: no services", composePath)
	}
	return f
}

// repoServices returns the names of the services built from this
// repository, in start order (each after the ones it depends on).
func (f composeFile) repoServices(t *testing.T) []string {
	var names []string
	for name, s := range f.Services {
		if s.fromRepo() {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var order []string
	done := map[string]bool{}
	var visit func(name string, depth int)
	visit = func(name string, depth int) {
		if done[name] {
			return
		}
		if depth > len(f.Services) {
			t.Fatalf("depends_on has a cycle through %q", name)
		}
		deps := make([]string, 0, len(f.Services[name].DependsOn))
		for d := range f.Services[name].DependsOn {
			deps = append(deps, d)
		}
		slices.Sort(deps)
		for _, d := range deps {
			if f.Services[d].fromRepo() {
				visit(d, depth+1)
			}
		}
		done[name] = true
		order = append(order, name)
	}
	for _, n := range names {
		visit(n, 0)
	}
	return order
}

// flagValue returns the value of --name (or -name) in args, as "--name v"
// or "--name=v".
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		for _, p := range []string{"--" + name, "-" + name} {
			if a == p && i+1 < len(args) {
				return args[i+1], true
			}
			if v, ok := strings.CutPrefix(a, p+"="); ok {
				return v, true
			}
		}
	}
	return "", false
}

var (
	redpandaImage = regexp.MustCompile(`^docker\.redpanda\.com/redpandadata/redpanda:v(\d+)\.(\d+)\.(\d+)$`)
	consoleImage  = regexp.MustCompile(`^docker\.redpanda\.com/redpandadata/console:v(\d+)\.(\d+)\.(\d+)$`)
)

// TestComposeFile checks docker-compose.yml without Docker: current pinned
// images, a healthcheck that waits for a healthy cluster, Console wired to
// the broker and the registry the bridge uses, a restart policy everywhere,
// and a simulator on the bridge's clock.
func TestComposeFile(t *testing.T) {
	f := loadCompose(t)
	rp, ok := f.Services["redpanda"]
	if !ok {
		t.Fatal("no redpanda service")
	}

	// Redpanda: a pinned release no older than v25 (v24.2 reached end of life
	// on 2025-07-31).
	if m := redpandaImage.FindStringSubmatch(rp.Image); m == nil {
		t.Errorf("redpanda image %q: want docker.redpanda.com/redpandadata/redpanda:vX.Y.Z", rp.Image)
	} else if major, _ := strconv.Atoi(m[1]); major < 25 {
		t.Errorf("redpanda image %q: want v25 or newer", rp.Image)
	}

	// The healthcheck must wait for a healthy cluster, not return after the
	// first report, and give a starting broker time.
	if hc := rp.Healthcheck; hc == nil {
		t.Error("redpanda has no healthcheck")
	} else {
		want := []string{"CMD", "rpk", "cluster", "health", "--watch", "--exit-when-healthy"}
		if !slices.Equal(hc.Test, want) {
			t.Errorf("redpanda healthcheck test = %q, want %q", hc.Test, want)
		}
		for name, v := range map[string]string{"interval": hc.Interval, "timeout": hc.Timeout, "start_period": hc.StartPeriod} {
			if d, err := time.ParseDuration(v); err != nil || d <= 0 {
				t.Errorf("redpanda healthcheck %s = %q: want a positive duration", name, v)
			}
		}
		if hc.Retries < 3 {
			t.Errorf("redpanda healthcheck retries = %d, want at least 3", hc.Retries)
		}
	}

	// The broker and registry addresses other containers use.
	kafkaAddr := internalListener(t, rp.Command, "advertise-kafka-addr")
	registryPort := listenerPort(t, rp.Command, "schema-registry-addr")
	registryURL := "http://redpanda:" + registryPort

	// Console: present, pinned, pointed at the same broker and registry.
	console, ok := f.Services["console"]
	if !ok {
		t.Error("no console service (Redpanda Console)")
	} else {
		if m := consoleImage.FindStringSubmatch(console.Image); m == nil {
			t.Errorf("console image %q: want docker.redpanda.com/redpandadata/console:vX.Y.Z", console.Image)
		} else if major, _ := strconv.Atoi(m[1]); major < 3 {
			t.Errorf("console image %q: want v3 or newer (its configuration keys are v3's)", console.Image)
		}
		env := console.Environment
		if env["KAFKA_BROKERS"] != kafkaAddr {
			t.Errorf("console KAFKA_BROKERS = %q, want the broker's internal address %q", env["KAFKA_BROKERS"], kafkaAddr)
		}
		if env["SCHEMAREGISTRY_ENABLED"] != "true" || env["SCHEMAREGISTRY_URLS"] != registryURL {
			t.Errorf("console SCHEMAREGISTRY_ENABLED = %q, SCHEMAREGISTRY_URLS = %q; want true and %q",
				env["SCHEMAREGISTRY_ENABLED"], env["SCHEMAREGISTRY_URLS"], registryURL)
		}
		if console.DependsOn["redpanda"].Condition != "service_healthy" {
			t.Error("console does not wait for a healthy redpanda (depends_on condition service_healthy)")
		}
	}

	for name, s := range f.Services {
		if s.Restart != "unless-stopped" {
			t.Errorf("service %s: restart = %q, want unless-stopped", name, s.Restart)
		}
	}

	repo := f.repoServices(t)
	var sims, bridges []string
	for _, name := range repo {
		s := f.Services[name]
		if len(s.Command) == 0 {
			t.Errorf("service %s: no command (the image's entrypoint is catena-bridge)", name)
			continue
		}
		switch s.Command[0] {
		case "sim":
			sims = append(sims, name)
		case "run":
			bridges = append(bridges, name)
		}
		// Every published port is one the service listens on.
		for _, p := range s.containerPorts(t) {
			if !slices.ContainsFunc(listenAddrs(s), func(a string) bool { return strings.HasSuffix(a, ":"+p) }) {
				t.Errorf("service %s publishes %s, which none of its listen addresses %q uses", name, p, listenAddrs(s))
			}
		}
	}
	if len(sims) != 1 || len(bridges) != 1 {
		t.Fatalf("services built from the repository: sim %q, run %q; want one of each", sims, bridges)
	}
	sim, bridge := f.Services[sims[0]], f.Services[bridges[0]]

	// One clock: `run` tails on the wall clock, so the simulator must too.
	if v, ok := flagValue(sim.Command, "speed"); ok && v != "1" {
		t.Errorf("service %s runs the simulator at --speed %s; the bridge uses the wall clock (speed 1)", sims[0], v)
	}
	if v, ok := sim.Environment["SIM_SPEED"]; ok && v != "1" {
		t.Errorf("service %s sets SIM_SPEED=%s; the bridge uses the wall clock (speed 1)", sims[0], v)
	}

	// The bridge talks to this broker, registry and simulator.
	env := bridge.Environment
	if env["KAFKA_BROKERS"] != kafkaAddr {
		t.Errorf("bridge KAFKA_BROKERS = %q, want %q", env["KAFKA_BROKERS"], kafkaAddr)
	}
	if env["SCHEMA_REGISTRY_URL"] != registryURL {
		t.Errorf("bridge SCHEMA_REGISTRY_URL = %q, want %q", env["SCHEMA_REGISTRY_URL"], registryURL)
	}
	simAddr, _ := flagValue(sim.Command, "addr")
	_, simPort, _ := net.SplitHostPort(simAddr)
	api := "http://" + sims[0] + ":" + simPort
	if env["CATENA_API_URL"] != api || env["CATENA_TOKEN_URL"] != api+"/realms/catena/protocol/openid-connect/token" {
		t.Errorf("bridge CATENA_API_URL = %q, CATENA_TOKEN_URL = %q; want the %s service at %s", env["CATENA_API_URL"], env["CATENA_TOKEN_URL"], sims[0], api)
	}
	for dep, cond := range map[string]string{"redpanda": "service_healthy", sims[0]: "service_started"} {
		if bridge.DependsOn[dep].Condition != cond {
			t.Errorf("bridge depends_on %s: condition %q, want %q", dep, bridge.DependsOn[dep].Condition, cond)
		}
	}
}

// internalListener returns the host:port of the "internal://" listener in
// the --flag=... argument of a redpanda command.
func internalListener(t *testing.T, cmd []string, flag string) string {
	t.Helper()
	v, ok := flagValue(cmd, flag)
	if !ok {
		t.Fatalf("redpanda command has no --%s", flag)
	}
	for l := range strings.SplitSeq(v, ",") {
		if a, ok := strings.CutPrefix(l, "internal://"); ok {
			return a
		}
	}
	t.Fatalf("redpanda --%s=%s: no internal:// listener", flag, v)
	return ""
}

func listenerPort(t *testing.T, cmd []string, flag string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(internalListener(t, cmd, flag))
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// listenAddrs returns the addresses a catena-bridge service listens on: the
// simulator's --addr, the bridge's ADMIN_ADDR and WEBHOOK_ADDR.
func listenAddrs(s composeService) []string {
	var addrs []string
	if a, ok := flagValue(s.Command, "addr"); ok {
		addrs = append(addrs, a)
	}
	for _, k := range []string{"ADMIN_ADDR", "WEBHOOK_ADDR"} {
		if a := s.Environment[k]; a != "" {
			addrs = append(addrs, a)
		}
	}
	return addrs
}

// freeAddr returns a 127.0.0.1 address with a port nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestComposeServices runs docker-compose.yml's catena-bridge services
// without Docker: each service built from this repository (sim, bridge) runs,
// in depends_on order, as a local process of catena-bridge (this test binary,
// built from the same source, which TestMain turns into catena-bridge as the
// crash tests do) with the service's command and environment, and the names
// the containers would reach each other by are mapped to local addresses:
// redpanda:9092 to the real broker in KAFKA_BROKERS, redpanda:8081 to an
// in-process registry (srfake), <service>:<port> and 0.0.0.0:<port> of a
// published port to a free port on 127.0.0.1. The one addition is
// KAFKA_TOPIC: a fresh topic per run, since the broker is shared. The bridge
// must turn /readyz 200 and publish committed events that decode with the
// schema it registered; then each service must exit 0 on SIGTERM.
func TestComposeServices(t *testing.T) {
	brokers := os.Getenv("KAFKA_BROKERS")
	if brokers == "" {
		t.Skip("KAFKA_BROKERS unset: the compose services run against a real broker (make test-kafka, CI)")
	}
	if testing.Short() {
		t.Skip("-short: runs the compose services as child processes")
	}
	f := loadCompose(t)
	rp := f.Services["redpanda"]
	registry := srfake.New()
	t.Cleanup(registry.Close)
	regHost := strings.TrimPrefix(registry.URL(), "http://")

	// What the service names resolve to here.
	hosts := map[string]string{
		internalListener(t, rp.Command, "advertise-kafka-addr"):           brokers,
		"redpanda:" + listenerPort(t, rp.Command, "schema-registry-addr"): regHost,
	}
	order := f.repoServices(t)
	local := map[string]map[string]string{} // service → "0.0.0.0:port" → 127.0.0.1:free
	for _, name := range order {
		local[name] = map[string]string{}
		for _, p := range f.Services[name].containerPorts(t) {
			a := freeAddr(t)
			hosts[name+":"+p] = a
			local[name]["0.0.0.0:"+p] = a
			local[name][":"+p] = a
		}
	}
	rewrite := func(service, v string) string {
		if a, ok := local[service][v]; ok {
			return a
		}
		for from, to := range hosts {
			v = strings.ReplaceAll(v, from, to)
		}
		return v
	}

	var b [4]byte
	rand.Read(b[:])
	topic := "compose." + hex.EncodeToString(b[:]) // a shared broker: a fresh topic per run
	start := time.Now()
	var bridges, procs []*child
	for _, name := range order {
		s := f.Services[name]
		args := make([]string, len(s.Command))
		for i, a := range s.Command {
			args[i] = rewrite(name, a)
		}
		// The container's environment: the image's (none that the bridge
		// reads) and the service's; here also what a Go child needs.
		env := []string{"CATENA_BRIDGE_CHILD=1", "KAFKA_TOPIC=" + topic}
		for _, k := range []string{"PATH", "HOME", "TMPDIR", "GORACE", "GOCOVERDIR"} {
			if v, ok := os.LookupEnv(k); ok {
				env = append(env, k+"="+v)
			}
		}
		keys := make([]string, 0, len(s.Environment))
		for k := range s.Environment {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			env = append(env, k+"="+rewrite(name, s.Environment[k]))
		}
		c := startService(t, name, env, args)
		procs = append(procs, c)
		t.Logf("service %s: catena-bridge %s; environment %q", name, strings.Join(args, " "), env[len(env)-len(keys):])
		switch args[0] {
		case "sim":
			addr, _ := flagValue(args, "addr")
			waitListening(t, c, addr, 30*time.Second)
		case "run":
			c.admin = rewrite(name, s.Environment["ADMIN_ADDR"])
			bridges = append(bridges, c)
		}
	}
	if len(bridges) != 1 {
		t.Fatalf("%d services run the bridge (command run), want 1", len(bridges))
	}
	bridge := bridges[0]

	// /readyz 200 within a bound: the broker is up, the topic made, the
	// schema registered, the first snapshot on its way.
	const readyBound = 60 * time.Second
	ready := bridge.waitReadyz(t, http.StatusOK, "", readyBound)
	t.Logf("bridge /readyz 200 after %.1fs", ready.Seconds())

	// Events: committed (read_committed), decodable with the schema the
	// bridge registered in the registry.
	r, err := sink.NewReader(sink.Config{Brokers: strings.Split(brokers, ","), Topic: topic})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	codec, err := avro.NewCodec(schemas.VehicleLocation)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := sr.NewClient(sr.URLs(registry.URL()))
	if err != nil {
		t.Fatal(err)
	}
	dec := avro.NewDecoder(reg, codec)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var events []*kgo.Record
	for len(events) == 0 {
		if err := r.ReadAll(ctx, topic, func(rec *kgo.Record) { events = append(events, rec) }); err != nil {
			t.Fatalf("read %s: %v; bridge output:\n%s", topic, err, bridge.stderr)
		}
		if len(events) == 0 {
			select {
			case <-ctx.Done():
				t.Fatalf("no committed event in %s within 2m; bridge output:\n%s", topic, bridge.stderr)
			case <-bridge.done:
				t.Fatalf("bridge exited (%d) before publishing; output:\n%s", bridge.code, bridge.stderr)
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	for _, rec := range events {
		ev, err := dec.Decode(ctx, rec.Value)
		if err != nil {
			t.Fatalf("event at partition %d offset %d: %v", rec.Partition, rec.Offset, err)
		}
		if id, _ := ev["id"].(string); id == "" || string(rec.Key) == "" {
			t.Fatalf("event at partition %d offset %d: id %q, key %q", rec.Partition, rec.Offset, ev["id"], rec.Key)
		}
	}
	t.Logf("%d committed events decoded after %.1fs", len(events), time.Since(start).Seconds())

	// `docker compose down` stops the services with SIGTERM, dependants
	// first: each exits 0.
	for i := len(order) - 1; i >= 0; i-- {
		c := procs[i]
		c.cmd.Process.Signal(syscall.SIGTERM)
		if code := c.wait(t, time.Minute); code != 0 {
			t.Errorf("service %s: exit %d on SIGTERM; output:\n%s", order[i], code, c.stderr)
		}
	}
	t.Logf("services stopped after %.1fs", time.Since(start).Seconds())
}

// startService starts this test binary as catena-bridge with args and
// exactly env; it is killed when the test ends.
func startService(t *testing.T, name string, env, args []string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = env
	c := &child{cmd: cmd, stderr: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stdout = c.stderr
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("service %s: %v", name, err)
	}
	go func() {
		cmd.Wait()
		c.code = cmd.ProcessState.ExitCode()
		close(c.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-c.done
		if t.Failed() {
			t.Logf("service %s output:\n%s", name, c.stderr)
		}
	})
	return c
}

// waitListening waits until addr accepts connections, failing if the
// process exits first.
func waitListening(t *testing.T, c *child, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			return
		}
		select {
		case <-c.done:
			t.Fatalf("exited (%d) before listening on %s; output:\n%s", c.code, addr, c.stderr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("not listening on %s within %v; output:\n%s", addr, timeout, c.stderr)
		}
	}
}
