package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parry-soc/parry/internal/audit"
	"github.com/parry-soc/parry/internal/codec"
	"github.com/parry-soc/parry/internal/report"
	"github.com/parry-soc/parry/internal/runs"
)

func init() {
	register(command{"report", "report RUN|BUNDLE|HISTORY.json [--format md|html] [-o FILE] [--dev]", reportCommand})
}

// reportCommand renders a run's timeline. A path (an export bundle, a directory holding one, or a history
// JSON file) is read offline, its payloads decoded with PARRY_PAYLOAD_KEYS; anything else is a run id read
// from the cluster: a closed run from its history, an open one from its status query with its history so
// far (from the history alone when no worker answers the query).
func reportCommand(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "trigger report")
	format := fs.String("format", "", "md or html (default: html when -o names a .html file, md otherwise)")
	out := fs.String("o", "", "write the report to `FILE` instead of standard output")
	dev := fs.Bool("dev", false, "read the run from the embedded dev server")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return exitCode(2, errors.New("usage: trigger report RUN|BUNDLE|HISTORY.json [--format md|html] [-o FILE]"))
	}
	if *format == "" {
		*format = "md"
		if ext := strings.ToLower(filepath.Ext(*out)); ext == ".html" || ext == ".htm" {
			*format = "html"
		}
	}
	render := map[string]func(*bytes.Buffer, report.Timeline) error{
		"md":       func(b *bytes.Buffer, t report.Timeline) error { return report.Markdown(b, t) },
		"markdown": func(b *bytes.Buffer, t report.Timeline) error { return report.Markdown(b, t) },
		"html":     func(b *bytes.Buffer, t report.Timeline) error { return report.HTML(b, t) },
	}[*format]
	if render == nil {
		return exitCode(2, fmt.Errorf("--format %q: want md or html", *format))
	}

	var tl report.Timeline
	if _, err := os.Stat(pos[0]); err == nil {
		tl, err = offlineTimeline(env, pos[0])
		if err != nil {
			return err
		}
	} else {
		if tl, err = liveTimeline(ctx, env, pos[0], *dev); err != nil {
			return err
		}
	}

	var b bytes.Buffer
	if err := render(&b, tl); err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	if *out == "" {
		if _, err := env.Stdout.Write(b.Bytes()); err != nil {
			return err
		}
	} else {
		// A report names hosts, users and evidence: readable by its owner only, like the evidence itself.
		if err := os.WriteFile(*out, b.Bytes(), 0o600); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		fmt.Fprintf(env.Stderr, "wrote %s\n", *out)
	}
	if bd := tl.Bundle; bd != nil && bd.HistoryHash == "does not match" {
		return exitCode(1, fmt.Errorf("%s: the history does not match the bundle's manifest (SHA-256 %s); the report shows what the history says", bd.Dir, bd.Manifest.HistorySHA256))
	}
	return nil
}

// offlineTimeline reads a bundle or history file, decoding its payloads with the keys in
// PARRY_PAYLOAD_KEYS, as every client and worker does.
func offlineTimeline(env Env, path string) (report.Timeline, error) {
	dc, err := codec.DataConverterFromEnv(env.Getenv)
	if err != nil {
		return report.Timeline{}, err
	}
	return report.Open(path, dc)
}

// statusQueryWait bounds how long the report waits for an open run's status query before it falls back to
// reconstructing the run from its history.
const statusQueryWait = 10 * time.Second

// liveTimeline reads a run from the cluster.
func liveTimeline(ctx context.Context, env Env, runID string, dev bool) (report.Timeline, error) {
	sess, err := connect(ctx, env, dev)
	if err != nil {
		return report.Timeline{}, err
	}
	defer sess.Close()
	dc := sess.codec.DataConverter()
	closed, err := runs.Closed(ctx, sess.client, runID)
	if err != nil {
		return report.Timeline{}, err
	}
	h, err := audit.FetchHistory(ctx, sess.client, runID)
	if err != nil {
		return report.Timeline{}, err
	}
	var tl report.Timeline
	switch {
	case closed:
		tl, err = report.FromHistory(h, dc)
	default:
		// A query needs a worker; without one it would wait for one until the deadline.
		qctx, cancel := context.WithTimeout(ctx, statusQueryWait)
		res, qerr := runs.Status(qctx, sess.client, runID)
		cancel()
		if qerr != nil {
			fmt.Fprintf(env.Stderr, "warning: %v; the report is reconstructed from the run's history\n", qerr)
			tl, err = report.FromHistory(h, dc)
			break
		}
		tl, err = report.FromStatus(res, h, dc)
	}
	if err != nil {
		return tl, fmt.Errorf("report on %s: %w", runID, err)
	}
	tl.Execution.Namespace = sess.namespace
	return tl, nil
}
