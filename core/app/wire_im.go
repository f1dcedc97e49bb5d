package app

// wireIM installs the instant-messaging layer (RFC 6121) on the router.
// Until it exists, the router's basic delivery is used.
func (a *App) wireIM() error { return nil }
