// Command trigger is Parry's operator CLI: start runs from alerts, validate playbooks, and approve, complete
// or close runs. See internal/cli.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/parry-soc/parry/internal/cli"
)

func main() {
	env := cli.OSEnv()
	err := cli.Trigger(context.Background(), env, os.Args[1:])
	if err != nil {
		fmt.Fprintf(env.Stderr, "trigger: %v\n", err)
	}
	os.Exit(cli.ExitCode(err))
}
