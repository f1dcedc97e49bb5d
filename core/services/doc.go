// Package services holds the server's small built-in iq services: XEP-0199
// ping (for the domain and on an account's behalf), XEP-0092 software
// version and XEP-0202 entity time.
//
// It must not hold state beyond its configuration.
package services
