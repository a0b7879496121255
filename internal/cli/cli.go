// Package cli implements Parry's two commands: `trigger`, the operator CLI (run, validate, status,
// approve, done, close), and `worker`, the Temporal worker. The mains in cmd/ only call Trigger and Worker,
// so both commands can be driven end to end from tests.
package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Env is what a command reads from and writes to: arguments, environment, standard streams.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// Interactive reports whether Stdin is a terminal a person can answer prompts on.
	Interactive bool
}

// OSEnv is the process's own environment.
func OSEnv() Env {
	interactive := false
	if fi, err := os.Stdin.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		interactive = true
	}
	return Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Interactive: interactive}
}

// exitError carries a process exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(code int, err error) error { return &exitError{code: code, err: err} }

// ExitCode maps an error from Trigger or Worker to a process exit code: 0 for nil, 2 for usage errors and
// refused alerts, the carried code otherwise, 1 by default.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	if e, ok := err.(*exitError); ok {
		return e.code
	}
	if err == flag.ErrHelp {
		return 2
	}
	return 1
}

// command is one trigger subcommand. Each file registers its own in an init function, so adding a command
// touches no shared list.
type command struct {
	name  string
	usage string // the usage line(s) after "trigger "
	run   func(ctx context.Context, env Env, args []string) error
}

var commands = map[string]command{}

// register adds a trigger subcommand.
func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("cli: command registered twice: " + c.name) // a programming error, found by any test run
	}
	commands[c.name] = c
}

func init() {
	register(command{"run", "run ALERT.json [--playbook ID|FILE] [--source S] [--dev] [--wait] [--hold] [--auto-approve] [--json]", runCommand})
	register(command{"validate", "validate [PATH...]", func(_ context.Context, env Env, args []string) error { return validateCommand(env, args) }})
	register(command{"status", "status RUN|parry-incident-KEY|--incident HOST|KIND:TARGET [--json]", statusCommand})
	register(command{"approve", "approve RUN APPROVAL [--deny] [--reason TEXT]", approveCommand})
	register(command{"done", "done RUN STEP", doneCommand})
	register(command{"close", "close RUN --disposition true-positive|false-positive|benign|undetermined [--rollback] [--reason TEXT]", closeCommand})
	register(command{"actions", "actions", func(_ context.Context, env Env, _ []string) error { return actionsCommand(env) }})
	register(command{"keygen", "keygen NAME [-o FILE] [--groups g1,g2]", func(_ context.Context, env Env, args []string) error { return keygenCommand(env, args) }})
	register(command{"serve", "serve [--listen ADDR] [--dev] [--grace 20s]", serveCommand})
}

const usageTail = `
Add --dev to talk to the embedded dev server under .parry/ (started if needed).
Environment: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY, TEMPORAL_API_KEY,
PARRY_HOME (default .parry), PARRY_OPERATORS (roster file), PARRY_OPERATOR + PARRY_OPERATOR_KEY (who approve
signs as), PARRY_PLAYBOOKS (extra playbook directory).
serve: SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN, SLACK_APP_TOKEN (Socket Mode), SLACK_API_URL, PARRY_FRONTDOOR_KEY
(the key clicks are signed with; runs pin its public half, or PARRY_FRONTDOOR_PUBKEY), PARRY_FRONTDOOR_RETRY
(how long a click is retried while no worker answers, default 15m), PARRY_FRONTDOOR_ATTEMPT (one try, 10s),
PARRY_INTAKE_TOKEN or PARRY_INTAKE_HMAC_SECRET (alert intake; also what send uses), PARRY_PAYLOAD_KEYS
(payload encryption, docs/keys.md), PARRY_AUDIT_SIGNING_KEY and PARRY_AUDIT_DIR (docs/audit.md).
See README.md for the rest.
`

func usage() string {
	var b strings.Builder
	b.WriteString("trigger is Parry's operator CLI.\n\nUsage:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, line := range strings.Split(commands[n].usage, "\n") {
			b.WriteString("  trigger " + line + "\n")
		}
	}
	b.WriteString(usageTail)
	return b.String()
}

// Trigger runs the trigger command with args (without the program name).
func Trigger(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(env.Stderr, usage())
		if len(args) == 0 {
			return exitCode(2, fmt.Errorf("no command given"))
		}
		return nil
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprint(env.Stderr, usage())
		return exitCode(2, fmt.Errorf("unknown command %q (see trigger help)", args[0]))
	}
	return c.run(ctx, env, args[1:])
}

// parseFlags parses flags that may come before or after positional arguments (`trigger run ALERT --dev`).
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, exitCode(2, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

func newFlagSet(env Env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	return fs
}

func home(env Env) string {
	if h := strings.TrimSpace(env.Getenv("PARRY_HOME")); h != "" {
		return h
	}
	return ".parry"
}
