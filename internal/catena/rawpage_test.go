package catena

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/catena-bridge/catena-bridge/internal/record"
)

// stdDecode is the reference: encoding/json into the envelope.
func stdDecode(body []byte) (*Page[json.RawMessage], error) {
	var env envelope[json.RawMessage]
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, err
	}
	p := &Page[json.RawMessage]{Items: env.Items, Total: env.Total}
	if env.NextPage != nil {
		p.NextPage = *env.NextPage
	}
	return p, nil
}

var rawPageCases = []string{
	`{"items":[],"total":0}`,
	`{"items":[{"a":"]}"},{"b":"\"[{"},[1,[2]],"x",3.5e2,true,null],"total":6,"next_page":"n\u00e9xt"}`,
	" \n{ \"total\" : 2 ,\t\"items\" : [ {\"id\" : 1} , {\"id\":2} ] , \"next_page\" : null }\r\n",
	`{"current_page":"c","items":[{"nested":{"items":[9],"next_page":"no"}}],"total":1,"next_page":"p2","previous_page":"p0"}`,
	`{"\u0069tems":[1,2],"total":2,"next_page":""}`,
	`{"items":[{"s":"a\\"}],"total":1}`,
	`{"items":null,"total":0}`,
	`{"items":[1],"items":[2,3],"total":2}`,
}

func TestDecodeRawPageMatchesEncodingJSON(t *testing.T) {
	for _, c := range rawPageCases {
		got, err := decodeRawPage([]byte(c))
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		want, _ := stdDecode([]byte(c))
		if want.Items == nil {
			want.Items = []json.RawMessage{}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\n got %+v\nwant %+v", c, got, want)
		}
	}
}

func TestDecodeRawPageErrors(t *testing.T) {
	for _, tt := range []struct{ body, want string }{
		{`{"items":[1,2],"total":2`, "unexpected end of JSON input"},
		{`[1,2]`, "is a JSON array, not an object"},
		{`{"items":{},"total":0}`, `"items" is a JSON object, not an array`},
		{`{"total":0}`, `no "items" array`},
		{`{"items":[],"total":"x"}`, `"total"`},
		{`{"items":[],"next_page":5}`, `"next_page"`},
		{``, "unexpected end of JSON input"},
	} {
		if _, err := decodeRawPage([]byte(tt.body)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want %q", tt.body, err, tt.want)
		}
	}
}

func TestDecodeRawPageCopiesOutOfBody(t *testing.T) {
	body := []byte(`{"items":[{"a":1},{"b":2}],"total":2}`)
	p, err := decodeRawPage(body)
	if err != nil {
		t.Fatal(err)
	}
	for i := range body {
		body[i] = 'x' // the pooled buffer is reused after decoding
	}
	if string(p.Items[0]) != `{"a":1}` || string(p.Items[1]) != `{"b":2}` {
		t.Fatalf("items alias the body: %q", p.Items)
	}
	// Appending to one item must not overwrite the next.
	_ = append(p.Items[0], '!')
	if string(p.Items[1]) != `{"b":2}` {
		t.Fatalf("item capacity leaks into the next item: %q", p.Items[1])
	}
}

// FuzzDecodeRawPage checks the splitter against encoding/json: whenever both
// accept a body, they return the same page. Run with
// go test -fuzz FuzzDecodeRawPage ./internal/catena
func FuzzDecodeRawPage(f *testing.F) {
	for _, c := range rawPageCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := decodeRawPage(body)
		want, stdErr := stdDecode(body)
		if err != nil || stdErr != nil {
			return // error messages and key case-folding differ; no panic is the property
		}
		if want.Items == nil {
			want.Items = []json.RawMessage{}
		}
		if len(got.Items) != len(want.Items) || got.Total != want.Total || got.NextPage != want.NextPage {
			// encoding/json folds key case ("ITEMS"); the API sends lowercase.
			if bytes.Equal(body, bytes.ToLower(body)) && !bytes.ContainsRune(body, 0x17f) && !bytes.ContainsRune(body, 0x212a) {
				t.Fatalf("%q:\n got %+v\nwant %+v", body, got, want)
			}
			return
		}
		for i := range got.Items {
			if !bytes.Equal(got.Items[i], want.Items[i]) {
				t.Fatalf("%q: item %d = %q, want %q", body, i, got.Items[i], want.Items[i])
			}
		}
	})
}

