// Command extasis is the Extasis broker and its operator tool: serve runs
// the broker; account, apikey, thing, policy, contract, plugin and storage
// manage it.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	root := newRootCmd()
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "extasis:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "extasis",
		Short:         "Extasis, an XMPP integration server for the Internet of Things",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringP("config", "c", "", "configuration file (default: embedded defaults, data in ./data)")
	root.AddCommand(newServeCmd(), newAccountCmd(), newAPIKeyCmd(), newStorageCmd(), newPolicyCmd(), newThingCmd(), newVersionCmd(), newPluginCmd())
	for _, extra := range extraCommands {
		root.AddCommand(extra())
	}
	return root
}

// extraCommands are subcommands defined in other files of this package.
var extraCommands []func() *cobra.Command
