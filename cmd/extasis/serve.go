package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/extasis/extasis/core/app"
	"github.com/extasis/extasis/core/config"
)

func loadConfig(cmd *cobra.Command) (*config.Config, error) {
	path, _ := cmd.Flags().GetString("config")
	var cfg *config.Config
	if path == "" {
		cfg = config.Default()
	} else {
		c, err := config.Load(path)
		if err != nil {
			return nil, err
		}
		cfg = c
	}
	cfg.ApplyEnv()
	return cfg, nil
}

func newLogger(cfg *config.Config, level *slog.LevelVar) *slog.Logger {
	level.Set(app.ParseLevel(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

func newServeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the broker (SIGTERM: clean shutdown, SIGHUP: reload config)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			level := new(slog.LevelVar)
			log := newLogger(cfg, level)
			ctx := context.Background()
			a, err := app.New(ctx, cfg, app.Options{Log: log, Level: level})
			if err != nil {
				return err
			}
			if err := a.Start(ctx); err != nil {
				_ = a.Stop(ctx)
				return err
			}
			log.Info("extasis started", "version", app.Version, "pid", os.Getpid())
			sig := make(chan os.Signal, 4)
			signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
			for {
				select {
				case s := <-sig:
					if s == syscall.SIGHUP {
						reload(cmd, a, log)
						continue
					}
					log.Info("shutting down", "signal", s.String())
					sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					err := a.Stop(sctx)
					cancel()
					return err
				case err := <-a.Err():
					sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					_ = a.Stop(sctx)
					cancel()
					return fmt.Errorf("serve: %w", err)
				}
			}
		},
	}
}

func reload(cmd *cobra.Command, a *app.App, log *slog.Logger) {
	cfg, err := loadConfig(cmd)
	if err != nil {
		log.Error("reload refused; keeping the running configuration", "err", err)
		return
	}
	restart, err := a.Reload(cfg)
	if err != nil {
		log.Error("reload failed; keeping the running configuration", "err", err)
		return
	}
	if len(restart) > 0 {
		log.Warn("reloaded; these changes need a restart", "keys", strings.Join(restart, ","))
		return
	}
	log.Info("configuration reloaded")
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), "extasis", app.Version) },
	}
}
