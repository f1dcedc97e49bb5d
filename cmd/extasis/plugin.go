package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/extasis/extasis/core/config"
	"github.com/extasis/extasis/plugins/host"
	"github.com/extasis/extasis/sdk/plugin"
)

// newPluginCmd is `extasis plugin`: the operator's view of the plugin
// catalog (plugins.dir and plugins.list in the config).
func newPluginCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plugin",
		Short: "List, check and pin out-of-process plugins",
	}
	cmd.AddCommand(newPluginListCmd(), newPluginCheckCmd(), newPluginHashCmd())
	return cmd
}

// pluginConfig loads the broker config named by --config (the defaults
// when none).
func pluginConfig(cmd *cobra.Command) (*config.Config, error) {
	path, _ := cmd.Flags().GetString("config")
	if path == "" {
		return config.Default(), nil
	}
	return config.Load(path)
}

func newPluginListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the catalog and verify each binary's place and sha256 pin (starts nothing)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := pluginConfig(cmd)
			if err != nil {
				return err
			}
			cat := cfg.Plugins
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tADDRESS\tPATH\tBINARY")
			bad := 0
			for _, p := range cat.List {
				addr := p.Address
				if addr == "" {
					addr = "(the plugin's own)"
				}
				state := "ok"
				if _, err := host.Resolve(cat.Dir, p); err != nil {
					state = err.Error()
					bad++
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", p.Name, addr, p.Path, state)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if len(cat.List) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "no plugins in the catalog (plugins.list); directory %s\n", cat.Dir)
			}
			if bad > 0 {
				return fmt.Errorf("plugin: %d of %d plugins would be refused", bad, len(cat.List))
			}
			return nil
		},
	}
}

func newPluginCheckCmd() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "check [NAME...]",
		Short: "Start each plugin (or the named ones) just long enough to check its protocol version, Info and config block",
		RunE: func(cmd *cobra.Command, names []string) error {
			cfg, err := pluginConfig(cmd)
			if err != nil {
				return err
			}
			cat := cfg.Plugins
			want, missing := map[string]bool{}, map[string]bool{}
			for _, n := range names {
				want[n], missing[n] = true, true
			}
			var errs []error
			checked := 0
			for _, p := range cat.List {
				if len(want) > 0 && !want[p.Name] {
					continue
				}
				delete(missing, p.Name)
				checked++
				ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
				info, err := host.Inspect(ctx, cat.Dir, p, nil)
				cancel()
				if err != nil {
					fmt.Fprintf(cmd.OutOrStdout(), "%s: FAIL: %v\n", p.Name, err)
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok: %s\n", p.Name, describe(p, cfg.Domains[0].Name, info))
			}
			for n := range missing {
				errs = append(errs, fmt.Errorf("plugin: %q is not in the catalog", n))
			}
			if checked == 0 && len(errs) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no plugins in the catalog (plugins.list)")
			}
			if len(errs) > 0 {
				return fmt.Errorf("plugin: %d check(s) failed: %w", len(errs), errors.Join(errs...))
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait for each plugin")
	return cmd
}

// describe summarises what a plugin reported, one line.
func describe(p config.Plugin, domain string, info plugin.Info) string {
	addr := p.Address
	if addr == "" && len(info.Addresses) > 0 {
		addr = info.Addresses[0] + "." + domain
	}
	parts := []string{fmt.Sprintf("%s %s, protocol %s", info.Name, info.Version, plugin.Protocol)}
	if addr != "" {
		parts = append(parts, "serves "+addr)
	}
	if len(info.Features) > 0 {
		parts = append(parts, "features "+strings.Join(info.Features, " "))
	}
	if len(info.Events) > 0 {
		parts = append(parts, "events "+strings.Join(info.Events, " "))
	}
	return strings.Join(parts, "; ")
}

func newPluginHashCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "hash FILE...",
		Short: "Print the sha256 pin of plugin binaries, for plugins.list[].sha256",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			for _, f := range files {
				sum, err := host.HashFile(f)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s  %s\n", sum, f)
			}
			return nil
		},
	}
}
