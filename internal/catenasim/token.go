package catenasim

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
)

// Scope is the scope string of issued tokens.
const Scope = "fleet:read share-agreement:read telematics:read invitation:create invitation:read"

// tokenKey derives the HMAC key that signs tokens. It depends on the seed
// and the client credentials only, so a restarted simulator accepts the
// tokens it issued before. Tokens carry no secret: the key never leaves the
// process.
func tokenKey(seed uint64, id, secret string) []byte {
	h := sha256.New()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	h.Write([]byte("catenasim-token\x00" + id + "\x00" + secret))
	return h.Sum(nil)
}

var tokenSeq atomic.Uint64

func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// handleToken implements the Keycloak client-credentials grant. Client
// credentials are accepted in the form body (client_secret_post) or as
// HTTP Basic (client_secret_basic, what golang.org/x/oauth2 tries first).
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "HTTP method not allowed")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Invalid form body")
		return
	}
	f := r.PostForm
	id, secret := f.Get("client_id"), f.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		// RFC 6749 §2.3.1: form-urlencoded inside Basic.
		if uu, err := url.QueryUnescape(u); err == nil {
			u = uu
		}
		if pp, err := url.QueryUnescape(p); err == nil {
			p = pp
		}
		id, secret = u, p
	}
	gt := f.Get("grant_type")
	if gt == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Missing form parameter: grant_type")
		return
	}
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(s.cfg.ClientID)) == 1
	secOK := subtle.ConstantTimeCompare([]byte(secret), []byte(s.cfg.ClientSecret)) == 1
	if !idOK || !secOK {
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "Invalid client or Invalid client credentials")
		return
	}
	if gt != "client_credentials" {
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "Unsupported grant_type")
		return
	}
	// The spec defaults scope to "organization", its only value.
	if sc := f.Get("scope"); sc != "" && sc != "organization" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_scope", "Invalid scopes: "+sc)
		return
	}
	now := s.cfg.TokenClock.Now()
	ttl := int64(s.cfg.TokenTTL.Seconds())
	claims := map[string]any{
		"exp":   now.Unix() + ttl,
		"iat":   now.Unix(),
		"jti":   s.uuidFor(tagToken, uint64(now.UnixNano()), tokenSeq.Add(1)),
		"iss":   "catenasim/realms/catena",
		"sub":   s.partnerID,
		"typ":   "Bearer",
		"azp":   s.cfg.ClientID,
		"scope": Scope,
		"organization": map[string]any{
			"catenasim-partner": map[string]any{"id": s.partnerID, "types": []string{"partner"}},
		},
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":       s.signToken(claims),
		"expires_in":         ttl,
		"refresh_expires_in": 0,
		"token_type":         "Bearer",
		"not-before-policy":  0,
		"scope":              Scope,
	})
}

const jwtHeader = `{"alg":"HS256","typ":"JWT","kid":"catenasim"}`

func (s *Server) signToken(claims map[string]any) string {
	payload, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding
	msg := enc.EncodeToString([]byte(jwtHeader)) + "." + enc.EncodeToString(payload)
	m := hmac.New(sha256.New, s.tokenKey)
	m.Write([]byte(msg))
	return msg + "." + enc.EncodeToString(m.Sum(nil))
}

// checkBearer returns the client a valid bearer token was issued to (its
// azp claim), or the 401 detail of an invalid one. The detail never contains
// the token.
func (s *Server) checkBearer(r *http.Request) (client, reason string) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", "missing bearer token"
	}
	tok = strings.TrimSpace(tok)
	i := strings.LastIndexByte(tok, '.')
	if i < 0 || strings.Count(tok, ".") != 2 {
		return "", "invalid token"
	}
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil {
		return "", "invalid token"
	}
	m := hmac.New(sha256.New, s.tokenKey)
	m.Write([]byte(tok[:i]))
	if !hmac.Equal(sig, m.Sum(nil)) {
		return "", "invalid token"
	}
	payload, err := base64.RawURLEncoding.DecodeString(tok[strings.IndexByte(tok, '.')+1 : i])
	if err != nil {
		return "", "invalid token"
	}
	var c struct {
		Exp int64  `json:"exp"`
		Azp string `json:"azp"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return "", "invalid token"
	}
	if s.cfg.TokenClock.Now().Unix() >= c.Exp {
		return "", "token expired"
	}
	return c.Azp, ""
}
