package catena

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
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
