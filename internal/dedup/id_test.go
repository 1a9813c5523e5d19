package dedup

import (
	"strings"
	"testing"
)

func TestParseID(t *testing.T) {
	tests := []struct {
		in   string
		want ID
		ok   bool
	}{
		{"9b2d6f1e-8a3c-4d5e-b6f7-0a1b2c3d4e5f", ID{0x9b, 0x2d, 0x6f, 0x1e, 0x8a, 0x3c, 0x4d, 0x5e, 0xb6, 0xf7, 0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f}, true},
		{"9B2D6F1E-8A3C-4D5E-B6F7-0A1B2C3D4E5F", ID{0x9b, 0x2d, 0x6f, 0x1e, 0x8a, 0x3c, 0x4d, 0x5e, 0xb6, 0xf7, 0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f}, true},
		{"00000000-0000-0000-0000-000000000000", ID{}, true},
		{"ffffffff-ffff-ffff-ffff-ffffffffffff", ID{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, true},
		{"", ID{}, false},
		{"9b2d6f1e-8a3c-4d5e-b6f7-0a1b2c3d4e5", ID{}, false},
		{"9b2d6f1e-8a3c-4d5e-b6f7-0a1b2c3d4e5f0", ID{}, false},
		{"9b2d6f1e8a3c-4d5e-b6f7-0a1b2c3d4e5f0", ID{}, false},
		{"9b2d6f1e-8a3c-4d5e-b6f7_0a1b2c3d4e5f", ID{}, false},
		{"9b2d6f1e-8a3c-4d5e-b6f7-0a1b2c3d4e5g", ID{}, false},
		{"g9b2d6f1-8a3c-4d5e-b6f7-0a1b2c3d4e5f", ID{}, false},
		{"{b2d6f1e-8a3c-4d5e-b6f7-0a1b2c3d4e5f", ID{}, false},
		{"9b2d6f1e-8a3c-4d5e-b6f7-0a1b2c3d4e5\xff", ID{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseID(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseID(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
		if ok && got.String() != strings.ToLower(tt.in) {
			t.Errorf("ParseID(%q).String() = %q", tt.in, got.String())
		}
	}
}

func TestParseIDEveryPosition(t *testing.T) {
	// A non-hex byte at any digit position must be rejected.
	const good = "9b2d6f1e-8a3c-4d5e-b6f7-0a1b2c3d4e5f"
	for i := range good {
		for _, c := range []byte{'g', 'G', '-', ' ', 0, 0xff, '/', ':', '@', '`'} {
			if c == good[i] {
				continue
			}
			s := good[:i] + string([]byte{c}) + good[i+1:]
			if _, ok := ParseID(s); ok {
				t.Errorf("ParseID(%q) accepted", s)
			}
		}
	}
}

func TestParseIDAllocs(t *testing.T) {
	s := "9b2d6f1e-8a3c-4d5e-b6f7-0a1b2c3d4e5f"
	if n := testing.AllocsPerRun(100, func() { ParseID(s) }); n != 0 {
		t.Fatalf("ParseID allocates %v times", n)
	}
}

func BenchmarkParseID(b *testing.B) {
	s := "9b2d6f1e-8a3c-4d5e-b6f7-0a1b2c3d4e5f"
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := ParseID(s); !ok {
			b.Fatal()
		}
	}
}
