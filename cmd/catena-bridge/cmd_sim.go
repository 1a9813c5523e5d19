package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/oklog/run"

	"github.com/catena-bridge/catena-bridge/internal/catenasim"
	"github.com/catena-bridge/catena-bridge/internal/config"
)

// simFlags are the simulator's settings, shared by sim and demo.
type simFlags struct {
	cfg   catenasim.Config
	speed float64
}

// bind registers the simulator's settings with the given defaults; faults
// are the fault knobs' defaults (the demo switches them on, sim does not).
func (s *simFlags) bind(l *config.Loader, fleets, vehicles int, interval time.Duration, speed float64, faults catenasim.Faults) {
	l.Int64(&s.cfg.Seed, "seed", "SIM_SEED", 1, "seed of the simulated data; the same seed gives the same ids")
	l.Int(&s.cfg.Fleets, "fleets", "SIM_FLEETS", fleets, "simulated fleets")
	l.Int(&s.cfg.VehiclesPerFleet, "vehicles", "SIM_VEHICLES", vehicles, "simulated vehicles per fleet")
	l.Duration(&s.cfg.ReportInterval, "report-interval", "SIM_REPORT_INTERVAL", interval, "each vehicle reports one point per interval")
	l.Float(&s.speed, "speed", "SIM_SPEED", speed, "simulated clock speed: 60 = one simulated minute per second")
	l.String(&s.cfg.ClientID, "sim-client-id", "SIM_CLIENT_ID", "demo", "client id the token endpoint accepts")
	l.Secret(&s.cfg.ClientSecret, "sim-client-secret", "SIM_CLIENT_SECRET", "client secret the token endpoint accepts (default demo)")
	l.Duration(&s.cfg.TokenTTL, "token-ttl", "SIM_TOKEN_TTL", time.Hour, "expires_in of issued tokens (short values exercise refresh)")
	f := &s.cfg.Faults
	l.Int(&f.RateLimitEvery, "fault-429-every", "SIM_FAULT_429_EVERY", faults.RateLimitEvery, "every Nth API request gets 429 with Retry-After (0 = never)")
	l.Duration(&f.RetryAfter, "fault-retry-after", "SIM_FAULT_RETRY_AFTER", cmp.Or(faults.RetryAfter, time.Second), "Retry-After of injected 429s")
	l.Int(&f.ServerErrorEvery, "fault-5xx-every", "SIM_FAULT_5XX_EVERY", faults.ServerErrorEvery, "every Nth API request gets a 5xx (0 = never)")
	l.Duration(&f.Latency, "fault-latency", "SIM_FAULT_LATENCY", faults.Latency, "added to every response")
	l.Int(&f.DuplicateEvery, "fault-duplicate-every", "SIM_FAULT_DUPLICATE_EVERY", faults.DuplicateEvery, "every Nth history page boundary repeats a record on the next page (0 = never)")
	l.Int(&f.LateEvery, "fault-late-every", "SIM_FAULT_LATE_EVERY", faults.LateEvery, "every Nth point reaches the API late (0 = never)")
	l.Duration(&f.LateBy, "fault-late-by", "SIM_FAULT_LATE_BY", cmp.Or(faults.LateBy, 10*time.Minute), "how late late points are")
	l.Int(&f.MalformedEvery, "fault-malformed-every", "SIM_FAULT_MALFORMED_EVERY", faults.MalformedEvery, "every Nth point is malformed (no fleet_id, bad coordinates, invalid H3, null H3) (0 = never)")
}

func (s *simFlags) validate() error {
	if s.cfg.ClientSecret == "" {
		s.cfg.ClientSecret = "demo"
	}
	if s.speed <= 0 {
		return fmt.Errorf("SIM_SPEED=%v: must be > 0", s.speed)
	}
	return nil
}

func cmdSim(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "sim", "[flags]", `Serves a simulated Catena API on --addr: the token endpoint
(/realms/catena/protocol/openid-connect/token), vehicle-locations, vehicles and invitations,
with deterministic data from --seed and optional fault injection. Point a bridge at it with
  CATENA_API_URL=http://127.0.0.1:8085
  CATENA_TOKEN_URL=http://127.0.0.1:8085/realms/catena/protocol/openid-connect/token
  CATENA_CLIENT_ID=demo CATENA_CLIENT_SECRET=demo
`)
	l := e.newLoader(fs)
	var addr string
	l.String(&addr, "addr", "SIM_ADDR", "127.0.0.1:8085", "listen address")
	var sf simFlags
	sf.bind(l, 3, 5, 30*time.Second, 1, catenasim.Faults{})
	// Only sim limits: the demo's bridge shares its process and has its own
	// --rate-limit (CATENA_RATE_LIMIT).
	l.Float(&sf.cfg.RateLimit, "rate-limit", "SIM_RATE_LIMIT", 0,
		"API requests per second each OAuth client may make; above it, 429 with retry_after_seconds and Retry-After, as the real API does (default 0: off)")
	l.Int(&sf.cfg.RateBurst, "rate-burst", "SIM_RATE_BURST", 0, "requests a client may make at once under --rate-limit (default 0: one second's worth)")
	validate := func() error {
		var errs []error
		if sf.cfg.RateLimit < 0 {
			errs = append(errs, fmt.Errorf("SIM_RATE_LIMIT=%v: must be >= 0 (0 turns it off)", sf.cfg.RateLimit))
		}
		if sf.cfg.RateBurst < 0 {
			errs = append(errs, fmt.Errorf("SIM_RATE_BURST=%d: must be >= 0", sf.cfg.RateBurst))
		}
		return errors.Join(append(errs, l.Err(), sf.validate())...)
	}
	if code, ok := parse(e, fs, args, validate); !ok {
		return code
	}
	if sf.speed != 1 {
		sf.cfg.Clock = catenasim.NewClock(time.Now(), sf.speed)
		// Tokens live in real seconds, as expires_in says, whatever the
		// data's clock does.
		sf.cfg.TokenClock = catenasim.NewClock(time.Now(), 1)
	}
	sim, err := catenasim.New(sf.cfg)
	if err != nil {
		fmt.Fprintf(e.stderr, "catena-bridge sim: %v\n", err)
		return exitUsage
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(e.stderr, "catena-bridge sim: listen on %q (SIM_ADDR): %v\n", addr, err)
		return exitUsage
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	limit := "no rate limit"
	if sf.cfg.RateLimit > 0 {
		limit = fmt.Sprintf("rate limit %g requests/s per client", sf.cfg.RateLimit)
	}
	fmt.Fprintf(e.stderr, "catena-bridge sim: serving the simulated Catena API on http://%s (%d fleets × %d vehicles, seed %d, %s)\n",
		ln.Addr(), sf.cfg.Fleets, sf.cfg.VehiclesPerFleet, sf.cfg.Seed, limit)
	// The API, and the webhook deliveries to what subscribes through it,
	// until a signal (oklog/run: the first actor to return stops the rest).
	var g run.Group
	g.Add(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}, func(error) {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	})
	pctx, stopPush := context.WithCancel(context.Background())
	g.Add(func() error { return sim.Push(pctx) }, func(error) { stopPush() })
	sctx, stopSignals := context.WithCancel(ctx)
	g.Add(func() error { <-sctx.Done(); return nil }, func(error) { stopSignals() })
	if err := g.Run(); err != nil {
		fmt.Fprintf(e.stderr, "catena-bridge sim: %v\n", err)
		return exitFailure
	}
	return exitOK
}
