package storage

// Hash names the hash function of a SCRAM mechanism, as in the mechanism
// name ("SHA-1" for SCRAM-SHA-1).
//
// It mirrors sasl.Hash until core/sasl lands; the field names of Credential
// are kept identical to sasl.Credentials so that the switch is a rename.
type Hash string

// The hashes the broker offers.
const (
	SHA1   Hash = "SHA-1"
	SHA256 Hash = "SHA-256"
)

// Credential is one RFC 5802 verifier: what the server needs to check a
// SCRAM exchange without ever knowing the password or the salted password.
type Credential struct {
	Hash       Hash
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
}
