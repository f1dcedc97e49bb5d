package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/extasis/extasis/core/app"
	"github.com/extasis/extasis/core/storage/portable"
	"github.com/extasis/extasis/core/storage/sqlstore"
)

func newStorageCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "storage",
		Short: "Inspect and move the broker's data (migrate, status, export, import)",
	}
	open := func(cmd *cobra.Command, opts sqlstore.Options) (*sqlstore.Store, context.Context, context.CancelFunc, error) {
		cfg, err := loadConfig(cmd)
		if err != nil {
			return nil, nil, nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			cancel()
			return nil, nil, nil, err
		}
		o := app.StorageOptions(cfg)
		o.NoMigrate = opts.NoMigrate
		st, err := sqlstore.Open(ctx, cfg.StorageDSN(), o)
		if err != nil {
			cancel()
			return nil, nil, nil, err
		}
		return st, ctx, cancel, nil
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "List the schema migrations and whether each is applied",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, ctx, cancel, err := open(cmd, sqlstore.Options{NoMigrate: true})
			if err != nil {
				return err
			}
			defer cancel()
			defer st.Close()
			ms, err := st.Status(ctx)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintf(w, "backend: %s\nVERSION\tNAME\tAPPLIED\n", st.Backend())
			for _, m := range ms {
				applied := "pending"
				if !m.Applied.IsZero() {
					applied = m.Applied.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(w, "%04d\t%s\t%s\n", m.Version, m.Name, applied)
			}
			return w.Flush()
		},
	}, &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending schema migrations (serve also does this at start)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, ctx, cancel, err := open(cmd, sqlstore.Options{NoMigrate: true})
			if err != nil {
				return err
			}
			defer cancel()
			defer st.Close()
			done, err := st.Migrate(ctx)
			for _, m := range done {
				fmt.Fprintf(cmd.OutOrStdout(), "applied %04d %s\n", m.Version, m.Name)
			}
			if err == nil && len(done) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "nothing to do: the schema is current")
			}
			return err
		},
	})
	var out string
	var domains []string
	export := &cobra.Command{
		Use:   "export",
		Short: "Write accounts, rosters, block lists and offline messages as XEP-0227 XML",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, ctx, cancel, err := open(cmd, sqlstore.Options{})
			if err != nil {
				return err
			}
			defer cancel()
			defer st.Close()
			var w io.Writer = cmd.OutOrStdout()
			if out != "" && out != "-" {
				f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			return portable.Export(ctx, st, w, domains)
		},
	}
	export.Flags().StringVarP(&out, "out", "o", "-", "file to write (0600; '-' for stdout)")
	export.Flags().StringSliceVar(&domains, "domain", nil, "export only these domains (default: all)")
	cmd.AddCommand(export)
	cmd.AddCommand(&cobra.Command{
		Use:   "import FILE",
		Short: "Read a XEP-0227 file (ours, or another server's with passwords) into this storage",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, ctx, cancel, err := open(cmd, sqlstore.Options{})
			if err != nil {
				return err
			}
			defer cancel()
			defer st.Close()
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			stats, err := portable.Import(ctx, st, f)
			fmt.Fprintf(cmd.OutOrStdout(), "imported %d users, %d roster items, %d offline messages, %d subscription requests, %d blocked items\n",
				stats.Users, stats.RosterItems, stats.OfflineMessages, stats.SubscriptionRequests, stats.BlockedItems)
			return err
		},
	})
	return cmd
}
