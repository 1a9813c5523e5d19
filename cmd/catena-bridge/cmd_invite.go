package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/catena-bridge/catena-bridge/internal/catena"
	"github.com/catena-bridge/catena-bridge/internal/config"
)

func cmdInvite(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "invite", "--fleet-ref REF [flags]", `Creates a fleet invitation (POST /v2/orgs/invitations) and prints its magic link; the
fleet opens it to connect its telematics provider and share its data with you. Inviting the
same fleet reference again refreshes the existing invitation. --json prints the whole invitation.
`)
	l := e.newLoader(fs)
	var c config.Catena
	c.Bind(l)
	var a config.Admin
	a.BindLog(l)
	var in catena.InvitationCreate
	var asJSON bool
	fs.StringVar(&in.FleetRef, "fleet-ref", "", "your reference for the fleet (required)")
	fs.StringVar(&in.FleetName, "fleet-name", "", "fleet name shown on the invitation")
	fs.StringVar(&in.FleetEmail, "fleet-email", "", "fleet contact email")
	fs.StringVar(&in.SuccessRedirectURL, "success-redirect-url", "", "where the fleet is sent after accepting")
	fs.StringVar(&in.FailureRedirectURL, "failure-redirect-url", "", "where the fleet is sent after declining or failing")
	fs.StringVar(&in.CallbackURL, "callback-url", "", "URL Catena calls when the invitation changes")
	fs.IntVar(&in.ExpiresInHours, "expires-in-hours", 0, "validity, 1..672 hours (default: the API's 24)")
	fs.BoolVar(&asJSON, "json", false, "print the whole invitation as JSON")
	code, ok := parse(e, fs, args, func() error {
		var errs []error
		errs = append(errs, l.Err(), c.Validate(), a.Validate())
		if in.FleetRef == "" {
			errs = append(errs, errors.New("--fleet-ref is required"))
		}
		if in.ExpiresInHours < 0 || in.ExpiresInHours > 672 {
			errs = append(errs, fmt.Errorf("--expires-in-hours=%d: must be 1..672", in.ExpiresInHours))
		}
		return errors.Join(errs...)
	})
	if !ok {
		return code
	}
	log := newLogger(e.stderr, a)
	client, err := newCatenaClient(c, log, nil)
	if err != nil {
		fmt.Fprintf(e.stderr, "catena-bridge invite: %v\n", err)
		return exitUsage
	}
	inv, created, err := client.CreateInvitation(ctx, in)
	if err != nil {
		fmt.Fprintf(e.stderr, "catena-bridge invite: %v\n", err)
		return exitFailure
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(inv); err != nil {
			fmt.Fprintf(e.stderr, "catena-bridge invite: %v\n", err)
			return exitFailure
		}
		return exitOK
	}
	state := "created"
	if !created {
		state = "refreshed (an invitation for this fleet existed)"
	}
	fmt.Fprintf(e.stderr, "invitation for fleet %q %s; expires %s\n", inv.FleetRef, state, inv.ExpiresAt.Format("2006-01-02 15:04 MST"))
	fmt.Fprintln(e.stdout, inv.MagicLink)
	return exitOK
}
