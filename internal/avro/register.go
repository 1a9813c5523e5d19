package avro

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	hamba "github.com/hamba/avro/v2"
	twmb "github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/sr"
)

// Register registers the codec's schema under subject (normally
// "<topic>-value") and returns its schema id, for ConfluentFraming.
//
// If the schema is already registered under subject, Register returns its id
// and changes nothing. Otherwise, when the subject has versions, Register
// first checks that the new schema can read data written with the latest one
// (BACKWARD compatibility, checked with hamba's SchemaCompatibility and
// twmb/avro's CheckCompatibility; either one objecting is enough) and
// refuses to register it if not: the registry may be configured with a weaker
// level (or, like srfake, not check at all), and consumers of the topic rely
// on BACKWARD. Then it registers; if the registry rejects the schema (409
// incompatible, 422 invalid), the error carries the registry's message.
// Every error names the subject: `register schema under subject "x-value": ...`.
func Register(ctx context.Context, cl *sr.Client, subject string, c *Codec) (id int, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("register schema under subject %q: %w", subject, err)
		}
	}()
	sch := sr.Schema{Schema: c.text, Type: sr.TypeAvro}

	// Already registered: the common case on every restart.
	ss, err := cl.LookupSchema(ctx, subject, sch)
	switch {
	case err == nil:
		return ss.ID, nil
	case !isNotFound(err):
		return 0, registryError("look up schema", err)
	}

	latest, err := cl.SchemaByVersion(ctx, subject, -1)
	switch {
	case err == nil:
		if err := checkBackward(c, latest); err != nil {
			return 0, err
		}
	case !isNotFound(err):
		return 0, registryError("fetch latest schema", err)
	}

	id, err = cl.RegisterSchema(ctx, subject, sch, -1, -1)
	if err != nil {
		return 0, registryError("register", err)
	}
	return id, nil
}

// checkBackward returns an error when data written with the registered
// schema latest cannot be read with next.
func checkBackward(next *Codec, latest sr.SubjectSchema) error {
	if latest.Type != sr.TypeAvro {
		return fmt.Errorf("latest version %d (id %d) is a %s schema, not Avro", latest.Version, latest.ID, latest.Type)
	}
	prev, err := hamba.ParseWithCache(latest.Schema.Schema, "", &hamba.SchemaCache{})
	if err != nil {
		return fmt.Errorf("parse latest version %d (id %d): %w", latest.Version, latest.ID, err)
	}
	herr := hamba.NewSchemaCompatibility().Compatible(next.schema, prev)
	// twmb/avro's check runs too: its errors name the offending field
	// (hamba's do not), and refusing when either library objects is the safe
	// side of a disagreement.
	var terr error
	if tprev, err := twmb.Parse(latest.Schema.Schema); err != nil {
		terr = err
	} else {
		terr = twmb.CheckCompatibility(tprev, next.twmb)
	}
	var why error
	switch {
	case herr == nil && terr == nil:
		return nil
	case terr != nil && herr != nil:
		why = fmt.Errorf("%w (hamba/avro: %v)", terr, herr)
	case terr != nil:
		why = fmt.Errorf("%w (hamba/avro finds it compatible)", terr)
	default:
		why = fmt.Errorf("hamba/avro: %w (twmb/avro finds it compatible)", herr)
	}
	return fmt.Errorf("schema is not BACKWARD compatible with latest version %d (id %d): %w", latest.Version, latest.ID, why)
}

// isNotFound reports whether err is the registry saying the subject, version
// or schema does not exist.
func isNotFound(err error) bool {
	var re *sr.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound
}

// registryError wraps an error of the registry with what was being done and,
// for an HTTP error, the status and the registry's error code (its message is
// the wrapped error's text).
func registryError(doing string, err error) error {
	var re *sr.ResponseError
	if errors.As(err, &re) {
		return fmt.Errorf("%s: registry answered HTTP %d (error code %d): %w", doing, re.StatusCode, re.ErrorCode, err)
	}
	return fmt.Errorf("%s: %w", doing, err)
}
