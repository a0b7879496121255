package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/parry-soc/parry/internal/cluster"
	"github.com/parry-soc/parry/workflows"
)

// Worker runs the worker command: the playbook workflow and every activity, against TEMPORAL_ADDRESS, or with
// --dev against the embedded server it starts (or finds running) under PARRY_HOME, and the automatic audit
// exporter when an audit store is configured (see startAuditExporter). It returns when ctx ends or the
// process is interrupted.
func Worker(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "worker")
	dev := fs.Bool("dev", false, "start (or attach to) the embedded Temporal server under PARRY_HOME and use the lab providers")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return exitCode(2, errors.New("usage: worker [--dev]"))
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	sess, err := connect(ctx, env, *dev)
	if err != nil {
		return err
	}
	defer sess.Close()
	if err := cluster.EnsureSearchAttributes(ctx, sess.client, sess.namespace, workflows.SearchAttributeTypes()); err != nil {
		return fmt.Errorf("reconcile search attributes: %w", err)
	}
	if err := sess.startWorker(env, *dev); err != nil {
		return err
	}
	if err := startAuditExporter(ctx, env, sess, *dev); err != nil {
		return err
	}
	if sess.server != nil {
		fmt.Fprintf(env.Stdout, "worker on the dev server %s (namespace %s), Web UI %s\n", sess.server.Address(), sess.namespace, sess.server.UIURL())
	} else {
		fmt.Fprintf(env.Stdout, "worker on task queue %s, namespace %s\n", workflows.TaskQueue, sess.namespace)
	}
	<-ctx.Done()
	return nil
}
