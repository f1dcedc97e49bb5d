// Command thing-register is a device that onboards itself: on first boot
// it creates its account on the broker with in-band registration signed by
// the manufacturer's API key (XEP-0077 + XEP-0348), then logs in; on every
// later boot it just logs in. One call does both: thing.Connect.
//
//	extasis apikey create --accounts 1000 --note "batch 7"     # the operator, once
//	export EXTASIS_API_KEY=... EXTASIS_API_SECRET=...            # baked into the firmware
//	export THING_PASSWORD='a per-device password'
//	go run ./examples/thing-register -jid sensor-0001@localhost -addr localhost:5222 -insecure
//
// The secret and the password come from the environment, never from
// arguments, which other users of the machine can read in ps.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/extasis/extasis/sdk/thing"
)

func main() {
	jid := flag.String("jid", "", "the device's account, e.g. sensor-0001@example.com (required)")
	addr := flag.String("addr", "", "broker host:port; empty: found through DNS SRV records for the domain")
	insecure := flag.Bool("insecure", false, "accept the broker's self-signed certificate (make run's default); never in production")
	flag.Parse()
	if err := run(*jid, *addr, *insecure); err != nil {
		fmt.Fprintln(os.Stderr, "thing-register:", err)
		os.Exit(1)
	}
}

func run(jid, addr string, insecure bool) error {
	if jid == "" {
		return errors.New("-jid is required")
	}
	cfg := thing.Config{
		JID:      jid,
		Password: os.Getenv("THING_PASSWORD"),
		APIKey:   thing.APIKey{Key: os.Getenv("EXTASIS_API_KEY"), Secret: os.Getenv("EXTASIS_API_SECRET")},
		Addr:     addr,
	}
	if cfg.Password == "" {
		return errors.New("set THING_PASSWORD to the device's password")
	}
	if insecure {
		cfg.TLS = &tls.Config{InsecureSkipVerify: true} // the example broker's certificate is self-signed
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The one call: log in, creating the account first if it does not exist.
	s, err := thing.Connect(ctx, cfg)
	var refused *thing.RegistrationError
	if errors.As(err, &refused) {
		return fmt.Errorf("the broker refused to create %s: %s (%s)", jid, refused.Text, refused.Condition)
	}
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Printf("logged in as %s\n", s.LocalAddr())
	return nil
}
