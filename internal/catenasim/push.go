package catenasim

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Webhook fault kinds, the keys of WebhookStats.Faults.
const (
	WebhookFaultDuplicate      = "duplicate"
	WebhookFaultReorder        = "reorder"
	WebhookFaultLose           = "lose"
	WebhookFaultForge          = "forge"
	WebhookFaultStaleTimestamp = "stale_timestamp"
	WebhookFaultOversized      = "oversized"
	WebhookFaultBomb           = "bomb"
	WebhookFaultWrongEncoding  = "wrong_encoding"
)

var webhookFaultNames = [...]string{WebhookFaultDuplicate, WebhookFaultReorder, WebhookFaultLose, WebhookFaultForge,
	WebhookFaultStaleTimestamp, WebhookFaultOversized, WebhookFaultBomb, WebhookFaultWrongEncoding}

const (
	wfDuplicate = iota
	wfReorder
	wfLose
	wfForge
	wfStaleTimestamp
	wfOversized
	wfBomb
	wfWrongEncoding
	numWebhookFaults
)

// Headers and constants of a delivery (contract section 2).
const (
	WebhookSchemaVersion = "1.0"
	WebhookUserAgent     = "Catena-Webhook"
	WebhookSource        = "catena-notifications"
	// WebhookTimestampLayout is the layout of X-Catena-Timestamp, the
	// documented example's form (2024-11-28T10:30:00+00:00), with a
	// fraction only when the time has one.
	WebhookTimestampLayout = "2006-01-02T15:04:05.999999-07:00"
	// OversizedBody is the decompressed size an Oversized delivery exceeds.
	OversizedBody = 16 << 20
	// StaleTimestampAge is how old the timestamp of a StaleTimestamp
	// delivery is.
	StaleTimestampAge = 10 * time.Minute
)

// WebhookStats are the push side's counters since New.
type WebhookStats struct {
	Deliveries   int64            // batches taken from the queues of subscriptions (lost ones included)
	Records      int64            // records in those batches
	Attempts     int64            // requests carrying a real batch: first tries, retries, replays, duplicates
	Acknowledged int64            // batches answered with a non-5xx within PushTimeout
	Retried      int64            // retry attempts
	DLQ          int64            // batches moved to a DLQ (retries exhausted, or lost)
	Replayed     int64            // batches re-sent from a DLQ after a replay request
	Forged       int64            // forged deliveries sent
	Extra        int64            // extra requests of faults: forged, stale, oversized, bomb, wrong encoding
	Staled       int64            // times a subscription went stale
	Faults       map[string]int64 // by WebhookFault* kind; every key present
}

// WebhookStats returns a snapshot of the push counters.
func (s *Server) WebhookStats() WebhookStats {
	wh := &s.wh
	st := WebhookStats{
		Deliveries: wh.deliveries.Load(), Records: wh.records.Load(), Attempts: wh.attempts.Load(),
		Acknowledged: wh.acked.Load(), Retried: wh.retried.Load(), DLQ: wh.dlq.Load(), Replayed: wh.replayed.Load(),
		Forged: wh.forgedN.Load(), Extra: wh.extra.Load(), Staled: wh.staled.Load(),
		Faults: make(map[string]int64, numWebhookFaults),
	}
	for i, n := range webhookFaultNames {
		st.Faults[n] = wh.faults[i].Load()
	}
	return st
}

// ForgedIDs returns the record ids of every forged delivery sent so far.
// None of them is the id of a simulated point.
func (s *Server) ForgedIDs() []string {
	s.wh.mu.Lock()
	defer s.wh.mu.Unlock()
	return slices.Clone(s.wh.forged)
}

