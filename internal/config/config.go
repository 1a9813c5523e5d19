// Package config owns catena-bridge's settings: their defaults, how they are
// read from flags and the environment, and their validation.
//
// Every setting has a flag and, where it is part of the product's interface,
// an environment variable (flag > environment > default). Validate returns
// every problem at once, each naming the variable and the value, so a bad
// deployment fails at start with a message a user can act on. Durations use
// Go's syntax: 500ms, 30s, 10m.
package config

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"
)

// Defaults of the product. They are documented in the README; change both.
const (
	DefaultAPIURL        = "https://api.catenatelematics.com"
	DefaultTokenURL      = "https://auth.catenatelematics.com/realms/catena/protocol/openid-connect/token"
	DefaultTopic         = "catena.vehicle_locations.v1"
	DefaultRateLimit     = 25
	DefaultPollInterval  = 30 * time.Second
	DefaultSweepInterval = 10 * time.Minute
	DefaultLookback      = time.Hour
)

// Catena is how to reach the Catena API.
type Catena struct {
	APIURL           string
	TokenURL         string
	ClientID         string
	ClientSecret     string
	ClientSecretFile string
	RateLimit        float64
	RequestTimeout   time.Duration
	RetryMaxElapsed  time.Duration
}

// Bind registers the Catena settings on l.
func (c *Catena) Bind(l *Loader) {
	l.String(&c.APIURL, "api-url", "CATENA_API_URL", DefaultAPIURL, "Catena API base URL")
	l.String(&c.TokenURL, "token-url", "CATENA_TOKEN_URL", DefaultTokenURL, "OAuth2 token endpoint")
	l.String(&c.ClientID, "client-id", "CATENA_CLIENT_ID", "", "OAuth2 client id (required)")
	l.Secret(&c.ClientSecret, "client-secret", "CATENA_CLIENT_SECRET", "OAuth2 client secret; prefer the file or the environment, flags show in ps")
	l.String(&c.ClientSecretFile, "client-secret-file", "CATENA_CLIENT_SECRET_FILE", "", "file holding the OAuth2 client secret")
	l.Float(&c.RateLimit, "rate-limit", "CATENA_RATE_LIMIT", DefaultRateLimit, "API requests per second shared by the whole process; 0 turns the limit off")
	l.Duration(&c.RequestTimeout, "request-timeout", "CATENA_REQUEST_TIMEOUT", 30*time.Second, "timeout of one HTTP attempt")
	l.Duration(&c.RetryMaxElapsed, "retry-max-elapsed", "CATENA_RETRY_MAX_ELAPSED", 5*time.Minute, "how long one API request is retried (429, 5xx, network) before the command fails")
}

// Secret returns the OAuth2 client secret: the content of
// CATENA_CLIENT_SECRET_FILE when it is set, else CATENA_CLIENT_SECRET. It
// reads the file each time, so a rotated secret is picked up by the next
// start; errors name the setting and never the secret.
func (c *Catena) Secret() (string, error) {
	if c.ClientSecretFile == "" {
		if c.ClientSecret == "" {
			return "", errors.New("CATENA_CLIENT_SECRET is empty: set it or CATENA_CLIENT_SECRET_FILE")
		}
		return c.ClientSecret, nil
	}
	s, err := ReadSecretFile(c.ClientSecretFile)
	if err != nil {
		return "", fmt.Errorf("CATENA_CLIENT_SECRET_FILE=%q: %v", c.ClientSecretFile, err)
	}
	return s, nil
}

// Validate checks the Catena settings, the secret file readable among them;
// it changes nothing.
func (c *Catena) Validate() error {
	var errs []error
	errs = append(errs, checkURL("CATENA_API_URL", c.APIURL), checkURL("CATENA_TOKEN_URL", c.TokenURL))
	if c.ClientID == "" {
		errs = append(errs, errors.New("CATENA_CLIENT_ID is empty: set the OAuth2 client id (flag --client-id)"))
	}
	if _, err := c.Secret(); err != nil {
		errs = append(errs, err)
	}
	if c.RateLimit < 0 {
		errs = append(errs, fmt.Errorf("CATENA_RATE_LIMIT=%v: must be >= 0 (0 turns it off)", c.RateLimit))
	}
	if c.RequestTimeout <= 0 {
		errs = append(errs, fmt.Errorf("CATENA_REQUEST_TIMEOUT=%v: must be > 0", c.RequestTimeout))
	}
	if c.RetryMaxElapsed <= 0 {
		errs = append(errs, fmt.Errorf("CATENA_RETRY_MAX_ELAPSED=%v: must be > 0", c.RetryMaxElapsed))
	}
	return errors.Join(errs...)
}

