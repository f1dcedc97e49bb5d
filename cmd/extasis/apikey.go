package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/extasis/extasis/core/app"
	"github.com/extasis/extasis/core/config"
	"github.com/extasis/extasis/core/register"
	"github.com/extasis/extasis/core/storage"
	"github.com/extasis/extasis/core/storage/sqlstore"
)

// newAPIKeyCmd is `extasis apikey`: keys that let devices create their own
// accounts by signed in-band registration (XEP-0077 + XEP-0348).
func newAPIKeyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "apikey",
		Short: "Manage API keys for signed in-band registration (create, list, show, revoke)",
		Long: "An API key and its secret let devices create their own accounts: they sign the\n" +
			"registration form with them (XEP-0077 with XEP-0348). Each key creates at most\n" +
			"--accounts accounts, optionally on one domain and until an expiry. The secret is\n" +
			"shown once, at creation; extasis keeps it encrypted with a key derived from\n" +
			"data_dir/secret, which must therefore be the broker's own.",
	}
	jsonFlag := func(c *cobra.Command) *cobra.Command {
		c.Flags().Bool("json", false, "print JSON, for scripts")
		return c
	}

	create := jsonFlag(&cobra.Command{
		Use:   "create --accounts N [--expires 90d|2026-12-31|RFC3339] [--domain D] [--note TEXT]",
		Short: "Issue a key and its secret (the secret is shown only now)",
		Args:  cobra.NoArgs,
		RunE: withStore(func(ctx context.Context, cmd *cobra.Command, cfg *config.Config, st *sqlstore.Store, _ []string) error {
			accounts, _ := cmd.Flags().GetInt("accounts")
			domain, _ := cmd.Flags().GetString("domain")
			note, _ := cmd.Flags().GetString("note")
			expStr, _ := cmd.Flags().GetString("expires")
			if accounts < 1 {
				return errors.New("--accounts must be at least 1: how many accounts devices may create with this key")
			}
			if domain != "" && !slices.Contains(cfg.DomainNames(), domain) {
				return fmt.Errorf("domain %s is not served by this configuration (domains: %s)", domain, strings.Join(cfg.DomainNames(), ", "))
			}
			now := time.Now().UTC().Truncate(time.Second)
			expires, err := parseExpiry(expStr, now)
			if err != nil {
				return err
			}
			secret, err := app.NodeSecret(cfg.DataDir)
			if err != nil {
				return err
			}
			sealer, err := register.NewSealer(secret)
			if err != nil {
				return err
			}
			k, keySecret, err := register.NewAPIKey(sealer, register.KeySpec{Accounts: accounts, Domain: domain, Note: note, Expires: expires}, now)
			if err != nil {
				return err
			}
			if err := st.CreateAPIKey(ctx, k); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON(cmd) {
				return writeJSON(w, struct {
					Key      string `json:"key"`
					Secret   string `json:"secret"`
					Accounts int    `json:"accounts"`
					Domain   string `json:"domain,omitempty"`
					Expires  string `json:"expires,omitempty"`
					Note     string `json:"note,omitempty"`
				}{k.Key, keySecret, k.Accounts, k.Domain, timeOrEmpty(k.Expires), k.Note})
			}
			fmt.Fprintf(w, "key:      %s\nsecret:   %s\naccounts: %d\ndomain:   %s\nexpires:  %s\n", k.Key, keySecret, k.Accounts, orAny(k.Domain), timeOrNever(k.Expires))
			if k.Note != "" {
				fmt.Fprintf(w, "note:     %s\n", k.Note)
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "The secret is shown only now: give it to the device maker with the key. extasis keeps it encrypted and cannot show it again.")
			return nil
		}),
	})
	create.Flags().Int("accounts", 0, "how many accounts devices may create with the key (required)")
	create.Flags().String("expires", "", "when the key stops working: a duration (90d, 720h), a date (2026-12-31, UTC) or RFC 3339; default never")
	create.Flags().String("domain", "", "the only domain the key creates accounts on; default any served domain")
	create.Flags().String("note", "", "who has the key, for your records")

	list := jsonFlag(&cobra.Command{
		Use:   "list",
		Short: "List keys with their use, remaining quota and state",
		Args:  cobra.NoArgs,
		RunE: withStore(func(ctx context.Context, cmd *cobra.Command, _ *config.Config, st *sqlstore.Store, _ []string) error {
			keys, err := st.ListAPIKeys(ctx)
			if err != nil {
				return err
			}
			now := time.Now()
			if asJSON(cmd) {
				out := make([]keyJSON, 0, len(keys))
				for _, k := range keys {
					out = append(out, toKeyJSON(k, now))
				}
				return writeJSON(cmd.OutOrStdout(), out)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tSTATE\tUSED\tREMAINING\tDOMAIN\tEXPIRES\tNOTE")
			for _, k := range keys {
				fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%d\t%s\t%s\t%s\n", k.Key, keyState(k, now), k.Used, k.Accounts, k.Remaining(),
					orAny(k.Domain), timeOrNever(k.Expires), k.Note)
			}
			return tw.Flush()
		}),
	})

	show := jsonFlag(&cobra.Command{
		Use:   "show KEY",
		Short: "Show a key and the accounts it created, newest first",
		Args:  cobra.ExactArgs(1),
		RunE: withStore(func(ctx context.Context, cmd *cobra.Command, _ *config.Config, st *sqlstore.Store, args []string) error {
			k, err := st.APIKey(ctx, args[0])
			if errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("no api key %s (extasis apikey list shows them)", args[0])
			}
			if err != nil {
				return err
			}
			limit, _ := cmd.Flags().GetInt("registrations")
			regs, err := st.Registrations(ctx, k.Key, limit)
			if err != nil {
				return err
			}
			now := time.Now()
			if asJSON(cmd) {
				type regJSON struct {
					Account string `json:"account"`
					Time    string `json:"time"`
					Remote  string `json:"remote"`
				}
				out := struct {
					keyJSON
					Registrations []regJSON `json:"registrations"`
				}{keyJSON: toKeyJSON(k, now), Registrations: []regJSON{}}
				for _, r := range regs {
					out.Registrations = append(out.Registrations, regJSON{r.Account.String(), r.Time.UTC().Format(time.RFC3339), r.Remote})
				}
				return writeJSON(cmd.OutOrStdout(), out)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "key:       %s\nstate:     %s\nused:      %d of %d (%d remaining)\ndomain:    %s\ncreated:   %s\nexpires:   %s\n",
				k.Key, keyState(k, now), k.Used, k.Accounts, k.Remaining(), orAny(k.Domain), k.Created.UTC().Format(time.RFC3339), timeOrNever(k.Expires))
			if !k.Revoked.IsZero() {
				fmt.Fprintf(w, "revoked:   %s\n", k.Revoked.UTC().Format(time.RFC3339))
			}
			if k.Note != "" {
				fmt.Fprintf(w, "note:      %s\n", k.Note)
			}
			if len(regs) > 0 {
				fmt.Fprintln(w, "\naccounts created (newest first):")
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				for _, r := range regs {
					fmt.Fprintf(tw, "  %s\t%s\t%s\n", r.Time.UTC().Format(time.RFC3339), r.Account, r.Remote)
				}
				return tw.Flush()
			}
			return nil
		}),
	})
	show.Flags().Int("registrations", 50, "how many of the accounts it created to list (0: all)")

	revoke := jsonFlag(&cobra.Command{
		Use:   "revoke KEY",
		Short: "Stop a key from creating accounts (the accounts it created stay)",
		Args:  cobra.ExactArgs(1),
		RunE: withStore(func(ctx context.Context, cmd *cobra.Command, _ *config.Config, st *sqlstore.Store, args []string) error {
			if err := st.RevokeAPIKey(ctx, args[0], time.Now()); err != nil {
				if errors.Is(err, storage.ErrNotFound) {
					return fmt.Errorf("no api key %s (extasis apikey list shows them)", args[0])
				}
				return err
			}
			k, err := st.APIKey(ctx, args[0])
			if err != nil {
				return err
			}
			if asJSON(cmd) {
				return writeJSON(cmd.OutOrStdout(), toKeyJSON(k, time.Now()))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %s at %s (it created %d accounts)\n", k.Key, k.Revoked.UTC().Format(time.RFC3339), k.Used)
			return nil
		}),
	})

	cmd.AddCommand(create, list, show, revoke)
	return cmd
}