// Push delivers vehicle_location.added events to the active subscriptions
// until ctx ends, then waits for in-flight deliveries to stop and returns
// nil. Every PushInterval it queues, for each subscription, the points of
// matching fleets that became visible (VisibleAt <= Clock now) since the
// subscription was created and were not queued before, in order of
// visibility, and sends them in batches of at most PushBatch records. Events
// keep being queued while a subscription is paused or stale and are sent
// once it is activated. A batch interrupted by the end of ctx is sent first
// by the next Push.
func (s *Server) Push(ctx context.Context) error {
	t := time.NewTicker(s.cfg.PushInterval)
	defer t.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		s.pushTick(ctx, &wg)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *Server) pushTick(ctx context.Context, wg *sync.WaitGroup) {
	now := s.clock.Now().UnixNano()
	wh := &s.wh
	wh.mu.Lock()
	defer wh.mu.Unlock()
	for _, sub := range wh.list {
		if sub.status == WebhookDeleted {
			continue
		}
		s.scan(sub, now)
		if sub.status != WebhookActive || sub.busy || (len(sub.pending) == 0 && len(sub.replayQ) == 0 && sub.held == nil) {
			continue
		}
		sub.busy = true
		wg.Go(func() { s.runSub(ctx, sub) })
	}
}

// scan queues the points of sub that became visible in (sub.scanned, now].
func (s *Server) scan(sub *subscription, now int64) {
	from := sub.scanned
	if now <= from {
		return
	}
	sub.scanned = now
	start := len(sub.pending)
	late := s.cfg.Faults.LateEvery > 0
	for _, v := range s.vehicles {
		if !sub.match(v) {
			continue
		}
		for k := s.kCeil(v, from+1); s.occ(v, k) <= now; k++ {
			if !late || !s.isLate(v, k) {
				sub.pending = append(sub.pending, ref{int32(v.idx), k})
			}
		}
		if late {
			for k := s.kCeil(v, from+1-s.lateBy); s.occ(v, k)+s.lateBy <= now; k++ {
				if s.isLate(v, k) {
					sub.pending = append(sub.pending, ref{int32(v.idx), k})
				}
			}
		}
	}
	added := sub.pending[start:]
	slices.SortFunc(added, func(a, b ref) int {
		return cmp.Or(cmp.Compare(s.visibleAt(s.vehicles[a.vi], a.k), s.visibleAt(s.vehicles[b.vi], b.k)),
			cmp.Compare(a.vi, b.vi), cmp.Compare(a.k, b.k))
	})
}

// runSub sends the queued batches of sub while it is active. At most one
// runs per subscription (sub.busy).
func (s *Server) runSub(ctx context.Context, sub *subscription) {
	wh := &s.wh
	defer func() {
		wh.mu.Lock()
		sub.busy = false
		wh.mu.Unlock()
	}()
	for ctx.Err() == nil {
		var b *batch
		fresh, replay := false, false
		wh.mu.Lock()
		if sub.status != WebhookActive {
			wh.mu.Unlock()
			return
		}
		switch {
		case len(sub.replayQ) > 0:
			b = sub.replayQ[0]
			sub.replayQ = sub.replayQ[1:]
			replay, b.replay = b.replay, false
		case len(sub.pending) > 0:
			n := min(len(sub.pending), s.cfg.PushBatch)
			b = &batch{refs: slices.Clone(sub.pending[:n])}
			sub.pending = sub.pending[n:]
			fresh = true
		case sub.held != nil && time.Since(sub.heldAt) >= 5*s.cfg.PushInterval:
			b, sub.held = sub.held, nil
		}
		wh.mu.Unlock()
		switch {
		case b == nil:
			return
		case fresh:
			b.id = s.envelopeID()
			b.data = s.renderRecords(b.refs)
			s.deliverFresh(ctx, sub, b)
		default:
			if replay {
				wh.replayed.Add(1)
			}
			s.sendReal(ctx, sub, b)
		}
	}
}

