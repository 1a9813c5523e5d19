package avro

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/catena-bridge/catena-bridge/schemas"
)

const testSubject = "catena.vehicle_locations.v1-value"

func newRegistry(t *testing.T) (*srfake.Registry, *sr.Client) {
	t.Helper()
	reg := srfake.New()
	t.Cleanup(reg.Close)
	cl, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		t.Fatal(err)
	}
	return reg, cl
}

func TestRegister(t *testing.T) {
	reg, cl := newRegistry(t)
	c := newTestCodec(t)
	ctx := context.Background()

	// Another subject first, so the id is not trivially 1.
	if _, _, err := reg.RegisterSchema("other-value", sr.Schema{Schema: `"string"`}); err != nil {
		t.Fatal(err)
	}
	id, err := Register(ctx, cl, testSubject, c)
	if err != nil {
		t.Fatal(err)
	}
	if id != 2 {
		t.Fatalf("first registration: id = %d, want 2 (the registry's next id)", id)
	}
	again, err := Register(ctx, cl, testSubject, c)
	if err != nil {
		t.Fatal(err)
	}
	if again != id {
		t.Fatalf("re-registration: id = %d, want %d", again, id)
	}
	if vs, err := cl.SubjectVersions(ctx, testSubject); err != nil || len(vs) != 1 {
		t.Fatalf("versions = %v, %v; want exactly one", vs, err)
	}
	ss, err := cl.SchemaByID(ctx, id)
	if err != nil || ss.Schema != schemas.VehicleLocation {
		t.Fatalf("registered schema differs from the embedded one (err %v)", err)
	}

	f := fixtures(t)[0]
	val, err := NewEncoder(c, ConfluentFraming(id)).Append(nil, f.loc, f.ingestedAt)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0, 0, 0, 0, byte(id)}; string(val[:5]) != string(want) {
		t.Fatalf("Confluent header = %x, want %x", val[:5], want)
	}
	// franz-go's own Confluent header parser agrees.
	var h sr.ConfluentHeader
	if gotID, _, err := h.DecodeID(val); err != nil || gotID != id {
		t.Fatalf("sr.ConfluentHeader.DecodeID = %d, %v; want %d", gotID, err, id)
	}
}

func TestRegisterRefusesIncompatible(t *testing.T) {
	ctx := context.Background()
	c := newTestCodec(t)
	// What the registry holds as latest: a schema whose data the current
	// one cannot read (v1 had no ingested_at, and ours has no default for it).
	withoutIngestedAt := strings.Replace(schemas.VehicleLocation,
		`"fields": [`, `"fields": [{"name": "legacy", "type": "string"},`, 1)
	withoutIngestedAt = withoutIngestedAt[:strings.Index(withoutIngestedAt, `,
    {"name": "ingested_at"`)] + "\n  ]\n}\n"

	for _, tc := range []struct {
		name   string
		latest string
		want   []string
	}{
		{"required field missing in latest", withoutIngestedAt, []string{`subject "` + testSubject + `"`, "not BACKWARD compatible", "version 1", "ingested_at"}},
		{"type changed", strings.Replace(schemas.VehicleLocation, `{"name": "speed", "type": ["null", "double"]`, `{"name": "speed", "type": ["null", "string"]`, 1), []string{`subject "` + testSubject + `"`, "not BACKWARD compatible", "speed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg, cl := newRegistry(t)
			reg.SeedSchema(testSubject, 1, 10, sr.Schema{Schema: tc.latest})
			_, err := Register(ctx, cl, testSubject, c)
			if err == nil {
				t.Fatal("incompatible schema was registered")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if vs, _ := cl.SubjectVersions(ctx, testSubject); len(vs) != 1 {
				t.Fatalf("versions = %v, want only the seeded one", vs)
			}
		})
	}
}

// TestRegisterKnownOlderVersion: a schema registered earlier (not latest) is
// looked up, not re-checked against a newer latest: an older binary keeps
// writing with its own id.
func TestRegisterKnownOlderVersion(t *testing.T) {
	reg, cl := newRegistry(t)
	c := newTestCodec(t)
	reg.SeedSchema(testSubject, 1, 3, sr.Schema{Schema: schemas.VehicleLocation})
	reg.SeedSchema(testSubject, 2, 4, sr.Schema{Schema: `{"type":"record","name":"catena.telematics.v1.VehicleLocation","fields":[{"name":"x","type":"int"}]}`})
	id, err := Register(context.Background(), cl, testSubject, c)
	if err != nil || id != 3 {
		t.Fatalf("Register = %d, %v; want 3", id, err)
	}
}

// TestRegisterRegistryErrors checks that the registry's own refusals and
// failures come back with its message and the subject.
func TestRegisterRegistryErrors(t *testing.T) {
	c := newTestCodec(t)
	for _, tc := range []struct {
		name         string
		method, path string
		status, code int
		msg          string
	}{
		{"409 incompatible", "POST", "/subjects/" + testSubject + "/versions", 409, 409, "Schema being registered is incompatible with an earlier schema for subject"},
		{"422 invalid", "POST", "/subjects/" + testSubject + "/versions", 422, 42201, "Invalid schema: something the registry dislikes"},
		{"500 on lookup", "POST", "/subjects/" + testSubject, 500, 50001, "Error in the backend datastore"},
		{"500 on latest", "GET", "/subjects/" + testSubject + "/versions/latest", 500, 50001, "Error in the backend datastore"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg, cl := newRegistry(t)
			reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method != tc.method || r.URL.Path != tc.path {
					return false
				}
				w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(`{"error_code":` + itoa3(tc.code) + `,"message":"` + tc.msg + `"}`))
				return true
			})
			_, err := Register(context.Background(), cl, testSubject, c)
			if err == nil {
				t.Fatal("Register succeeded")
			}
			for _, w := range []string{`register schema under subject "` + testSubject + `"`, tc.msg, "HTTP " + itoa3(tc.status)} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func itoa3(i int) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + i%10)}, b...)
		if i /= 10; i == 0 {
			return string(b)
		}
	}
}