// keyJSON is a key as `list`, `show` and `revoke` print it with --json.
type keyJSON struct {
	Key       string `json:"key"`
	State     string `json:"state"` // active, revoked, expired, exhausted
	Accounts  int    `json:"accounts"`
	Used      int    `json:"used"`
	Remaining int    `json:"remaining"`
	Domain    string `json:"domain,omitempty"`
	Note      string `json:"note,omitempty"`
	Created   string `json:"created"`
	Expires   string `json:"expires,omitempty"`
	Revoked   string `json:"revoked,omitempty"`
}

func toKeyJSON(k storage.APIKey, now time.Time) keyJSON {
	return keyJSON{Key: k.Key, State: keyState(k, now), Accounts: k.Accounts, Used: k.Used, Remaining: k.Remaining(),
		Domain: k.Domain, Note: k.Note, Created: k.Created.UTC().Format(time.RFC3339),
		Expires: timeOrEmpty(k.Expires), Revoked: timeOrEmpty(k.Revoked)}
}

func keyState(k storage.APIKey, now time.Time) string {
	switch {
	case !k.Revoked.IsZero():
		return "revoked"
	case !k.Active(now):
		return "expired"
	case k.Remaining() == 0:
		return "exhausted"
	}
	return "active"
}

// parseExpiry reads --expires: "" (never), a duration with d for days, a
// date (UTC midnight at its start) or RFC 3339.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 {
			return now.Add(time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(d), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("--expires %q: want a duration (90d, 720h), a date (2026-12-31) or RFC 3339 (2026-12-31T23:59:59Z)", s)
}

func asJSON(cmd *cobra.Command) bool {
	v, _ := cmd.Flags().GetBool("json")
	return v
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func timeOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func timeOrNever(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

func orAny(domain string) string {
	if domain == "" {
		return "any served domain"
	}
	return domain
}