// Kafka is how to reach the cluster and where to write.
type Kafka struct {
	Brokers           []string
	Topic             string
	Partitions        int
	ReplicationFactor int
	TransactionalID   string
	Compression       string

	TLS                   bool
	TLSCAFile             string
	TLSCertFile           string
	TLSKeyFile            string
	TLSInsecureSkipVerify bool

	SASLMechanism string
	SASLUsername  string
	SASLPassword  string

	RegistryURL      string
	RegistryUsername string
	RegistryPassword string
}

// Bind registers the Kafka and Schema Registry settings on l: those of a
// reader, and the producer's.
func (k *Kafka) Bind(l *Loader) {
	k.BindReader(l)
	l.Int(&k.Partitions, "partitions", "KAFKA_PARTITIONS", 12, "partitions of topics created when missing")
	l.Int(&k.ReplicationFactor, "replication-factor", "KAFKA_REPLICATION_FACTOR", 1, "replication factor of topics created when missing")
	l.String(&k.TransactionalID, "transactional-id", "KAFKA_TRANSACTIONAL_ID", "", "transactional id (default catena-bridge-<topic>-run-<fleet filter hash> for run, -backfill-<job hash> for backfill); one running bridge per id")
	l.String(&k.Compression, "compression", "KAFKA_COMPRESSION", "snappy", "snappy, zstd, lz4, gzip or none (snappy: the least CPU per event, sink.DefaultCompression)")
}