// deliverFresh sends a batch taken from the queue, applying the faults due.
func (s *Server) deliverFresh(ctx context.Context, sub *subscription, b *batch) {
	wh := &s.wh
	wf := &s.cfg.WebhookFaults
	n := wh.deliveryNo.Add(1)
	wh.deliveries.Add(1)
	wh.records.Add(int64(len(b.refs)))
	due := func(every int) bool { return every > 0 && n%int64(every) == 0 }

	if due(wf.LoseEvery) {
		wh.faults[wfLose].Add(1)
		wh.dlq.Add(1)
		wh.mu.Lock()
		sub.dlq = append(sub.dlq, b)
		wh.mu.Unlock()
		return
	}
	wh.mu.Lock()
	if sub.held == nil && due(wf.ReorderEvery) {
		wh.faults[wfReorder].Add(1)
		sub.held, sub.heldAt = b, time.Now()
		wh.mu.Unlock()
		return
	}
	held, prev := sub.held, sub.last
	sub.held = nil
	wh.mu.Unlock()

	ok := s.sendReal(ctx, sub, b)
	if held != nil {
		s.sendReal(ctx, sub, held)
	}
	if ctx.Err() != nil {
		return
	}
	if ok && due(wf.DuplicateEvery) {
		wh.faults[wfDuplicate].Add(1)
		s.attempt(ctx, sub, b)
	}
	if due(wf.ForgeEvery) {
		wh.faults[wfForge].Add(1)
		s.sendForged(ctx, sub, b)
	}
	if due(wf.StaleTimestampEvery) {
		if prev == nil && ok {
			prev = b
		}
		if prev != nil {
			wh.faults[wfStaleTimestamp].Add(1)
			s.sendStaleTimestamp(ctx, sub, prev)
		}
	}
	if due(wf.OversizedEvery) {
		wh.faults[wfOversized].Add(1)
		s.sendOversized(ctx, sub, b)
	}
	if due(wf.BombEvery) {
		wh.faults[wfBomb].Add(1)
		s.sendBomb(ctx, sub)
	}
	if due(wf.WrongEncodingEvery) {
		k := wh.faults[wfWrongEncoding].Add(1)
		s.sendWrongEncoding(ctx, sub, b, k%2 == 1)
	}
}

// sendReal sends b with retries and reports whether it was acknowledged. A
// batch whose retries are exhausted goes to the DLQ and counts toward the
// circuit breaker; one interrupted by the end of Push is queued again.
func (s *Server) sendReal(ctx context.Context, sub *subscription, b *batch) bool {
	wh := &s.wh
	for i := 0; i <= s.cfg.PushRetries; i++ {
		if i > 0 {
			if !sleepCtx(ctx, s.cfg.PushBackoff<<(i-1)) {
				break
			}
			wh.retried.Add(1)
		}
		status, err := s.attempt(ctx, sub, b)
		if ctx.Err() != nil {
			break
		}
		if err == nil && status < 500 {
			wh.acked.Add(1)
			wh.mu.Lock()
			sub.failures, sub.last = 0, b
			wh.mu.Unlock()
			return true
		}
	}
	wh.mu.Lock()
	defer wh.mu.Unlock()
	if ctx.Err() != nil {
		sub.replayQ = append([]*batch{b}, sub.replayQ...)
		return false
	}
	wh.dlq.Add(1)
	sub.dlq = append(sub.dlq, b)
	sub.failures++
	if sub.failures >= s.cfg.StaleAfter && sub.status == WebhookActive {
		sub.status, sub.updatedAt = WebhookStale, s.clock.Now().UTC().Truncate(time.Microsecond)
		wh.staled.Add(1)
	}
	return false
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// attempt sends b once, freshly timestamped and signed, as the next attempt.
func (s *Server) attempt(ctx context.Context, sub *subscription, b *batch) (int, error) {
	b.attempts++
	b.lastReq = s.requestID()
	s.wh.attempts.Add(1)
	now := s.clock.Now()
	body := s.webhookBody(nil, sub, b.id, b.data, now, b.attempts)
	ts := now.UTC().Format(WebhookTimestampLayout)
	return s.post(ctx, sub, bytes.NewReader(gzipBytes(body)), "gzip", ts, sign(sub.secret, ts, body), b.lastReq, b.attempts)
}

// post sends one request and returns its status. The answer is drained
// (bounded) and discarded.
func (s *Server) post(ctx context.Context, sub *subscription, body io.Reader, encoding, ts, sig, reqID string, attempt int) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.PushTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.url, body)
	if err != nil {
		if c, ok := body.(io.Closer); ok {
			c.Close()
		}
		return 0, err
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("Content-Encoding", encoding)
	h.Set("User-Agent", WebhookUserAgent)
	h.Set("Accept", "application/json")
	h.Set("X-Catena-Signature", sig)
	h.Set("X-Catena-Timestamp", ts)
	h.Set("X-Event-Type", sub.event)
	h.Set("X-Webhook-ID", sub.id)
	h.Set("X-Request-ID", reqID)
	h.Set("X-Schema-Version", WebhookSchemaVersion)
	h.Set("X-Source", WebhookSource)
	h.Set("X-Delivery-Attempt", strconv.Itoa(attempt))
	resp, err := s.cfg.PushClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}

