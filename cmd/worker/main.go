// Command worker runs Parry's Temporal worker: the playbook interpreter and every activity. See internal/cli.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/parry-soc/parry/internal/cli"
)

func main() {
	env := cli.OSEnv()
	err := cli.Worker(context.Background(), env, os.Args[1:])
	if err != nil {
		fmt.Fprintf(env.Stderr, "worker: %v\n", err)
	}
	os.Exit(cli.ExitCode(err))
}
