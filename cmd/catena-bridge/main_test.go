package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// TestMain lets the test binary act as the catena-bridge binary: the crash
// and fencing tests start it as a child process with CATENA_BRIDGE_CHILD=1
// and kill it with SIGKILL, which an in-process run could not survive.
func TestMain(m *testing.M) {
	if os.Getenv("CATENA_BRIDGE_CHILD") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := realMain(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}