// BindReader registers what a reader of the topic needs (tail): brokers,
// topic, TLS, SASL and the registry.
func (k *Kafka) BindReader(l *Loader) {
	l.List(&k.Brokers, "brokers", "KAFKA_BROKERS", nil, "Kafka bootstrap brokers, comma-separated (required)")
	k.BindTopic(l)
	l.Bool(&k.TLS, "tls", "KAFKA_TLS", false, "connect to Kafka with TLS")
	l.String(&k.TLSCAFile, "tls-ca-file", "KAFKA_TLS_CA_FILE", "", "PEM CA bundle for Kafka TLS (default: system roots)")
	l.String(&k.TLSCertFile, "tls-cert-file", "KAFKA_TLS_CERT_FILE", "", "PEM client certificate for mutual TLS")
	l.String(&k.TLSKeyFile, "tls-key-file", "KAFKA_TLS_KEY_FILE", "", "PEM client key for mutual TLS")
	l.Bool(&k.TLSInsecureSkipVerify, "tls-insecure-skip-verify", "KAFKA_TLS_INSECURE_SKIP_VERIFY", false, "do not verify the broker certificate (testing only)")
	l.String(&k.SASLMechanism, "sasl-mechanism", "KAFKA_SASL_MECHANISM", "", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (empty: no SASL)")
	l.String(&k.SASLUsername, "sasl-username", "KAFKA_SASL_USERNAME", "", "SASL user")
	l.Secret(&k.SASLPassword, "sasl-password", "KAFKA_SASL_PASSWORD", "SASL password")
	k.BindRegistry(l)
}

// BindTopic registers KAFKA_TOPIC.
func (k *Kafka) BindTopic(l *Loader) {
	l.String(&k.Topic, "topic", "KAFKA_TOPIC", DefaultTopic, "events topic; the dead-letter topic is <topic>.dlq, checkpoints <topic>.checkpoints")
}

// BindRegistry registers the Schema Registry settings.
func (k *Kafka) BindRegistry(l *Loader) {
	l.String(&k.RegistryURL, "schema-registry-url", "SCHEMA_REGISTRY_URL", "", "Schema Registry URL; empty: Avro single-object encoding without a registry")
	l.String(&k.RegistryUsername, "schema-registry-username", "SCHEMA_REGISTRY_USERNAME", "", "Schema Registry basic-auth user")
	l.Secret(&k.RegistryPassword, "schema-registry-password", "SCHEMA_REGISTRY_PASSWORD", "Schema Registry basic-auth password")
}

// Validate checks the Kafka settings of a producer (Bind).
func (k *Kafka) Validate() error {
	var errs []error
	if k.Partitions < 1 || k.Partitions > 1<<20 {
		errs = append(errs, fmt.Errorf("KAFKA_PARTITIONS=%d: must be 1..%d", k.Partitions, 1<<20))
	}
	if k.ReplicationFactor < 1 || k.ReplicationFactor > 32767 {
		errs = append(errs, fmt.Errorf("KAFKA_REPLICATION_FACTOR=%d: must be 1..32767", k.ReplicationFactor))
	}
	switch k.Compression {
	case "zstd", "lz4", "snappy", "gzip", "none":
	default:
		errs = append(errs, fmt.Errorf("KAFKA_COMPRESSION=%q: want zstd, lz4, snappy, gzip or none", k.Compression))
	}
	return errors.Join(append([]error{k.ValidateReader()}, errs...)...)
}

// ValidateReader checks the settings BindReader registers.
func (k *Kafka) ValidateReader() error {
	var errs []error
	if len(k.Brokers) == 0 {
		errs = append(errs, errors.New("KAFKA_BROKERS is empty: set the bootstrap brokers, e.g. localhost:19092"))
	}
	for _, b := range k.Brokers {
		if !strings.Contains(b, ":") {
			errs = append(errs, fmt.Errorf("KAFKA_BROKERS item %q: want host:port", b))
		}
	}
	if err := checkTopic(k.Topic); err != nil {
		errs = append(errs, err)
	}
	switch strings.ToUpper(k.SASLMechanism) {
	case "":
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if k.SASLUsername == "" {
			errs = append(errs, fmt.Errorf("KAFKA_SASL_USERNAME is empty but KAFKA_SASL_MECHANISM=%q", k.SASLMechanism))
		}
	default:
		errs = append(errs, fmt.Errorf("KAFKA_SASL_MECHANISM=%q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", k.SASLMechanism))
	}
	if (k.TLSCertFile == "") != (k.TLSKeyFile == "") {
		errs = append(errs, errors.New("KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE must be set together"))
	}
	if k.RegistryURL != "" {
		errs = append(errs, checkURL("SCHEMA_REGISTRY_URL", k.RegistryURL))
	}
	return errors.Join(errs...)
}

// TxnID returns the transactional id: the configured one, or one derived
// from the topic and work, a name for what this process does (the live tail
// of some fleets, one backfill job). Processes doing different work on one
// topic then do not fence each other, while a second process doing the same
// work fences the first, as it must.
func (k *Kafka) TxnID(work string) string {
	if k.TransactionalID != "" {
		return k.TransactionalID
	}
	return "catena-bridge-" + k.Topic + "-" + work
}

// Pipeline is what to fetch and how often.
type Pipeline struct {
	FleetIDs            []string
	FleetRefs           []string
	H3Resolutions       string
	PollInterval        time.Duration
	GapThreshold        time.Duration
	SweepInterval       time.Duration
	Lookback            time.Duration
	BackfillConcurrency int
	IncludeSourceData   bool
	ShutdownGrace       time.Duration
	PageSize            int
	OutageMax           time.Duration
}

// Bind registers the pipeline settings on l.
func (p *Pipeline) Bind(l *Loader) {
	l.List(&p.FleetIDs, "fleet-ids", "FLEET_IDS", nil, "only these Catena fleet ids, comma-separated (≤100)")
	l.List(&p.FleetRefs, "fleet-refs", "FLEET_REFS", nil, "only these fleet references, comma-separated (≤100)")
	l.String(&p.H3Resolutions, "h3-resolutions", "H3_RESOLUTIONS", "9,7,5", "coarser H3 resolutions to add, each 0..10")
	l.Duration(&p.PollInterval, "poll-interval", "POLL_INTERVAL", DefaultPollInterval, "run: how often the latest snapshot is read")
	l.Duration(&p.GapThreshold, "gap-threshold", "GAP_THRESHOLD", 0, "run: a vehicle whose new point lies further than this after its last published one gets its history for the gap (default 2× poll interval)")
	l.Duration(&p.SweepInterval, "sweep-interval", "SWEEP_INTERVAL", DefaultSweepInterval, "run: how often each active vehicle's recent history is re-read for late records")
	l.Duration(&p.Lookback, "lookback", "LOOKBACK", DefaultLookback, "run: how much recent history a sweep re-reads (and the first start publishes)")
	l.Int(&p.BackfillConcurrency, "concurrency", "BACKFILL_CONCURRENCY", 8, "vehicles fetched in parallel (backfill and sweeps), under the shared rate limit")
	l.Int(&p.PageSize, "page-size", "CATENA_PAGE_SIZE", 1000, "records per API page, 1..1000")
	l.Duration(&p.OutageMax, "outage-max", "CATENA_OUTAGE_MAX", 30*time.Minute, "backfill: how long to wait out an unavailable API (after each request's own retries) before exiting 1 with progress saved")
	l.Bool(&p.IncludeSourceData, "include-source-data", "CATENA_INCLUDE_SOURCE_DATA", false, "ask the API for each record's raw provider payload and publish it in source_data (larger pages and events)")
	l.Duration(&p.ShutdownGrace, "shutdown-grace", "SHUTDOWN_GRACE", 20*time.Second, "on SIGTERM, how long the transaction in flight may take to commit (the broker may be down) before the bridge gives up on it")
}

// Validate checks the pipeline settings and fills derived defaults.
func (p *Pipeline) Validate() error {
	var errs []error
	if len(p.FleetIDs) > 100 {
		errs = append(errs, fmt.Errorf("FLEET_IDS has %d items: the API takes at most 100", len(p.FleetIDs)))
	}
	if len(p.FleetRefs) > 100 {
		errs = append(errs, fmt.Errorf("FLEET_REFS has %d items: the API takes at most 100", len(p.FleetRefs)))
	}
	if p.PollInterval <= 0 {
		errs = append(errs, fmt.Errorf("POLL_INTERVAL=%v: must be > 0", p.PollInterval))
	}
	if p.GapThreshold == 0 && p.PollInterval > 0 {
		p.GapThreshold = 2 * p.PollInterval
	}
	if p.GapThreshold < 0 {
		errs = append(errs, fmt.Errorf("GAP_THRESHOLD=%v: must be > 0", p.GapThreshold))
	}
	if p.SweepInterval <= 0 {
		errs = append(errs, fmt.Errorf("SWEEP_INTERVAL=%v: must be > 0", p.SweepInterval))
	}
	if p.Lookback <= 0 || p.Lookback > 45*24*time.Hour {
		errs = append(errs, fmt.Errorf("LOOKBACK=%v: must be > 0 and at most 45 days (one API history request)", p.Lookback))
	}
	if p.PageSize < 1 || p.PageSize > 1000 {
		errs = append(errs, fmt.Errorf("CATENA_PAGE_SIZE=%d: must be 1..1000", p.PageSize))
	}
	if p.OutageMax <= 0 {
		errs = append(errs, fmt.Errorf("CATENA_OUTAGE_MAX=%v: must be > 0", p.OutageMax))
	}
	if p.ShutdownGrace <= 0 {
		errs = append(errs, fmt.Errorf("SHUTDOWN_GRACE=%v: must be > 0", p.ShutdownGrace))
	}
	if p.BackfillConcurrency < 1 {
		errs = append(errs, fmt.Errorf("BACKFILL_CONCURRENCY=%d: must be >= 1", p.BackfillConcurrency))
	}
	return errors.Join(errs...)
}

// Admin is the HTTP endpoint for metrics and health, and logging.
type Admin struct {
	Addr      string
	LogLevel  string
	LogFormat string
}

// Bind registers the admin settings on l.
func (a *Admin) Bind(l *Loader) {
	l.String(&a.Addr, "admin-addr", "ADMIN_ADDR", ":9464", "address of /metrics, /healthz and /readyz; \"off\" (or an empty --admin-addr=) turns it off")
	a.BindLog(l)
}

// BindLog registers only the logging settings.
func (a *Admin) BindLog(l *Loader) {
	l.String(&a.LogLevel, "log-level", "LOG_LEVEL", "info", "debug, info, warn or error")
	l.String(&a.LogFormat, "log-format", "LOG_FORMAT", "text", "text or json")
}

// Validate checks the admin settings.
func (a *Admin) Validate() error {
	if a.Addr == "off" {
		a.Addr = ""
	}
	a.LogFormat = strings.ToLower(a.LogFormat)
	var errs []error
	switch strings.ToLower(a.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("LOG_LEVEL=%q: want debug, info, warn or error", a.LogLevel))
	}
	switch strings.ToLower(a.LogFormat) {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("LOG_FORMAT=%q: want text or json", a.LogFormat))
	}
	return errors.Join(errs...)
}

