package main

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/catena-bridge/catena-bridge/internal/sink"
	"github.com/catena-bridge/catena-bridge/internal/standby"
)

// newStandby returns the member of the hot-standby group of the replicas
// that share this bridge's transactional id, and adds its /readyz check:
// not ready while another replica is active, so a load balancer sends
// Catena's pushes to the active one.
func (b *bridge) newStandby() (*standby.Member, error) {
	opts, err := sink.ClientOpts(b.scfg, "-standby")
	if err != nil {
		return nil, err
	}
	m, err := standby.New(standby.Config{
		Opts:     opts,
		Group:    standby.GroupID(b.scfg.TransactionalID),
		Topic:    b.scfg.CheckpointTopic(),
		StepDown: func(err error) bool { return errors.Is(err, sink.ErrFenced) },
		Logger:   b.log,
	})
	if err != nil {
		return nil, err
	}
	if b.admin != nil {
		b.admin.AddCheck("standby", m.Ready)
	}
	return m, nil
}

// term is the live tail for one assignment of the standby group. It opens a
// producer and a pipeline of its own and closes both when it ends: a fenced
// Sink stays fenced, and a replica may be active several times. Its first
// read of the topics takes the transactional id over, which fences a
// predecessor that is still writing and aborts its open transaction. The
// collectors stay registered once: the pipeline's metrics are the bridge's,
// and the producer's client metrics are unregistered when it closes.
func (b *bridge) term(ctx context.Context) error {
	s, err := b.openSink(ctx)
	if err != nil {
		return err
	}
	defer func() {
		b.livePipe.Store(nil)
		b.liveSink.Store(nil)
		s.Close()
	}()
	p, err := b.newPipeline(s)
	if err != nil {
		return err
	}
	b.livePipe.Store(p)
	return p.Run(ctx)
}

// registerActive registers catena_bridge_active: 1 while this process
// publishes, 0 while it stands by (without STANDBY, always 1).
func (b *bridge) registerActive(m *standby.Member) {
	b.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "catena_bridge", Name: "active",
		Help: "1 while this replica publishes, 0 while it stands by for another (STANDBY=true).",
	}, func() float64 {
		if m == nil || m.Active() {
			return 1
		}
		return 0
	}))
}

// push hands a pushed delivery's records to the live tail at work. A
// standby has none and refuses them; the receiver answers 503 and Catena
// retries, by then at the active replica if a load balancer reads /readyz.
func (b *bridge) push(ctx context.Context, records []json.RawMessage) (bool, error) {
	p := b.livePipe.Load()
	if p == nil {
		return false, standby.ErrStandby
	}
	return p.Push(ctx, records)
}
