package dedup

// ID is a record id: the 16 bytes of a UUID. It is a comparable value, so it
// can key a map without allocation.
type ID [16]byte

// ParseID parses a UUID in canonical form
// (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx), hexadecimal digits of either case.
// It reports false for anything else. It does not allocate.
func ParseID(s string) (ID, bool) {
	var id ID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return id, false
	}
	j := 0
	for i := 0; i < 36; i += 2 {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i--
			continue
		}
		hi, lo := unhex[s[i]], unhex[s[i+1]]
		if (hi|lo)&0xf0 != 0 {
			return ID{}, false
		}
		id[j] = hi<<4 | lo
		j++
	}
	return id, true
}

// String returns the canonical lower-case form of the UUID.
func (id ID) String() string {
	const digits = "0123456789abcdef"
	var b [36]byte
	j := 0
	for i, c := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = digits[c>>4], digits[c&0xf]
		j += 2
	}
	return string(b[:])
}

// unhex maps an ASCII hexadecimal digit to its value and anything else to
// 0xff.
var unhex = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c-'a') + 10
		t[c-'a'+'A'] = byte(c-'a') + 10
	}
	return t
}()