// TestDecodeRawPageLeavesItemsToTheRecordDecoder pins the split of work
// since the page is scanned once: a fault inside an item no longer refuses
// the page; the item is passed on as it is, and the record decoder refuses
// it (naming the field and value, as a dead letter does). A fault in the
// envelope, between items, or one that runs off the end of the body is
// still an error of the page.
func TestDecodeRawPageLeavesItemsToTheRecordDecoder(t *testing.T) {
	const good = `{"id":"6f1d3a2e-3b5c-4a8e-9f1d-2c3b4a5e6f70"}`
	for _, tt := range []struct {
		item  string // the bad item, as the page carries it
		field string // the field the record decoder names
	}{
		{`{"id":tru}`, "id"},
		{`{"id":"x","speed":1.}`, "speed"},
		{`{"id":"x","speed":01}`, "record"},
		{`{"id":"x",}`, "record"},
		{`{"id":"x" "y":1}`, "record"},
		{`{"id":"a\qb"}`, "id"},
		{"{\"id\":\"a\tb\"}", "id"},
		{`{"id":"x","location":{"type":"Point","coordinates":[1,2}]}`, "location.coordinates"},
		{`{"id":"x","extras":{"a":[1,2}}}`, "extras"},
		{`{"id":"x","extras":{"a":1,}}`, "extras"},
		{`{"id":"x"]`, "record"},
		{`nul`, "record"},
		{`{"id":"x","speed":-}`, "speed"},
	} {
		body := `{"items":[` + good + `,` + tt.item + `,` + good + `],"total":3,"next_page":null}`
		if json.Valid([]byte(body)) {
			t.Fatalf("%s: the case is valid JSON", tt.item)
		}
		p, err := decodeRawPage([]byte(body))
		if err != nil {
			t.Fatalf("%s: page refused: %v", tt.item, err)
		}
		if len(p.Items) != 3 || string(p.Items[1]) != tt.item || string(p.Items[0]) != good || string(p.Items[2]) != good {
			t.Fatalf("%s: items %q", tt.item, p.Items)
		}
		var l record.Location
		err = record.Decode(p.Items[1], &l)
		var inv *record.Invalid
		if !errors.As(err, &inv) || inv.Reason != record.ReasonDecode {
			t.Fatalf("%s: record.Decode = %v, want a %q *record.Invalid", tt.item, err, record.ReasonDecode)
		}
		if inv.Field != tt.field || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%s: error %q names field %q, want %q", tt.item, err, inv.Field, tt.field)
		}
	}

	for _, body := range []string{
		`{"items":[{"a":"unterminated}],"total":1}`, // runs off the end
		`{"items":[{"a":[1,{"b":2}],"total":1}`,     // unbalanced: runs off the end
		`{"items":[{"a":1} {"b":2}],"total":2}`,     // no comma between items
		`{"items":[{"a":1},,{"b":2}],"total":2}`,    // empty item
		`{"items":[{"a":1},],"total":1}`,            // trailing comma
		`{"items":[{"a":1}],"total":1,}`,            // envelope trailing comma
		`{"items":[{"a":1}] "total":1}`,             // envelope: no comma
		`{"items":[{"a":1}],"total":1} x`,           // data after the envelope
		`{"items":[{"a":1}],"total":1,"previous_page":tru}`,
		`{"items":[{"a":1}],"total":1,"current_page":"a\qb"}`,
		`{"items":[{"a":1}],"total":1,"x":{"y":[1,}}`,
		`{"items":[{"a":1}],"total":1`,
		`{"items":nul,"total":0}`,
		`{items:[],"total":0}`,
		`{"items" [],"total":0}`,
		`{"items":[`,
		`{`,
		` `,
	} {
		if _, err := decodeRawPage([]byte(body)); err == nil {
			t.Errorf("%s: page accepted", body)
		}
	}
}

