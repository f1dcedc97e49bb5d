package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/skip2/go-qrcode"
	"github.com/spf13/cobra"

	"github.com/extasis/extasis/core/config"
	"github.com/extasis/extasis/sdk/iotdisco"
)

// newThingCmd is `extasis thing`: a thing's conceptual identity as its
// owner receives it, the iotdisco: claim URI and its QR code.
func newThingCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "thing",
		Short: "Make a thing's iotdisco: claim URI and QR code",
	}
	cmd.AddCommand(newThingURICmd(), newThingQRCmd())
	return cmd
}

const thingArgsHelp = `Tags are NAME=VALUE for strings and '#NAME=VALUE' for numbers (quote the #
in a shell), in the order the thing registers them, e.g.
  MAN=acme-meters.example MODEL=EM-200 SN=A7Q-000042 '#V=3.1' KEY=5f0c9e1d…
The claim URI always ends with R, the registry's address.`

// thingFlags are the flags shared by uri and qr.
type thingFlags struct {
	registry  string
	key       string
	randomKey bool
}

func (f *thingFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.registry, "registry", "", "the registry's address (R); default: the registry plugin's address in --config, else registry.<first domain>")
	cmd.Flags().StringVar(&f.key, "key", "", "the thing's secret KEY tag (instead of a KEY=… argument)")
	cmd.Flags().BoolVar(&f.randomKey, "random-key", false, "add a KEY of 32 random bytes in hex (what a thing that makes its own key uses)")
}

// claimURI builds the URI from the arguments and flags.
func (f *thingFlags) claimURI(cmd *cobra.Command, args []string) (string, error) {
	tags := make([]iotdisco.Tag, 0, len(args)+1)
	for _, a := range args {
		t := iotdisco.Tag{}
		if strings.HasPrefix(a, "#") {
			t.Numeric, a = true, a[1:]
		}
		name, value, ok := strings.Cut(a, "=")
		if !ok {
			return "", fmt.Errorf("thing: tag %q: want NAME=VALUE or #NAME=VALUE", a)
		}
		t.Name, t.Value = name, value
		tags = append(tags, t)
	}
	key := f.key
	if f.randomKey {
		if key != "" {
			return "", errors.New("thing: --key and --random-key exclude each other")
		}
		b := make([]byte, 32)
		rand.Read(b)
		key = hex.EncodeToString(b)
	}
	if key != "" {
		tags = append(tags, iotdisco.Tag{Name: iotdisco.KeyTag, Value: key})
	}
	hasKey := false
	for _, t := range tags {
		hasKey = hasKey || iotdisco.Fold(t.Name) == iotdisco.KeyTag
	}
	if !hasKey {
		return "", errors.New("thing: a claim URI needs a KEY (KEY=…, --key or --random-key)")
	}
	reg := f.registry
	if reg == "" {
		var err error
		if reg, err = defaultRegistry(cmd); err != nil {
			return "", err
		}
	}
	return iotdisco.ClaimURI(tags, reg)
}

// defaultRegistry is the address of the plugin named registry in the
// config, else registry.<first domain> (the plugin's default label).
func defaultRegistry(cmd *cobra.Command) (string, error) {
	cfg := config.Default()
	if path, _ := cmd.Flags().GetString("config"); path != "" {
		var err error
		if cfg, err = config.Load(path); err != nil {
			return "", err
		}
	}
	for _, p := range cfg.Plugins.List {
		if p.Name == "registry" && p.Address != "" {
			return p.Address, nil
		}
	}
	if len(cfg.Domains) == 0 {
		return "", errors.New("thing: no domain in the config; give --registry")
	}
	return "registry." + cfg.Domains[0].Name, nil
}

func newThingURICmd() *cobra.Command {
	var f thingFlags
	cmd := &cobra.Command{
		Use:   "uri [flags] TAG...",
		Short: "Print a thing's iotdisco: claim URI",
		Long:  "Print a thing's iotdisco: claim URI, which its owner claims it with.\n\n" + thingArgsHelp,
		RunE: func(cmd *cobra.Command, args []string) error {
			uri, err := f.claimURI(cmd, args)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), uri)
			return nil
		},
	}
	f.add(cmd)
	return cmd
}

func newThingQRCmd() *cobra.Command {
	var (
		f    thingFlags
		png  string
		size int
	)
	cmd := &cobra.Command{
		Use:   "qr --png FILE [flags] TAG...",
		Short: "Write a thing's claim URI as a QR code image (and print the URI)",
		Long: "Write a thing's iotdisco: claim URI as a QR code (PNG, UTF-8, medium error correction),\n" +
			"made locally: the URI holds the KEY, so it must never go to an online QR service.\n\n" + thingArgsHelp,
		RunE: func(cmd *cobra.Command, args []string) error {
			if png == "" {
				return errors.New("thing: --png FILE is required")
			}
			if size < 64 || size > 4096 {
				return fmt.Errorf("thing: --size %d: want 64 to 4096 pixels", size)
			}
			uri, err := f.claimURI(cmd, args)
			if err != nil {
				return err
			}
			img, err := qrcode.Encode(uri, qrcode.Medium, size)
			if err != nil {
				return fmt.Errorf("thing: qr: %w", err)
			}
			// 0600: the image holds the KEY.
			if err := os.WriteFile(png, img, 0o600); err != nil {
				return fmt.Errorf("thing: %w", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), uri)
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&png, "png", "", "the PNG file to write")
	cmd.Flags().IntVar(&size, "size", 512, "image width and height in pixels")
	return cmd
}
