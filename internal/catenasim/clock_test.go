package catenasim

import (
	"testing"
	"testing/synctest"
	"time"
)

func TestClocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := NewClock(t0, 60)
		time.Sleep(2 * time.Second)
		if got := c.Now(); !got.Equal(t0.Add(2 * time.Minute)) {
			t.Fatalf("60x clock after 2s reads %v, want %v", got, t0.Add(2*time.Minute))
		}
		rt := NewClock(t0, 0) // treated as 1
		time.Sleep(time.Second)
		if got := rt.Now(); !got.Equal(t0.Add(time.Second)) {
			t.Fatalf("real-time clock after 1s reads %v", got)
		}
	})
	m := NewManualClock(t0)
	m.Advance(time.Minute)
	if !m.Now().Equal(t0.Add(time.Minute)) {
		t.Fatal("Advance")
	}
	m.Set(t0)
	if !m.Now().Equal(t0) {
		t.Fatal("Set")
	}
}

func TestSeedsDiffer(t *testing.T) {
	a, _ := New(Config{Seed: 1})
	b, _ := New(Config{Seed: 2})
	c, _ := New(Config{}) // default seed 1
	va, vb, vc := a.Vehicles(), b.Vehicles(), c.Vehicles()
	if va[0].ID == vb[0].ID || va[0].FleetID == vb[0].FleetID {
		t.Fatal("different seeds, same ids")
	}
	if va[0].ID != vc[0].ID {
		t.Fatal("default seed is not 1")
	}
	pa, pc := a.Points(va[0].ID, t0, t0.Add(time.Hour)), c.Points(vc[0].ID, t0, t0.Add(time.Hour))
	if len(pa) != 120 || pa[5] != pc[5] {
		t.Fatal("points differ between servers with the same seed")
	}
}

func TestTokenClock(t *testing.T) {
	tokClk := NewManualClock(t0.Add(1000 * time.Hour))
	h := newHarness(t, Config{Clock: NewManualClock(t0.Add(-1000 * time.Hour)), TokenClock: tokClk})
	claims, _ := decodeSeg(splitJWT(h.token)[1])
	if want := t0.Add(1001 * time.Hour).Unix(); !containsInt(claims, want) {
		t.Fatalf("exp not from TokenClock: %s", claims)
	}
	if r := h.get(locPath); r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	tokClk.Advance(time.Hour)
	if r := h.get(locPath); r.status != 401 {
		t.Fatalf("token valid after TokenClock passed exp: %d", r.status)
	}
}
