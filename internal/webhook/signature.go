package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
)

// Sign returns X-Catena-Signature for a delivery: the standard Base64 of
// HMAC-SHA256, keyed with the subscription secret, over the timestamp
// header exactly as sent, ".", and the decompressed body.
func Sign(secret []byte, timestamp string, body []byte) string {
	return base64.StdEncoding.EncodeToString(mac(secret, timestamp, body))
}

func mac(secret []byte, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// verify reports whether signature is body's, in constant time.
func verify(secret []byte, timestamp string, body []byte, signature string) bool {
	got, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return false
	}
	return hmac.Equal(got, mac(secret, timestamp, body))
}
