package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/extasis/extasis/core/config"
	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/provisioning"
	"github.com/extasis/extasis/core/storage"
	"github.com/extasis/extasis/core/storage/sqlstore"
)

// newPolicyCmd is `extasis policy`: owners' rules, Rego modules, claimed
// things, enforcement and the decision audit, read and changed in the
// store. A running broker picks changes up within
// provisioning.reload_interval and delivers the clearCache pushes queued
// here.
func newPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Provisioning: rules, owners' Rego policies, things, enforcement, audit; policy test DIR runs Rego tests",
	}
	cmd.AddCommand(newPolicyRulesCmd(), newPolicyPutCmd(), newPolicyGetCmd(), newPolicyDeleteCmd(), newPolicyTestCmd(),
		newPolicyThingsCmd(), newPolicyOwnCmd(), newPolicyDisownCmd(), newPolicyEnforceCmd(), newPolicyAuditCmd())
	return cmd
}

type policyRun func(ctx context.Context, cmd *cobra.Command, cfg *config.Config, st *sqlstore.Store, adm *provisioning.Admin, args []string) error

// withPolicyStore opens the store of the config for run.
func withPolicyStore(run policyRun) func(*cobra.Command, []string) error {
	return withStore(func(ctx context.Context, cmd *cobra.Command, cfg *config.Config, st *sqlstore.Store, args []string) error {
		return run(ctx, cmd, cfg, st, &provisioning.Admin{Store: st, Hosts: cfg.DomainNames()}, args)
	})
}

// bareJID parses a bare JID argument or flag; a JID without domain gets
// the config's first domain.
func bareJID(cfg *config.Config, what, s string) (jid.JID, error) {
	if s != "" && !strings.Contains(s, "@") && !strings.Contains(s, ".") && len(cfg.Domains) > 0 {
		s += "@" + cfg.Domains[0].Name
	}
	j, err := jid.Parse(s)
	if err != nil || !j.IsBare() {
		return jid.JID{}, fmt.Errorf("%s %q is not a bare JID", what, s)
	}
	return j, nil
}

// thingRef reads THING plus the --node, --source and --partition flags.
func thingRef(cmd *cobra.Command, cfg *config.Config, s string) (storage.ThingRef, error) {
	th, err := bareJID(cfg, "thing", s)
	if err != nil {
		return storage.ThingRef{}, err
	}
	node, _ := cmd.Flags().GetString("node")
	src, _ := cmd.Flags().GetString("source")
	pt, _ := cmd.Flags().GetString("partition")
	return storage.ThingRef{JID: th, Node: node, Source: src, Partition: pt}, nil
}

func nodeFlags(c *cobra.Command) {
	c.Flags().String("node", "", "node id behind a concentrator (empty: the thing itself)")
	c.Flags().String("source", "", "data source of the node")
	c.Flags().String("partition", "", "partition of the node")
}

func optionalJID(cmd *cobra.Command, cfg *config.Config, flag string) (jid.JID, error) {
	v, _ := cmd.Flags().GetString(flag)
	if v == "" {
		return jid.JID{}, nil
	}
	return bareJID(cfg, flag, v)
}

func refString(r storage.ThingRef) string {
	s := r.JID.String()
	if r.IsNode() {
		s += " node=" + r.Node
		if r.Source != "" {
			s += " src=" + r.Source
		}
		if r.Partition != "" {
			s += " pt=" + r.Partition
		}
	}
	return s
}

func listOrAll(v []string) string {
	if v == nil {
		return "*"
	}
	if len(v) == 0 {
		return "-"
	}
	return strings.Join(v, ",")
}

func newPolicyRulesCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "rules",
		Short: "List learned rules (filter with --owner, --thing); add or delete them",
		Args:  cobra.NoArgs,
		RunE: withPolicyStore(func(ctx context.Context, cmd *cobra.Command, cfg *config.Config, st *sqlstore.Store, _ *provisioning.Admin, _ []string) error {
			owner, err := optionalJID(cmd, cfg, "owner")
			if err != nil {
				return err
			}
			thing, err := optionalJID(cmd, cfg, "thing")
			if err != nil {
				return err
			}
			rs, err := st.Rules(ctx, storage.RuleFilter{Owner: owner, Thing: thing})
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tOWNER\tTHING\tACTION\tFOR\tALLOW\tCATEGORIES\tFIELDS\tPARAMS")
			for _, r := range rs {
				who := r.Origin
				if r.Remote != "" {
					who += ":" + r.Remote
				}
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%t\t%s\t%s\t%s\n", r.ID, r.Owner, refString(r.Thing), r.Action, who, r.Allow,
					listOrAll(r.Categories), listOrAll(r.Fields), listOrAll(r.Params))
			}
			return w.Flush()
		}),
	}
	c.Flags().String("owner", "", "only this owner's rules")
	c.Flags().String("thing", "", "only rules about this thing")

	add := &cobra.Command{
		Use:   "add THING",
		Short: "Add a rule for the thing's owner (--action, --origin, --remote, --deny, --categories, --fields, --params)",
		Args:  cobra.ExactArgs(1),
		RunE: withPolicyStore(func(ctx context.Context, cmd *cobra.Command, cfg *config.Config, _ *sqlstore.Store, adm *provisioning.Admin, args []string) error {
			ref, err := thingRef(cmd, cfg, args[0])
			if err != nil {
				return err
			}
			f := cmd.Flags()
			r := storage.ProvisioningRule{Thing: ref}
			r.Action, _ = f.GetString("action")
			r.Origin, _ = f.GetString("origin")
			r.Remote, _ = f.GetString("remote")
			deny, _ := f.GetBool("deny")
			r.Allow = !deny
			list := func(name string) []string {
				if !f.Changed(name) {
					return nil
				}
				v, _ := f.GetStringSlice(name)
				return append([]string{}, v...)
			}
			r.Categories, r.Fields, r.Params = list("categories"), list("fields"), list("params")
			id, err := adm.AddRule(ctx, r)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "added rule %d\n", id)
			return nil
		}),
	}
	nodeFlags(add)
	add.Flags().String("action", "read", "friend, read or control")
	add.Flags().String("origin", "jid", "whom the rule is for: jid, domain, user, device, service or all")
	add.Flags().String("remote", "", "the JID, domain or token the origin names (empty for all)")
	add.Flags().Bool("deny", false, "a negative rule")
	add.Flags().StringSlice("categories", nil, "field categories allowed (m,p,s,c,i,h); absent: all")
	add.Flags().StringSlice("fields", nil, "field names allowed; absent: all")
	add.Flags().StringSlice("params", nil, "control parameters allowed; absent: all")

	del := &cobra.Command{
		Use:   "delete [ID...]",
		Short: "Delete rules by id, or all rules of --owner and/or --thing",
		RunE: withPolicyStore(func(ctx context.Context, cmd *cobra.Command, cfg *config.Config, _ *sqlstore.Store, adm *provisioning.Admin, args []string) error {
			owner, err := optionalJID(cmd, cfg, "owner")
			if err != nil {
				return err
			}
			thing, err := optionalJID(cmd, cfg, "thing")
			if err != nil {
				return err
			}
			var filters []storage.RuleFilter
			for _, a := range args {
				id, err := strconv.ParseInt(a, 10, 64)
				if err != nil || id <= 0 {
					return fmt.Errorf("%q is not a rule id", a)
				}
				filters = append(filters, storage.RuleFilter{ID: id, Owner: owner, Thing: thing})
			}
			if len(args) == 0 {
				if owner.IsZero() && thing.IsZero() {
					return errors.New("name rule ids, or --owner and/or --thing")
				}
				filters = append(filters, storage.RuleFilter{Owner: owner, Thing: thing})
			}
			n := 0
			for _, f := range filters {
				gone, err := adm.DeleteRules(ctx, f)
				if err != nil {
					return err
				}
				n += len(gone)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted %d rules\n", n)
			return nil
		}),
	}
	del.Flags().String("owner", "", "only this owner's rules")
	del.Flags().String("thing", "", "only rules about this thing")
	c.AddCommand(add, del)
	return c
}

func newPolicyPutCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "put --owner OWNER FILE",
		Short: "Compile an owner's Rego module (package extasis.provisioning.owner) in the sandbox and use it for their things",
		Args:  cobra.ExactArgs(1),
		RunE: withPolicyStore(func(ctx context.Context, cmd *cobra.Command, cfg *config.Config, _ *sqlstore.Store, adm *provisioning.Admin, args []string) error {
			owner, err := optionalJID(cmd, cfg, "owner")
			if err != nil || owner.IsZero() {
				return errors.New("--owner OWNER is required")
			}
			var b []byte
			if args[0] == "-" {
				b, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), provisioning.MaxModuleSize+1))
			} else {
				b, err = os.ReadFile(args[0])
			}
			if err != nil {
				return err
			}
			if err := adm.PutPolicy(ctx, owner, args[0], string(b)); err != nil {
				var pe *provisioning.PolicyError
				if errors.As(err, &pe) {
					return fmt.Errorf("%s:%d:%d: %s", pe.File, pe.Line, pe.Col, pe.Msg)
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "policy of %s stored; it applies to their things within %s\n", owner, cfg.Provisioning.ReloadInterval.D())
			return nil
		}),
	}
	c.Flags().String("owner", "", "the owner whose things the module decides for")
	return c
}

func newPolicyGetCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "get --owner OWNER",
		Short: "Print an owner's Rego module",
		Args:  cobra.NoArgs,
		RunE: withPolicyStore(func(ctx context.Context, cmd *cobra.Command, cfg *config.Config, st *sqlstore.Store, _ *provisioning.Admin, _ []string) error {
			owner, err := optionalJID(cmd, cfg, "owner")
			if err != nil || owner.IsZero() {
				return errors.New("--owner OWNER is required")
			}
			ps, err := st.OwnerPolicies(ctx, owner)
			if err != nil {
				return err
			}
			if len(ps) == 0 {
				return fmt.Errorf("%s has no policy of their own (the default applies)", owner)
			}
			_, err = io.WriteString(cmd.OutOrStdout(), ps[0].Module)
			return err
		}),
	}
	c.Flags().String("owner", "", "the owner")
	return c
}

func newPolicyDeleteCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "delete --owner OWNER",
		Short: "Remove an owner's Rego module (back to the default policy)",
		Args:  cobra.NoArgs,
		RunE: withPolicyStore(func(ctx context.Context, cmd *cobra.Command, cfg *config.Config, _ *sqlstore.Store, adm *provisioning.Admin, _ []string) error {
			owner, err := optionalJID(cmd, cfg, "owner")
			if err != nil || owner.IsZero() {
				return errors.New("--owner OWNER is required")
			}
			if err := adm.DeletePolicy(ctx, owner); err != nil {
				if errors.Is(err, storage.ErrNotFound) {
					return fmt.Errorf("%s has no policy of their own", owner)
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "policy of %s removed\n", owner)
			return nil
		}),
	}
	c.Flags().String("owner", "", "the owner")
	return c
}

func newPolicyTestCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "test DIR",
		Short: "Run the Rego unit tests (test_ rules) under DIR, as opa test does, with the default provisioning policy loaded",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			rs, err := provisioning.RunTests(ctx, args[0])
			if err != nil {
				var pe *provisioning.PolicyError
				if errors.As(err, &pe) {
					return fmt.Errorf("%s:%d:%d: %s", pe.File, pe.Line, pe.Col, pe.Msg)
				}
				return err
			}
			verbose, _ := cmd.Flags().GetBool("verbose")
			if !provisioning.PrintTests(cmd.OutOrStdout(), rs, verbose) {
				return errors.New("policy tests failed")
			}
			return nil
		},
	}
	c.Flags().BoolP("verbose", "v", false, "list passing tests too")
	return c
}

func newPolicyThingsCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "things",
		Short: "List claimed things with their owner and enforcement mode (--owner to filter)",
		Args:  cobra.NoArgs,
		RunE: withPolicyStore(func(ctx context.Context, cmd *cobra.Command, cfg *config.Config, st *sqlstore.Store, _ *provisioning.Admin, _ []string) error {
			owner, err := optionalJID(cmd, cfg, "owner")
			if err != nil {
				return err
			}
			ts, err := st.OwnedThings(ctx, owner)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "THING\tOWNER\tENFORCE\tCLAIMED")
			for _, t := range ts {
				fmt.Fprintf(w, "%s\t%s\t%t\t%s\n", refString(t.Thing), t.Owner, t.Enforce, t.Claimed.UTC().Format(time.RFC3339))
			}
			return w.Flush()
		}),
	}
	c.Flags().String("owner", "", "only this owner's things")
	return c
}

func newPolicyOwnCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "own --owner OWNER THING",
		Short: "Record OWNER as the owner of THING (things claimed outside the registry); a previous owner's rules are deleted",
		Args:  cobra.ExactArgs(1),
		RunE: withPolicyStore(func(ctx context.Context, cmd *cobra.Command, cfg *config.Config, _ *sqlstore.Store, adm *provisioning.Admin, args []string) error {
			owner, err := optionalJID(cmd, cfg, "owner")
			if err != nil || owner.IsZero() {
				return errors.New("--owner OWNER is required")
			}
			ref, err := thingRef(cmd, cfg, args[0])
			if err != nil {
				return err
			}
			if err := adm.Own(ctx, ref, owner); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is owned by %s\n", refString(ref), owner)
			return nil
		}),
	}
	c.Flags().String("owner", "", "the owner")
	nodeFlags(c)
	return c
}

func newPolicyDisownCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "disown THING",
		Short: "Forget THING's owner and every rule about it",
		Args:  cobra.ExactArgs(1),
		RunE: withPolicyStore(func(ctx context.Context, cmd *cobra.Command, cfg *config.Config, _ *sqlstore.Store, adm *provisioning.Admin, args []string) error {
			ref, err := thingRef(cmd, cfg, args[0])
			if err != nil {
				return err
			}
			if err := adm.Disown(ctx, ref); err != nil {
				if errors.Is(err, storage.ErrNotFound) {
					return fmt.Errorf("%s is not claimed", refString(ref))
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s disowned\n", refString(ref))
			return nil
		}),
	}
	nodeFlags(c)
	return c
}

func newPolicyEnforceCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "enforce THING on|off",
		Short: "Have the broker check sensor-data, control and subscription requests to THING (for things that cannot ask)",
		Args:  cobra.ExactArgs(2),
		RunE: withPolicyStore(func(ctx context.Context, cmd *cobra.Command, cfg *config.Config, _ *sqlstore.Store, adm *provisioning.Admin, args []string) error {
			th, err := bareJID(cfg, "thing", args[0])
			if err != nil {
				return err
			}
			var on bool
			switch args[1] {
			case "on", "true":
				on = true
			case "off", "false":
			default:
				return fmt.Errorf("%q: want on or off", args[1])
			}
			if err := adm.SetEnforce(ctx, th, on); err != nil {
				if errors.Is(err, storage.ErrNotFound) {
					return fmt.Errorf("%s is not claimed", th)
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "enforcement for %s: %s\n", th, args[1])
			return nil
		}),
	}
}

func newPolicyAuditCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "audit",
		Short: "Show decisions, newest first: who asked what, when, the answer and the rules that made it (no values)",
		Args:  cobra.NoArgs,
		RunE: withPolicyStore(func(ctx context.Context, cmd *cobra.Command, cfg *config.Config, st *sqlstore.Store, _ *provisioning.Admin, _ []string) error {
			owner, err := optionalJID(cmd, cfg, "owner")
			if err != nil {
				return err
			}
			thing, err := optionalJID(cmd, cfg, "thing")
			if err != nil {
				return err
			}
			limit, _ := cmd.Flags().GetInt("limit")
			ds, err := st.Decisions(ctx, storage.DecisionFilter{Owner: owner, Thing: thing, Limit: limit})
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "TIME\tTHING\tREQUESTER\tACTION\tVIA\tALLOW\tREASON\tRULES\tASKED\tGRANTED")
			for _, d := range ds {
				ids := make([]string, len(d.Rules))
				for i, id := range d.Rules {
					ids[i] = strconv.FormatInt(id, 10)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%t\t%s\t%s\t%s\t%s\n", d.Time.UTC().Format(time.RFC3339), refString(d.Thing), d.Requester,
					d.Action, d.Via, d.Allow, d.Reason, strings.Join(ids, ","), d.Request, d.Granted)
			}
			return w.Flush()
		}),
	}
	c.Flags().String("owner", "", "only decisions about this owner's things")
	c.Flags().String("thing", "", "only decisions about this thing")
	c.Flags().Int("limit", 50, "at most this many")
	return c
}
