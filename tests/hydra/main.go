// The Ory Hydra v2.3.0 server for ferry-fleet's OIDC sign-in tests (fleet/tests/oidc.rs).
// Hydra's own module cannot be built with `go install` (its go.mod has a replace directive
// pointing into its repository), so this module requires it and repeats the replacements with
// published versions.
package main

import "github.com/ory/hydra/v2/cmd"

func main() {
	cmd.Execute()
}
