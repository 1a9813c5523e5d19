package config

import (
	"flag"
	"net/url"
)

// Setting is one setting in effect, as `catena-bridge config` prints it.
type Setting struct {
	Env    string // environment variable; "" for a flag without one
	Flag   string // flag name, without dashes
	Value  string // the value in effect; secrets masked
	Source string // "flag", "env" or "default"
}

// Masked stands for a secret's value: set, not shown.
const Masked = "****"

// Settings returns every setting bound on the loader, in binding order,
// with its value in effect and where it came from. Call it after the flag
// set is parsed. Secrets show as Masked when set, and a password in a URL
// (SCHEMA_REGISTRY_URL=https://user:pass@host) as url.Redacted shows it.
func (l *Loader) Settings() []Setting {
	set := map[string]bool{}
	l.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	out := make([]Setting, 0, len(l.bindings))
	for _, b := range l.bindings {
		s := Setting{Env: b.env, Flag: b.flag, Value: b.value(), Source: "default"}
		switch {
		case set[b.flag]:
			s.Source = "flag"
		case b.fromEnv:
			s.Source = "env"
		}
		switch {
		case b.secret && s.Value != "":
			s.Value = Masked
		case !b.secret:
			s.Value = maskURLPassword(s.Value)
		}
		out = append(out, s)
	}
	return out
}

// maskURLPassword masks the password of a URL's user info (url.Redacted);
// other values are returned as they are.
func maskURLPassword(v string) string {
	u, err := url.Parse(v)
	if err != nil || u.User == nil {
		return v
	}
	return u.Redacted()
}
