package policies

import (
	"embed"
	"io/fs"
)

//go:embed provisioning/*.rego
var files embed.FS

// Provisioning returns the default provisioning policy: the modules of
// package extasis.provisioning and their unit tests (*_test.rego).
func Provisioning() fs.FS {
	sub, err := fs.Sub(files, "provisioning")
	if err != nil {
		// The directory is embedded at build time; Sub fails only for an
		// invalid name, a programming error.
		panic(err)
	}
	return sub
}

// ProvisioningQuery is the rule the broker evaluates for every decision.
const ProvisioningQuery = "data.extasis.provisioning.decision"

// ProvisioningOwnerPackage is the package an owner's uploaded module must
// declare; its decision, when defined, replaces the learned rules for the
// owner's things.
const ProvisioningOwnerPackage = "extasis.provisioning.owner"
