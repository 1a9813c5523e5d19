package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/catena-bridge/catena-bridge/internal/catena"
	"github.com/catena-bridge/catena-bridge/internal/config"
)

// webhookSubcommands are the subcommands of `catena-bridge webhooks`.
var webhookSubcommands = []command{
	{"subscribe", "subscribe an endpoint to an event; print the id and, once, a generated secret", cmdWebhooksSubscribe},
	{"list", "list the subscriptions, optionally by status or event", cmdWebhooksList},
	{"get", "show one subscription", cmdWebhooksGet},
	{"activate", "make a paused or stale subscription deliver again", cmdWebhooksActivate},
	{"pause", "stop a subscription's deliveries until it is activated", cmdWebhooksPause},
	{"replay", "re-send the events of a subscription's dead-letter queue", cmdWebhooksReplay},
}

// cmdWebhooks dispatches on its first argument: parse() refuses positional
// arguments, so the subcommand is taken off before the flags are parsed.
func cmdWebhooks(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		webhooksUsage(e.stderr)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		webhooksUsage(e.stdout)
		return exitOK
	}
	for _, c := range webhookSubcommands {
		if c.name == args[0] {
			return c.run(ctx, e, args[1:])
		}
	}
	if strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(e.stderr, "catena-bridge webhooks: %q: the subcommand comes first, then its flags\n\n", args[0])
	} else {
		fmt.Fprintf(e.stderr, "catena-bridge webhooks: unknown subcommand %q\n\n", args[0])
	}
	webhooksUsage(e.stderr)
	return exitUsage
}