// maxTopic is Kafka's longest topic name (249) less the longest suffix the
// bridge adds (".checkpoints").
const maxTopic = 249 - len(".checkpoints")

// checkTopic refuses a KAFKA_TOPIC Kafka would reject, for it or for the
// dead-letter and checkpoint topics named after it.
func checkTopic(t string) error {
	switch {
	case t == "":
		return errors.New("KAFKA_TOPIC is empty")
	case t == "." || t == "..":
		return fmt.Errorf("KAFKA_TOPIC=%q: not a legal Kafka topic name", t)
	case len(t) > maxTopic:
		return fmt.Errorf("KAFKA_TOPIC=%q: %d characters; at most %d, so that %q fits Kafka's 249", t, len(t), maxTopic, t+".checkpoints")
	}
	for _, c := range t {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("KAFKA_TOPIC=%q: %q is not allowed; Kafka topic names use ASCII letters, digits, '.', '_' and '-'", t, c)
		}
	}
	return nil
}

// maxSecretFile bounds what a secret file may hold: a secret is a line, and
// a path to the wrong file (a device, a log) must not be read to the end.
const maxSecretFile = 64 << 10

// ReadSecretFile reads a secret from a file of at most 64 KiB, trimmed of
// surrounding space. An empty file, or one holding more than one line, is an
// error. Errors never quote the content; callers add the setting's name.
func ReadSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("holds more than %d KiB: not a secret; is it the right file?", maxSecretFile>>10)
	}
	s := strings.TrimSpace(string(b))
	switch {
	case s == "":
		return "", errors.New("empty")
	case strings.ContainsAny(s, "\r\n"):
		return "", errors.New("holds more than one line; put the secret alone in the file")
	}
	return s, nil
}