// webhookBody appends the uncompressed envelope of one delivery.
func (s *Server) webhookBody(b []byte, sub *subscription, id string, data []byte, ts time.Time, attempt int) []byte {
	b = appendEnvelopeHead(b, sub)
	b = append(b, data...)
	return s.appendEnvelopeTail(b, sub, id, ts, attempt)
}

// appendEnvelopeHead appends the envelope up to the value of data.
func appendEnvelopeHead(b []byte, sub *subscription) []byte {
	b = append(b, `{"version":"`+WebhookSchemaVersion+`","event_name":`...)
	b = appendString(b, sub.event)
	return append(b, `,"data":`...)
}

func (s *Server) appendEnvelopeTail(b []byte, sub *subscription, id string, ts time.Time, attempt int) []byte {
	b = append(b, `,"webhook_id":`...)
	b = appendString(b, sub.id)
	b = append(b, `,"timestamp":`...)
	b = appendTime(b, ts.UnixNano())
	b = append(b, `,"id":`...)
	b = appendString(b, id)
	b = append(b, `,"delivery_attempt":`...)
	b = appendInt(b, int64(attempt))
	return append(b, '}')
}

func sign(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// envelopeID returns a UUID v7-shaped id: 48 bits of Clock milliseconds,
// then deterministic bits.
func (s *Server) envelopeID() string {
	n := s.wh.envSeq.Add(1)
	u := makeUUID(hash3(s.seed, tagEnvelope, n, 0), hash3(s.seed, tagEnvelope, n, 1))
	ms := uint64(s.clock.Now().UnixMilli())
	for i := 0; i < 6; i++ {
		u[i] = byte(ms >> (40 - 8*i))
	}
	u[6] = u[6]&0x0f | 0x70
	return u.String()
}

func (s *Server) requestID() string { return s.uuidFor(tagRequest, s.wh.reqSeq.Add(1), 0) }

// renderRecords renders refs as the JSON array of a delivery's data.
func (s *Server) renderRecords(refs []ref) []byte {
	b := append(make([]byte, 0, 1200*len(refs)+2), '[')
	for i, r := range refs {
		if i > 0 {
			b = append(b, ',')
		}
		p := s.point(s.vehicles[r.vi], r.k)
		b = s.appendWebhookRecord(b, &p)
	}
	return append(b, ']')
}

const (
	hashKey     = `,"source_data_hash":"`
	unitsSuffix = `,"speed_unit":"m/s","odometer_unit":"m","fuel_value_unit":"m3","oil_pressure_unit":"Pa","coolant_temperature_unit":"K"}`
)

// appendWebhookRecord appends p as a vehicle_location.added record: the
// REST record without source_data, source_data_hash and the *_unit fields
// (contract section 5).
func (s *Server) appendWebhookRecord(b []byte, p *pt) []byte {
	start := len(b)
	b = s.appendLocation(b, p, false)
	if i := bytes.Index(b[start:], []byte(hashKey)); i >= 0 {
		i += start
		end := i + len(hashKey) + 64 + 1 // 64 hex digits and the closing quote
		b = append(b[:i], b[end:]...)
	}
	if bytes.HasSuffix(b[start:], []byte(unitsSuffix)) {
		b = append(b[:len(b)-len(unitsSuffix)], '}')
	}
	return b
}

// sendForged sends up to 3 of b's records with new ids, signed with a wrong
// key, and records the ids.
func (s *Server) sendForged(ctx context.Context, sub *subscription, b *batch) {
	wh := &s.wh
	k := uint64(wh.forgedN.Add(1))
	wh.extra.Add(1)
	data := []byte{'['}
	var ids []string
	for i := range min(3, len(b.refs)) {
		if i > 0 {
			data = append(data, ',')
		}
		p := s.point(s.vehicles[b.refs[i].vi], b.refs[i].k)
		at := len(data)
		data = s.appendWebhookRecord(data, &p)
		id := s.uuidFor(tagForged, k, uint64(i))
		j := at + bytes.Index(data[at:], []byte(`"id":"`)) + len(`"id":"`)
		copy(data[j:j+36], id)
		ids = append(ids, id)
	}
	data = append(data, ']')
	wh.mu.Lock()
	wh.forged = append(wh.forged, ids...)
	wh.mu.Unlock()
	now := s.clock.Now()
	body := s.webhookBody(nil, sub, s.envelopeID(), data, now, 1)
	ts := now.UTC().Format(WebhookTimestampLayout)
	s.post(ctx, sub, bytes.NewReader(gzipBytes(body)), "gzip", ts, sign("forged-"+sub.secret, ts, body), s.requestID(), 1)
}

// sendStaleTimestamp re-sends prev signed with a timestamp StaleTimestampAge
// old, with the request id and attempt number it was last sent with.
func (s *Server) sendStaleTimestamp(ctx context.Context, sub *subscription, prev *batch) {
	s.wh.extra.Add(1)
	then := s.clock.Now().Add(-StaleTimestampAge)
	body := s.webhookBody(nil, sub, prev.id, prev.data, then, prev.attempts)
	ts := then.UTC().Format(WebhookTimestampLayout)
	s.post(ctx, sub, bytes.NewReader(gzipBytes(body)), "gzip", ts, sign(sub.secret, ts, body), prev.lastReq, prev.attempts)
}

// sendOversized sends, correctly signed, b's records followed, inside the
// data array, by enough whitespace that the decompressed body exceeds
// OversizedBody.
func (s *Server) sendOversized(ctx context.Context, sub *subscription, b *batch) {
	s.wh.extra.Add(1)
	now := s.clock.Now()
	attempt := max(b.attempts, 1)
	head := append(appendEnvelopeHead(nil, sub), b.data[:len(b.data)-1]...) // without the closing ]
	tail := s.appendEnvelopeTail([]byte{']'}, sub, b.id, now, attempt)
	pad := int64(OversizedBody + 1)
	ts := now.UTC().Format(WebhookTimestampLayout)
	m := hmac.New(sha256.New, []byte(sub.secret))
	io.WriteString(m, ts+".")
	m.Write(head)
	for n := pad; n > 0; n -= int64(len(spaces)) {
		m.Write(spaces[:min(n, int64(len(spaces)))])
	}
	m.Write(tail)
	s.postPadded(ctx, sub, head, pad, tail, ts, base64.StdEncoding.EncodeToString(m.Sum(nil)), attempt)
}

var spaces = bytes.Repeat([]byte{' '}, 64<<10)

// sendBomb sends an envelope whose data array holds BombSize bytes of
// whitespace. The signature is wrong: it covers the envelope's first bytes
// only.
func (s *Server) sendBomb(ctx context.Context, sub *subscription) {
	s.wh.extra.Add(1)
	now := s.clock.Now()
	id := s.envelopeID()
	head := append(appendEnvelopeHead(nil, sub), '[')
	tail := s.appendEnvelopeTail([]byte{']'}, sub, id, now, 1)
	ts := now.UTC().Format(WebhookTimestampLayout)
	s.postPadded(ctx, sub, head, s.cfg.WebhookFaults.BombSize, tail, ts, sign(sub.secret, ts, head), 1)
}

// postPadded streams the gzip of head, pad spaces and tail.
func (s *Server) postPadded(ctx context.Context, sub *subscription, head []byte, pad int64, tail []byte, ts, sig string, attempt int) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeGzipPadded(pw, head, pad, tail)) }()
	defer pr.Close()
	s.post(ctx, sub, pr, "gzip", ts, sig, s.requestID(), attempt)
}

// sendWrongEncoding sends b, correctly signed, with Content-Encoding
// identity (a plain body) or br (the gzip body).
func (s *Server) sendWrongEncoding(ctx context.Context, sub *subscription, b *batch, identity bool) {
	s.wh.extra.Add(1)
	now := s.clock.Now()
	attempt := max(b.attempts, 1)
	body := s.webhookBody(nil, sub, b.id, b.data, now, attempt)
	ts := now.UTC().Format(WebhookTimestampLayout)
	sig := sign(sub.secret, ts, body)
	if identity {
		s.post(ctx, sub, bytes.NewReader(body), "identity", ts, sig, s.requestID(), attempt)
		return
	}
	s.post(ctx, sub, bytes.NewReader(gzipBytes(body)), "br", ts, sig, s.requestID(), attempt)
}
