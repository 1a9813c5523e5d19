package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Loader binds settings to a flag.FlagSet with an environment variable behind
// each flag. Precedence: flag > environment > default. A malformed
// environment value is recorded and reported by Err, naming the variable and
// the value, so every mistake shows at once instead of one per run.
type Loader struct {
	fs       *flag.FlagSet
	getenv   func(string) string
	errs     []error
	bindings []binding
}

// binding is one setting as bound: how to read its value back, and
// whether the environment set it.
type binding struct {
	flag, env string
	secret    bool
	fromEnv   bool
	value     func() string
}

// NewLoader returns a Loader over fs reading the environment through getenv
// (nil = os.Getenv).
func NewLoader(fs *flag.FlagSet, getenv func(string) string) *Loader {
	if getenv == nil {
		getenv = os.Getenv
	}
	return &Loader{fs: fs, getenv: getenv}
}

// FlagSet returns the flag set the loader binds to.
func (l *Loader) FlagSet() *flag.FlagSet { return l.fs }

// Err returns every malformed environment value found while binding.
func (l *Loader) Err() error { return errors.Join(l.errs...) }

func (l *Loader) env(name string) (string, bool) {
	if name == "" {
		return "", false
	}
	v := l.getenv(name)
	return v, v != ""
}

// bind records a setting for Settings.
func (l *Loader) bind(name, env string, secret bool, value func() string) {
	_, set := l.env(env)
	l.bindings = append(l.bindings, binding{flag: name, env: env, secret: secret, fromEnv: set, value: value})
}

func usage(text, env string) string {
	if env == "" {
		return text
	}
	return text + " (env " + env + ")"
}

func (l *Loader) bad(env, v string, err error) {
	l.errs = append(l.errs, fmt.Errorf("%s=%q: %v", env, v, err))
}

// String binds a string setting.
func (l *Loader) String(p *string, name, env, def, text string) {
	if v, ok := l.env(env); ok {
		def = v
	}
	l.fs.StringVar(p, name, def, usage(text, env))
	l.bind(name, env, false, func() string { return *p })
}

// Secret binds a secret string: its environment value is used but never
// shown as the flag's default in --help (which ends up in terminals and logs).
func (l *Loader) Secret(p *string, name, env, text string) {
	v, _ := l.env(env)
	l.fs.Func(name, usage(text, env), func(s string) error {
		*p = s
		return nil
	})
	*p = v
	l.bind(name, env, true, func() string { return *p })
}

// Duration binds a duration in Go syntax (500ms, 30s, 10m).
func (l *Loader) Duration(p *time.Duration, name, env string, def time.Duration, text string) {
	if v, ok := l.env(env); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			l.bad(env, v, errors.New("not a duration (use Go syntax: 500ms, 30s, 10m)"))
		} else {
			def = d
		}
	}
	l.fs.DurationVar(p, name, def, usage(text, env))
	l.bind(name, env, false, func() string { return p.String() })
}

// Int binds an integer setting.
func (l *Loader) Int(p *int, name, env string, def int, text string) {
	if v, ok := l.env(env); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			l.bad(env, v, errors.New("not an integer"))
		} else {
			def = n
		}
	}
	l.fs.IntVar(p, name, def, usage(text, env))
	l.bind(name, env, false, func() string { return strconv.Itoa(*p) })
}

// Int64 binds a 64-bit integer setting.
func (l *Loader) Int64(p *int64, name, env string, def int64, text string) {
	if v, ok := l.env(env); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			l.bad(env, v, errors.New("not an integer"))
		} else {
			def = n
		}
	}
	l.fs.Int64Var(p, name, def, usage(text, env))
	l.bind(name, env, false, func() string { return strconv.FormatInt(*p, 10) })
}

// Float binds a floating-point setting.
func (l *Loader) Float(p *float64, name, env string, def float64, text string) {
	if v, ok := l.env(env); ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			l.bad(env, v, errors.New("not a number"))
		} else {
			def = f
		}
	}
	l.fs.Float64Var(p, name, def, usage(text, env))
	l.bind(name, env, false, func() string { return strconv.FormatFloat(*p, 'g', -1, 64) })
}

// Bool binds a boolean setting (true/false/1/0).
func (l *Loader) Bool(p *bool, name, env string, def bool, text string) {
	if v, ok := l.env(env); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			l.bad(env, v, errors.New("not a boolean (true or false)"))
		} else {
			def = b
		}
	}
	l.fs.BoolVar(p, name, def, usage(text, env))
	l.bind(name, env, false, func() string { return strconv.FormatBool(*p) })
}

// List binds a comma-separated list; empty items are dropped.
func (l *Loader) List(p *[]string, name, env string, def []string, text string) {
	if v, ok := l.env(env); ok {
		def = SplitList(v)
	}
	*p = def
	l.fs.Func(name, usage(text, env)+listDefault(def), func(s string) error {
		*p = SplitList(s)
		return nil
	})
	l.bind(name, env, false, func() string { return strings.Join(*p, ",") })
}

func listDefault(def []string) string {
	if len(def) == 0 {
		return ""
	}
	return " (default " + strings.Join(def, ",") + ")"
}

// SplitList splits a comma-separated list, trimming spaces and dropping
// empty items.
func SplitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