func checkURL(env, s string) error {
	u, err := url.Parse(s)
	if err != nil {
		// The value may carry a password: name the problem, not the value.
		return fmt.Errorf("%s: not a URL (%v)", env, err.(*url.Error).Err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		shown := s
		if _, has := u.User.Password(); has {
			shown = u.Redacted()
		}
		return fmt.Errorf("%s=%q: want an http(s) URL such as https://host", env, shown)
	}
	return nil
}

// Webhook is the receiver of Catena's pushed deliveries (run only).
type Webhook struct {
	Addr          string
	ID            string        // the subscription to watch, optional
	AutoRecover   bool          // activate a stale or paused subscription and replay its DLQ
	CheckInterval time.Duration // how often the subscription is checked
	Secret        string
	SecretFile    string
	TLSCertFile   string
	TLSKeyFile    string
	MaxBodyBytes  int64
}

// Bind registers the webhook settings on l.
func (w *Webhook) Bind(l *Loader) {
	l.String(&w.Addr, "webhook-addr", "WEBHOOK_ADDR", "", "serve Catena's vehicle_location.added deliveries at /webhooks/catena on this address (e.g. :8443); empty: no push, polling only")
	l.Secret(&w.Secret, "webhook-secret", "WEBHOOK_SECRET", "the subscription's secret (catena-bridge webhooks subscribe prints it once); required with WEBHOOK_ADDR unless WEBHOOK_SECRET_FILE")
	l.String(&w.SecretFile, "webhook-secret-file", "WEBHOOK_SECRET_FILE", "", "file holding the subscription's secret")
	l.String(&w.TLSCertFile, "webhook-tls-cert-file", "WEBHOOK_TLS_CERT_FILE", "", "PEM certificate to serve the receiver over TLS (default plain HTTP, for a TLS-terminating proxy)")
	l.String(&w.TLSKeyFile, "webhook-tls-key-file", "WEBHOOK_TLS_KEY_FILE", "", "PEM key of WEBHOOK_TLS_CERT_FILE")
	l.Int64(&w.MaxBodyBytes, "webhook-max-body-bytes", "WEBHOOK_MAX_BODY_BYTES", 16<<20, "largest decompressed delivery taken (larger: 413)")
	l.String(&w.ID, "webhook-id", "WEBHOOK_ID", "", "the subscription's id: run checks it at start and every WEBHOOK_CHECK_INTERVAL; stale or paused is a warning, a metric and a /readyz detail")
	l.Bool(&w.AutoRecover, "webhook-auto-recover", "WEBHOOK_AUTO_RECOVER", false, "activate the subscription when it is stale or paused, and ask Catena to replay its dead-lettered deliveries")
	l.Duration(&w.CheckInterval, "webhook-check-interval", "WEBHOOK_CHECK_INTERVAL", 5*time.Minute, "how often WEBHOOK_ID is checked")
}

// SecretValue returns the subscription's secret: the content of
// WEBHOOK_SECRET_FILE when it is set, else WEBHOOK_SECRET. Errors name the
// setting and never the secret.
func (w *Webhook) SecretValue() (string, error) {
	if w.SecretFile == "" {
		if w.Secret == "" {
			return "", fmt.Errorf("WEBHOOK_ADDR=%q needs WEBHOOK_SECRET or WEBHOOK_SECRET_FILE: deliveries are verified with the subscription's secret", w.Addr)
		}
		return w.Secret, nil
	}
	s, err := ReadSecretFile(w.SecretFile)
	if err != nil {
		return "", fmt.Errorf("WEBHOOK_SECRET_FILE=%q: %v", w.SecretFile, err)
	}
	return s, nil
}

// Validate checks the webhook settings, the secret file readable among
// them; it changes nothing.
func (w *Webhook) Validate() error {
	if w.Addr == "" {
		return nil
	}
	var errs []error
	if _, err := w.SecretValue(); err != nil {
		errs = append(errs, err)
	}
	if (w.TLSCertFile == "") != (w.TLSKeyFile == "") {
		errs = append(errs, errors.New("WEBHOOK_TLS_CERT_FILE and WEBHOOK_TLS_KEY_FILE go together"))
	}
	if w.ID != "" && w.CheckInterval <= 0 {
		errs = append(errs, fmt.Errorf("WEBHOOK_CHECK_INTERVAL=%v: must be > 0", w.CheckInterval))
	}
	if w.MaxBodyBytes < 1<<10 {
		errs = append(errs, fmt.Errorf("WEBHOOK_MAX_BODY_BYTES=%d: at least 1024", w.MaxBodyBytes))
	}
	return errors.Join(errs...)
}

// Standby is the hot standby of the live tail (run only).
type Standby struct {
	// Enabled makes run one replica of several with the same settings
	// (the same transactional id): the one the Kafka consumer group
	// assigns publishes, the others wait and take over.
	Enabled bool
}

// Bind registers the standby setting on l.
func (s *Standby) Bind(l *Loader) {
	l.Bool(&s.Enabled, "standby", "STANDBY", false, "run as one replica of a hot standby: replicas with the same KAFKA_TRANSACTIONAL_ID join one Kafka consumer group; "+
		"the one it assigns publishes, the others wait with /readyz 503 and the webhook receiver answering 503, and one takes over within about 10 s "+
		"when the active replica dies, at once when it stops; false (the default): publish at once, fencing any other process with the same id")
}
