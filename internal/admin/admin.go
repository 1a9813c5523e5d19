// Package admin owns catena-bridge's operational HTTP endpoint: /metrics
// (Prometheus, from an injected registry), /healthz (the process is alive)
// and /readyz (every readiness check passes: the broker and the API answer).
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check reports nil when a dependency is usable, or why not.
type Check func() error

// Server serves the admin endpoints. The zero value is not usable; use New.
type Server struct {
	gatherer prometheus.Gatherer
	log      *slog.Logger

	mu     sync.Mutex
	checks map[string]Check

	srv *http.Server
	ln  net.Listener
}

// New returns a server exposing g on /metrics.
func New(g prometheus.Gatherer, log *slog.Logger) *Server {
	s := &Server{gatherer: g, log: log, checks: map[string]Check{}}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", s.readyz)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return s
}

// AddCheck adds a readiness check under name.
func (s *Server) AddCheck(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = c
}

// Handler returns the server's handler (for tests).
func (s *Server) Handler() http.Handler { return s.srv.Handler }

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	status := http.StatusOK
	var body []byte
	for name, c := range s.checks {
		if err := c(); err != nil {
			status = http.StatusServiceUnavailable
			body = fmt.Appendf(body, "%s: %v\n", name, err)
		} else {
			body = fmt.Appendf(body, "%s: ok\n", name)
		}
	}
	w.WriteHeader(status)
	w.Write(body)
}

// Listen binds addr (":9464"); Addr reports the bound address.
func (s *Server) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("admin: listen on %q (ADMIN_ADDR): %w", addr, err)
	}
	s.ln = ln
	return nil
}

// Addr is the bound address, after Listen.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve serves until Shutdown; it returns nil after a clean shutdown.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin: serve: %w", err)
	}
	return nil
}

// Shutdown stops the server within 5s.
func (s *Server) Shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.srv.Shutdown(ctx)
}
