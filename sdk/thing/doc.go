// Package thing connects a device to an Extasis broker (or any XMPP
// server) and, on first boot, creates its account itself: in-band
// registration (XEP-0077) with the form signed by the manufacturer's API
// key (XEP-0348, HMAC-SHA1), computed exactly as deployed IoT clients do,
// so one call onboards a device:
//
//	s, err := thing.Connect(ctx, thing.Config{
//		JID:      "sensor-0042@iot.example.com",
//		Password: devicePassword,
//		APIKey:   thing.APIKey{Key: key, Secret: secret},
//	})
//
// Connect logs in, and only when the broker refuses the login and offers
// registration does it register and log in again on the same stream.
// Register registers without trying to log in first. Both return a
// mellium session, bound and ready to serve.
//
// It must not log or send the API key's secret (only the signature leaves
// the device), and it never falls back to unsigned registration when a key
// is configured and the broker's form can be signed.
package thing