// FuzzDecodeRawPageChecksAllButItems is the property behind the single scan:
// a page the splitter accepts whose items are all valid JSON is valid JSON,
// so the record decoder's own syntax check of each item (FuzzDecode in
// internal/record: Decode accepts only valid JSON) covers the whole body.
// Run with go test -fuzz FuzzDecodeRawPageChecksAllButItems ./internal/catena
func FuzzDecodeRawPageChecksAllButItems(f *testing.F) {
	for _, c := range rawPageCases {
		f.Add([]byte(c))
	}
	f.Add([]byte(`{"items":[{"a":tru}],"total":1}`))
	f.Add([]byte(`{"items":[{"a":1}],"total":1,"x":[1,}`))
	f.Add([]byte("{\"items\":[],\"\x01\":0}"))
	f.Add([]byte(`{"items":[A],"items":[0]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := decodeRawPage(body)
		if err != nil {
			return
		}
		for _, it := range p.Items {
			if !json.Valid(it) {
				return
			}
		}
		if !json.Valid(body) {
			t.Fatalf("%q: accepted with valid items, but the body is not valid JSON", body)
		}
	})
}

func TestReleaseItems(t *testing.T) {
	body := []byte(`{"items":[{"a":1},{"b":"xyz"}],"total":2}`)
	p, err := decodeRawPage(body)
	if err != nil {
		t.Fatal(err)
	}
	ReleaseItems(p.Items)
	ReleaseItems(p.Items) // twice: a no-op
	for range 3 {
		q, err := decodeRawPage([]byte(`{"items":[{"c":2},{"d":"uvw"},{}],"total":3}`))
		if err != nil {
			t.Fatal(err)
		}
		if len(q.Items) != 3 || string(q.Items[0]) != `{"c":2}` || string(q.Items[1]) != `{"d":"uvw"}` || string(q.Items[2]) != `{}` {
			t.Fatalf("items after a release: %q", q.Items)
		}
		ReleaseItems(q.Items)
	}
	// Not of a page, empty, or appended to: no-ops.
	ReleaseItems(nil)
	ReleaseItems([]json.RawMessage{})
	r, _ := decodeRawPage([]byte(`{"items":[{"e":3}],"total":1}`))
	r.Items = append(r.Items, json.RawMessage(`{"f":4}`))
	ReleaseItems(r.Items)
	ReleaseItems(r.Items[:1])
	if string(r.Items[1]) != `{"f":4}` {
		t.Fatalf("an appended item was changed: %q", r.Items)
	}
}

// FuzzScanRawPage checks the split with an item scanner (the record
// decoder, as the pipeline uses it) against the split without: the same
// page or the same error, and every item the scanner read is exactly the
// page's item, in the same memory.
func FuzzScanRawPage(f *testing.F) {
	for _, c := range rawPageCases {
		f.Add([]byte(c))
	}
	f.Add([]byte(`{"items":[{"id":"a"} ,{"id":tru},{"id":"b","x":[1,{"y":"]"}]},{}],"total":3,"next_page":"c"}`))
	f.Add([]byte(`{"items":[{"id":"a"}],"items":[{"id":"b"},{"id":"c"}],"total":2}`))
	f.Add([]byte(`{"items":[{"id":"a"}x],"total":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		want, wantErr := decodeRawPage(body)
		for _, take := range []bool{false, true} {
			checkScanRawPage(t, body, want, wantErr, take)
		}
	})
}

// checkScanRawPage is FuzzScanRawPage for scanRawPage (take false) or
// takeRawPage, whose items must then be cut from body itself.
func checkScanRawPage(t *testing.T, body []byte, want *Page[json.RawMessage], wantErr error, take bool) {
	t.Helper()
	scanned := map[int][]byte{}
	scan := func(i int, b []byte) int {
		var l record.Location
		n, _ := record.DecodeItem(b, &l)
		delete(scanned, i)
		if n > 0 {
			scanned[i] = b[:n]
		}
		return n
	}
	var got *Page[json.RawMessage]
	var err error
	took := false
	if take {
		got, took, err = takeRawPage(body, scan)
	} else {
		got, err = scanRawPage(body, scan)
	}
	if fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Fatalf("%q: error %v with the scanner, %v without", body, err, wantErr)
	}
	if err != nil {
		return
	}
	if len(got.Items) != len(want.Items) || got.Total != want.Total || got.NextPage != want.NextPage {
		t.Fatalf("%q:\n with the scanner %+v\n without %+v", body, got, want)
	}
	for i := range got.Items {
		if !bytes.Equal(got.Items[i], want.Items[i]) {
			t.Fatalf("%q: item %d = %q with the scanner, %q without", body, i, got.Items[i], want.Items[i])
		}
		if s, ok := scanned[i]; ok && (len(s) != len(got.Items[i]) || &s[0] != &got.Items[i][0]) {
			t.Fatalf("%q: item %d = %q, but the scanner read %q", body, i, got.Items[i], s)
		}
		if in := inside(got.Items[i], body); in != take {
			t.Fatalf("%q: take %v, item %d in the body: %v", body, take, i, in)
		}
	}
	if took != (take && len(got.Items) > 0) {
		t.Fatalf("%q: take %v, %d items: took %v", body, take, len(got.Items), took)
	}
	if !take {
		ReleaseItems(got.Items)
	}
}

// inside reports whether b's memory lies in body's.
func inside(b, body []byte) bool {
	if len(b) == 0 || len(body) == 0 {
		return false
	}
	p, lo := uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&body[0]))
	return p >= lo && p+uintptr(len(b)) <= lo+uintptr(len(body))
}