func webhooksUsage(w io.Writer) {
	fmt.Fprint(w, `Usage: catena-bridge webhooks <subcommand> [flags]

Manages Catena webhook subscriptions (the Notifications API, /v2/notifications/webhooks):
Catena POSTs each event, e.g. vehicle_location.added, to your endpoint, signed with the
subscription's secret.

Subcommands:
`)
	for _, c := range webhookSubcommands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
catena-bridge webhooks <subcommand> --help lists its flags with their environment variables.
`)
}

// catenaFlags are the connection and logging settings every subcommand binds.
type catenaFlags struct {
	l *config.Loader
	c config.Catena
	a config.Admin
}

func bindCatena(e *env, fs *flag.FlagSet) *catenaFlags {
	cf := &catenaFlags{l: e.newLoader(fs)}
	cf.c.Bind(cf.l)
	cf.a.BindLog(cf.l)
	return cf
}

func (cf *catenaFlags) errs() []error {
	return []error{cf.l.Err(), cf.c.Validate(), cf.a.Validate()}
}

// client returns the API client, or prints why not and the exit code.
func (cf *catenaFlags) client(e *env, name string) (*catena.Client, int) {
	c, err := newCatenaClient(cf.c, newLogger(e.stderr, cf.a), nil)
	if err != nil {
		fmt.Fprintf(e.stderr, "catena-bridge webhooks %s: %v\n", name, err)
		return nil, exitUsage
	}
	return c, exitOK
}

// readWebhookSecret reads a new subscription's secret from its file.
// Errors name the flag and the file, never the content.
func readWebhookSecret(path string) (string, error) {
	s, err := config.ReadSecretFile(path)
	if err != nil {
		return "", fmt.Errorf("--secret-file=%q: %v", path, err)
	}
	if n := len([]rune(s)); n < 12 {
		return "", fmt.Errorf("--secret-file=%q: the secret has %d characters; use at least 12 (Catena's minimum when a secret is changed), better 32 random ones", path, n)
	}
	return s, nil
}

// shownURL hides a password in a URL named in a message.
func shownURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		if _, has := u.User.Password(); has {
			return u.Redacted()
		}
	}
	return s
}

func cmdWebhooksSubscribe(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "webhooks subscribe", "--url URL [--event EVENT] [--fleet-ids A,B] [--fleet-refs X,Y] [--secret-file F] [flags]",
		`Subscribes your endpoint to a Catena event (POST /v2/notifications/webhooks) and prints the
subscription's id on stdout; a catch-all event such as vehicle_location.* creates one
subscription per action and prints one id per line. Catena then POSTs each event to --url,
signed with the subscription's secret.

Without --secret-file, Catena generates the secret and shows it in this answer only: it is
printed once, on stdout, on a line starting "SECRET (shown once". Store it at once (e.g. as
WEBHOOK_SECRET for the receiver); it cannot be fetched again. With --secret-file the secret is
yours, read from the file (trimmed, at least 12 characters) and never printed.

Catena allows one subscription per event, URL and filters. Without filters the subscription
covers every fleet that shares data with you. A create that fails in a way that may have
reached Catena (a 5xx, a timeout) is not retried: check with "webhooks list" first.
--json prints the whole answer as a JSON array.
`)
	cf := bindCatena(e, fs)
	var (
		in                  catena.WebhookCreate
		fleetIDs, fleetRefs []string
		secretFile          string
		asJSON              bool
	)
	cf.l.String(&in.URL, "url", "WEBHOOK_URL", "", "your http(s) endpoint that receives the events (required)")
	fs.StringVar(&in.EventName, "event", catena.EventVehicleLocationAdded, "event name, or a catch-all <resource>.*")
	cf.l.List(&fleetIDs, "fleet-ids", "", nil, "only events of these Catena fleet ids (comma-separated uuids)")
	cf.l.List(&fleetRefs, "fleet-refs", "", nil, "only events of the fleets with these references of yours (comma-separated)")
	cf.l.String(&secretFile, "secret-file", "WEBHOOK_SECRET_FILE", "", "file holding the secret to sign deliveries with (default: Catena generates one and it is printed once)")
	fs.BoolVar(&asJSON, "json", false, "print the created subscriptions as a JSON array")
	code, ok := parse(e, fs, args, func() error {
		errs := cf.errs()
		if err := catena.CheckWebhookURL(in.URL); err != nil {
			errs = append(errs, fmt.Errorf("--url=%q: %v", shownURL(in.URL), err))
		}
		if err := catena.CheckEventName(in.EventName); err != nil {
			errs = append(errs, fmt.Errorf("--event=%q: %v", in.EventName, err))
		}
		for _, id := range fleetIDs {
			if catena.CheckWebhookID(id) != nil { // same uuid rule
				errs = append(errs, fmt.Errorf("--fleet-ids: %q is not a uuid (Catena fleet ids are; use --fleet-refs for your own references)", id))
			}
		}
		if secretFile != "" {
			s, err := readWebhookSecret(secretFile)
			if err != nil {
				errs = append(errs, err)
			} else {
				in.Secret = &s
			}
		}
		return errors.Join(errs...)
	})
	if !ok {
		return code
	}
	if len(fleetIDs) > 0 || len(fleetRefs) > 0 {
		in.Filters = &catena.WebhookFilters{FleetIDs: fleetIDs, FleetRefs: fleetRefs}
	}
	client, code := cf.client(e, "subscribe")
	if client == nil {
		return code
	}
	hooks, err := client.CreateWebhook(ctx, in)
	if err != nil {
		fmt.Fprintf(e.stderr, "catena-bridge webhooks subscribe: %v\n", err)
		var apiErr *catena.APIError
		switch {
		case errors.Is(err, catena.ErrOutcomeUnknown):
			fmt.Fprintf(e.stderr, "The subscription may have been created. Check with\n  catena-bridge webhooks list --event %s\nbefore subscribing again. If it exists and Catena generated its secret, that secret is lost:\npause the subscription, or set a new secret (PATCH %s with a secret).\n",
				in.EventName, catena.EndpointWebhook)
		case errors.As(err, &apiErr) && apiErr.Status == http.StatusConflict:
			fmt.Fprintf(e.stderr, "Catena allows one subscription per event, URL and filters: see catena-bridge webhooks list --event %s\n", in.EventName)
		}
		return exitFailure
	}
	ownSecret := in.Secret != nil
	if ownSecret {
		// Whatever the answer holds, the secret from the file is never printed.
		for i := range hooks {
			if hooks[i].Secret != nil {
				masked := catena.MaskedSecret
				hooks[i].Secret = &masked
			}
		}
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(hooks); err != nil {
			fmt.Fprintf(e.stderr, "catena-bridge webhooks subscribe: %v\n", err)
			return exitFailure
		}
	}
	secrets := map[string]bool{}
	for _, h := range hooks {
		fmt.Fprintf(e.stderr, "subscribed %s: %s -> %s, status %s\n", h.ID, h.EventName, shownURL(h.URL), h.Status)
		if !asJSON {
			fmt.Fprintln(e.stdout, h.ID)
		}
		if s, ok := h.GeneratedSecret(); ok {
			secrets[s] = true
		}
	}
	switch {
	case ownSecret:
		fmt.Fprintf(e.stderr, "deliveries are signed with the secret from %s\n", secretFile)
	case len(secrets) == 0:
		fmt.Fprintf(e.stderr, "WARNING: Catena returned no secret in clear, so deliveries cannot be verified: set one (PATCH %s with a secret) or subscribe with --secret-file\n", catena.EndpointWebhook)
	case asJSON:
		fmt.Fprintln(e.stderr, "The secret in this output is shown once: store it now (e.g. as WEBHOOK_SECRET); it cannot be fetched again.")
	case len(secrets) == 1:
		for _, h := range hooks {
			if s, ok := h.GeneratedSecret(); ok {
				fmt.Fprintf(e.stdout, "SECRET (shown once, store it now, e.g. as WEBHOOK_SECRET): %s\n", s)
				break
			}
		}
	default:
		for _, h := range hooks {
			if s, ok := h.GeneratedSecret(); ok {
				fmt.Fprintf(e.stdout, "SECRET for %s (shown once, store it now, e.g. as WEBHOOK_SECRET): %s\n", h.ID, s)
			}
		}
	}
	return exitOK
}

func cmdWebhooksList(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "webhooks list", "[--status S] [--event EVENT] [--json] [flags]",
		`Lists your webhook subscriptions (GET /v2/notifications/webhooks, every page) as a table:
id, status, event, URL (Catena masks part of its path) and filters. --status stale lists the
subscriptions Catena's circuit breaker disabled; "webhooks activate" brings one back.
--json prints one JSON object per line instead. Secrets are never shown.
`)
	cf := bindCatena(e, fs)
	var q catena.WebhookQuery
	var asJSON bool
	fs.StringVar(&q.Status, "status", "", "only subscriptions with this status: active, paused, stale or deleted")
	fs.StringVar(&q.EventName, "event", "", "only subscriptions to this event, e.g. vehicle_location.added")
	fs.BoolVar(&asJSON, "json", false, "print one JSON object per subscription and line")
	code, ok := parse(e, fs, args, func() error {
		errs := cf.errs()
		if q.Status != "" {
			if err := catena.CheckWebhookStatus(q.Status); err != nil {
				errs = append(errs, fmt.Errorf("--status=%q: %v", q.Status, err))
			}
		}
		if q.EventName != "" {
			if err := catena.CheckEventName(q.EventName); err != nil {
				errs = append(errs, fmt.Errorf("--event=%q: %v", q.EventName, err))
			}
		}
		return errors.Join(errs...)
	})
	if !ok {
		return code
	}
	client, code := cf.client(e, "list")
	if client == nil {
		return code
	}
	p := client.Webhooks(q, "")
	var all []catena.WebhookRead
	for {
		page, err := p.Next(ctx)
		if err != nil {
			fmt.Fprintf(e.stderr, "catena-bridge webhooks list: %v\n", err)
			return exitFailure
		}
		if page == nil {
			break
		}
		all = append(all, page.Items...)
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		for i := range all {
			if err := enc.Encode(masked(all[i])); err != nil {
				fmt.Fprintf(e.stderr, "catena-bridge webhooks list: %v\n", err)
				return exitFailure
			}
		}
		return exitOK
	}
	if len(all) == 0 {
		fmt.Fprintln(e.stderr, "no subscriptions")
		return exitOK
	}
	printWebhooks(e.stdout, all...)
	return exitOK
}

// masked returns w with a secret the API sent in clear replaced by the mask.
func masked(w catena.WebhookRead) catena.WebhookRead {
	if !w.SecretMasked() {
		w.Secret = json.RawMessage(`"` + catena.MaskedSecret + `"`)
	}
	return w
}

func printWebhooks(out io.Writer, ws ...catena.WebhookRead) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tEVENT\tURL\tFILTERS")
	for _, w := range ws {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", w.ID, w.Status, w.EventName, shownURL(w.URLText()), filtersText(w.Filters))
	}
	tw.Flush()
}

func filtersText(f *catena.WebhookFilters) string {
	var parts []string
	if f != nil && len(f.FleetIDs) > 0 {
		parts = append(parts, "fleet_ids="+strings.Join(f.FleetIDs, ","))
	}
	if f != nil && len(f.FleetRefs) > 0 {
		parts = append(parts, "fleet_refs="+strings.Join(f.FleetRefs, ","))
	}
	if len(parts) == 0 {
		return "all fleets"
	}
	return strings.Join(parts, " ")
}

// webhookIDCommand is the shape of the subcommands that act on one
// subscription: --id, the connection settings, and for some --json.
func webhookIDCommand(ctx context.Context, e *env, args []string, name, help string, withJSON bool,
	run func(c *catena.Client, ctx context.Context, id string) (*catena.WebhookRead, error), after string) int {
	synopsis := "--id ID [flags]"
	if withJSON {
		synopsis = "--id ID [--json] [flags]"
	}
	fs := newFlagSet(e, "webhooks "+name, synopsis, help)
	cf := bindCatena(e, fs)
	var id string
	var asJSON bool
	fs.StringVar(&id, "id", "", "the subscription id, as subscribe and list print it (required)")
	if withJSON {
		fs.BoolVar(&asJSON, "json", false, "print the whole subscription as JSON")
	}
	code, ok := parse(e, fs, args, func() error {
		errs := cf.errs()
		if err := catena.CheckWebhookID(id); err != nil {
			errs = append(errs, fmt.Errorf("--id=%q: %v", id, err))
		}
		return errors.Join(errs...)
	})
	if !ok {
		return code
	}
	client, code := cf.client(e, name)
	if client == nil {
		return code
	}
	w, err := run(client, ctx, id)
	if err != nil {
		fmt.Fprintf(e.stderr, "catena-bridge webhooks %s: %v\n", name, err)
		return exitFailure
	}
	if after != "" {
		fmt.Fprintln(e.stderr, strings.ReplaceAll(after, "ID", id))
	}
	if w == nil {
		return exitOK
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(masked(*w)); err != nil {
			fmt.Fprintf(e.stderr, "catena-bridge webhooks %s: %v\n", name, err)
			return exitFailure
		}
		return exitOK
	}
	printWebhooks(e.stdout, *w)
	return exitOK
}

func cmdWebhooksGet(ctx context.Context, e *env, args []string) int {
	return webhookIDCommand(ctx, e, args, "get",
		`Shows one subscription (GET /v2/notifications/webhooks/{webhook_id}): id, status, event,
URL and filters; --json prints it whole. The secret is never shown.
`, true, (*catena.Client).Webhook, "")
}

func cmdWebhooksActivate(ctx context.Context, e *env, args []string) int {
	return webhookIDCommand(ctx, e, args, "activate",
		`Activates a subscription (POST /v2/notifications/webhooks/{webhook_id}/activate): a paused
subscription, or a stale one that Catena's circuit breaker disabled after failing deliveries,
delivers new events again. Fix the endpoint first, or it goes stale again. Events that went to
the dead-letter queue meanwhile are not re-sent: run "webhooks replay" for them.
`, true, (*catena.Client).ActivateWebhook,
		`activated; events in the dead-letter queue are not re-sent by this: catena-bridge webhooks replay --id ID`)
}

func cmdWebhooksPause(ctx context.Context, e *env, args []string) int {
	return webhookIDCommand(ctx, e, args, "pause",
		`Pauses a subscription (POST /v2/notifications/webhooks/{webhook_id}/pause): Catena stops
delivering its events until "webhooks activate". Whether events that occur meanwhile are
dropped or kept is not documented; the REST API still has them.
`, true, (*catena.Client).PauseWebhook, "")
}

func cmdWebhooksReplay(ctx context.Context, e *env, args []string) int {
	return webhookIDCommand(ctx, e, args, "replay",
		`Asks Catena to re-send the events of a subscription's dead-letter queue (POST
/v2/notifications/webhooks/{webhook_id}/replay): the events whose deliveries kept failing,
kept 14 days. Catena accepts the request (202) and re-sends asynchronously; the receiver
must tolerate duplicates (deliveries are at least once). Activate a stale subscription first.
`, false, func(c *catena.Client, ctx context.Context, id string) (*catena.WebhookRead, error) {
			return nil, c.ReplayWebhook(ctx, id)
		}, `replay of subscription ID's dead-letter queue accepted: Catena re-sends its undelivered events asynchronously`)
}
