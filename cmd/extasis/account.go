package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/extasis/extasis/core/app"
	"github.com/extasis/extasis/core/config"
	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/register"
	"github.com/extasis/extasis/core/storage"
	"github.com/extasis/extasis/core/storage/sqlstore"
)

// MinPasswordLen is the shortest password the operator tools accept.
const MinPasswordLen = register.MinPasswordLength

func openStore(ctx context.Context, cfg *config.Config) (*sqlstore.Store, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	return sqlstore.Open(ctx, cfg.StorageDSN(), app.StorageOptions(cfg))
}

// storeRun is a subcommand that works on the broker's storage.
type storeRun func(ctx context.Context, cmd *cobra.Command, cfg *config.Config, st *sqlstore.Store, args []string) error

// withStore loads the config (--config, EXTASIS_STORAGE), opens the same
// storage the broker uses and runs run with a two-minute bound.
func withStore(run storeRun) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		cfg, err := loadConfig(cmd)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		st, err := openStore(ctx, cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		return run(ctx, cmd, cfg, st, args)
	}
}

func newAccountCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "account",
		Short: "Manage accounts (add, passwd, del, list)",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "add USER@DOMAIN",
		Short: "Create an account; the password is prompted for, or read from the first line of stdin",
		Args:  cobra.ExactArgs(1),
		RunE: withStore(func(ctx context.Context, cmd *cobra.Command, cfg *config.Config, st *sqlstore.Store, args []string) error {
			user, err := accountJID(cfg, args[0])
			if err != nil {
				return err
			}
			pw, err := readPassword(cmd, true)
			if err != nil {
				return err
			}
			creds, err := newCredentials(pw, cfg.Auth.Iterations)
			if err != nil {
				return err
			}
			if err := st.CreateAccount(ctx, storage.Account{JID: user, Credentials: creds}); err != nil {
				if errors.Is(err, storage.ErrExists) {
					return fmt.Errorf("account %s already exists (use 'extasis account passwd' to change its password)", user)
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created %s\n", user)
			return nil
		}),
	}, &cobra.Command{
		Use:   "passwd USER@DOMAIN",
		Short: "Change an account's password",
		Args:  cobra.ExactArgs(1),
		RunE: withStore(func(ctx context.Context, cmd *cobra.Command, cfg *config.Config, st *sqlstore.Store, args []string) error {
			user, err := accountJID(cfg, args[0])
			if err != nil {
				return err
			}
			pw, err := readPassword(cmd, true)
			if err != nil {
				return err
			}
			creds, err := newCredentials(pw, cfg.Auth.Iterations)
			if err != nil {
				return err
			}
			if err := st.SetCredentials(ctx, user, creds); err != nil {
				if errors.Is(err, storage.ErrNotFound) {
					return fmt.Errorf("no account %s", user)
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "password changed for %s\n", user)
			return nil
		}),
	}, &cobra.Command{
		Use:   "del USER@DOMAIN",
		Short: "Delete an account with its roster, offline messages and block list",
		Args:  cobra.ExactArgs(1),
		RunE: withStore(func(ctx context.Context, cmd *cobra.Command, cfg *config.Config, st *sqlstore.Store, args []string) error {
			user, err := accountJID(cfg, args[0])
			if err != nil {
				return err
			}
			if err := st.DeleteAccount(ctx, user); err != nil {
				if errors.Is(err, storage.ErrNotFound) {
					return fmt.Errorf("no account %s", user)
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted %s\n", user)
			return nil
		}),
	}, &cobra.Command{
		Use:   "list [DOMAIN]",
		Short: "List accounts, of one domain or all",
		Args:  cobra.MaximumNArgs(1),
		RunE: withStore(func(ctx context.Context, cmd *cobra.Command, cfg *config.Config, st *sqlstore.Store, args []string) error {
			domain := ""
			if len(args) == 1 {
				domain = args[0]
			}
			w := bufio.NewWriter(cmd.OutOrStdout())
			defer w.Flush()
			after := ""
			for {
				page, err := st.ListAccounts(ctx, domain, after, 1000)
				if err != nil {
					return err
				}
				for _, j := range page {
					fmt.Fprintln(w, j)
				}
				if len(page) < 1000 {
					return nil
				}
				after = page[len(page)-1].String()
			}
		}),
	})
	return cmd
}

// accountJID parses a bare user JID of a served domain.
func accountJID(cfg *config.Config, s string) (jid.JID, error) {
	j, err := jid.Parse(s)
	if err != nil || j.Local() == "" || !j.IsBare() {
		return jid.JID{}, fmt.Errorf("%q is not an account address like alice@%s", s, cfg.Domains[0].Name)
	}
	for _, d := range cfg.Domains {
		if d.Name == j.Domain() {
			return j, nil
		}
	}
	return jid.JID{}, fmt.Errorf("domain %s is not served by this configuration (domains: %s)", j.Domain(), strings.Join(cfg.DomainNames(), ", "))
}

// readPassword prompts on a terminal (twice when confirm), or reads the
// first line of stdin. Passwords never come from arguments: they would end
// up in shell history and in ps.
func readPassword(cmd *cobra.Command, confirm bool) (string, error) {
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(cmd.ErrOrStderr(), "Password: ")
		p1, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return "", err
		}
		if confirm {
			fmt.Fprint(cmd.ErrOrStderr(), "Again: ")
			p2, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(cmd.ErrOrStderr())
			if err != nil {
				return "", err
			}
			if string(p1) != string(p2) {
				return "", errors.New("the passwords differ")
			}
		}
		return checkPassword(string(p1))
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return checkPassword(strings.TrimRight(line, "\r\n"))
}

func checkPassword(p string) (string, error) {
	if err := register.CheckPassword(p, "", MinPasswordLen); err != nil {
		return "", err
	}
	return p, nil
}

// newCredentials derives the SCRAM-SHA-1 and SCRAM-SHA-256 verifiers, as
// in-band registration does.
func newCredentials(pw string, iterations int) ([]storage.Credential, error) {
	return register.NewCredentials(pw, iterations)
}
