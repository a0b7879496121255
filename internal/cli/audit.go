package cli

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/parry-soc/parry/approval"
	"github.com/parry-soc/parry/internal/audit"
	"github.com/parry-soc/parry/internal/codec"
	"github.com/parry-soc/parry/internal/operators"
	"github.com/parry-soc/parry/workflows"
)

func init() {
	register(command{"history", "history export RUN... | --query 'VISIBILITY QUERY'  -o DIR [--decrypt] [--dev] [-j N]", historyCommand})
	register(command{"replay", "replay PATH... [--pubkey KEY|FILE]... [--dev] [--keys PAYLOAD_KEYS] [-j N]", replayCommand})
	register(command{"audit", "audit keygen [-o FILE]\naudit pubkey [FILE] [--dev]", func(_ context.Context, env Env, args []string) error { return auditCommand(env, args) }})
}

// Environment of the audit commands and the automatic exporter.
const (
	envAuditDir      = "PARRY_AUDIT_DIR"         // the audit store; dev default PARRY_HOME/audit
	envAuditKey      = "PARRY_AUDIT_SIGNING_KEY" // the private key file bundles are signed with
	envAuditPubkey   = "PARRY_AUDIT_PUBKEY"      // the public key trigger replay verifies with
	envAuditInterval = "PARRY_AUDIT_INTERVAL"    // how often the exporter sweeps (default 30s)
)

// payloadCodec is the payload codec of this process: the given keys (PARRY_PAYLOAD_KEYS's format), or
// PARRY_PAYLOAD_KEYS. Nil when neither is set: payloads are plain.
func payloadCodec(env Env, keys string) (*codec.Codec, error) {
	if keys == "" {
		return codec.FromEnv(env.Getenv)
	}
	ring, err := codec.ParseKeyring(keys)
	if err != nil {
		return nil, err
	}
	return codec.New(ring), nil
}

// replayRegister registers the workflow code trigger replay checks against; tests swap in changed
// interpreters.
var replayRegister = workflows.Register

// auditDir is the audit store: PARRY_AUDIT_DIR, or in dev PARRY_HOME/audit. "" when neither.
func auditDir(env Env, dev bool) string {
	if d := strings.TrimSpace(env.Getenv(envAuditDir)); d != "" {
		return d
	}
	if dev {
		return filepath.Join(home(env), "audit")
	}
	return ""
}

// devAuditKeyFile is where the dev default keeps the audit signing key.
func devAuditKeyFile(env Env) string { return filepath.Join(home(env), "keys", "audit.key") }

// auditKey is the key bundles are signed with: the file PARRY_AUDIT_SIGNING_KEY names, or in dev
// PARRY_HOME/keys/audit.key, created on first use. Production has no default: a key nobody chose would
// sign nothing an auditor trusts.
func auditKey(env Env, dev bool) (ed25519.PrivateKey, error) {
	if path := env.Getenv(envAuditKey); path != "" {
		key, err := operators.ReadPrivateKey(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", envAuditKey, err)
		}
		return key, nil
	}
	if !dev {
		return nil, fmt.Errorf("no audit signing key: make one with `trigger audit keygen -o FILE` and set %s=FILE", envAuditKey)
	}
	key, err := operators.LoadOrCreateKey(devAuditKeyFile(env))
	if err != nil {
		return nil, fmt.Errorf("the dev audit key: %w", err)
	}
	return key, nil
}

func historyCommand(ctx context.Context, env Env, args []string) error {
	const use = "usage: trigger history export RUN... | --query 'VISIBILITY QUERY'  -o DIR [--decrypt] [--dev] [-j N]"
	if len(args) == 0 || args[0] != "export" {
		return exitCode(2, errors.New(use))
	}
	fs := newFlagSet(env, "trigger history export")
	dev := fs.Bool("dev", false, "talk to the embedded dev server (and sign with the dev audit key)")
	out := fs.String("o", "", "the directory bundles go to (default: PARRY_AUDIT_DIR; in dev PARRY_HOME/audit)")
	query := fs.String("query", "", "export every run this visibility query lists, e.g. \"WorkflowType='PlaybookWorkflow' AND ExecutionStatus!='Running'\"")
	decrypt := fs.Bool("decrypt", false, "write payloads decrypted with PARRY_PAYLOAD_KEYS: a plaintext copy (the manifest says so)")
	workers := fs.Int("j", 4, "runs exported at a time")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if (len(pos) == 0) == (*query == "") {
		return exitCode(2, errors.New(use+" (runs or --query, not both)"))
	}
	dir := *out
	if dir == "" {
		dir = auditDir(env, *dev)
	}
	if dir == "" {
		return exitCode(2, errors.New("no output directory: give -o DIR (or set "+envAuditDir+")"))
	}
	key, err := auditKey(env, *dev)
	if err != nil {
		return exitCode(2, err)
	}
	sess, err := connect(ctx, env, *dev)
	if err != nil {
		return err
	}
	defer sess.Close()
	if *decrypt && sess.codec == nil {
		fmt.Fprintf(env.Stderr, "note: %s is not set, so payloads are not encrypted: the bundle is plaintext as recorded\n", codec.EnvKeys)
	}
	e := &audit.Exporter{Client: sess.client, Namespace: sess.namespace, Dir: dir, Key: key, Codec: sess.codec, Decrypt: *decrypt, By: "trigger history export"}

	failed := 0
	report := func(x audit.Exported, err error) {
		switch {
		case err != nil:
			failed++
			fmt.Fprintf(env.Stderr, "%s: not exported: %v\n", x.WorkflowID, err)
		case x.Existing:
			fmt.Fprintf(env.Stdout, "%s: already exported in %s\n", x.WorkflowID, x.Dir)
		default:
			fmt.Fprintf(env.Stdout, "%s: exported to %s (%s, %d events, signed by %s)\n", x.WorkflowID, x.Dir, x.Manifest.Status, x.Manifest.HistoryEvents, x.Manifest.SigningKeyID)
		}
	}
	if *query == "" {
		for _, run := range pos {
			x, err := e.Export(ctx, run, "")
			if err != nil {
				x.WorkflowID = run
			}
			report(x, err)
		}
	} else {
		var last time.Time
		p, err := e.ExportQuery(ctx, *query, *workers, func(x audit.Exported, err error, p audit.Progress) {
			report(x, err)
			if time.Since(last) >= time.Second {
				last = time.Now()
				printProgress(env, p)
			}
		})
		printProgress(env, p)
		if err != nil {
			return err
		}
	}
	if failed > 0 {
		return exitCode(1, fmt.Errorf("%d run(s) not exported", failed))
	}
	return nil
}

func printProgress(env Env, p audit.Progress) {
	total := "?"
	if p.Total >= 0 {
		total = fmt.Sprint(p.Total)
	}
	fmt.Fprintf(env.Stderr, "exported %d/%s runs (%d already there, %d failed) in %s, %.1f runs/s\n",
		p.Done, total, p.Existing, p.Failed, p.Elapsed.Round(time.Millisecond), p.Rate())
}

// pubkeys collects repeated --pubkey flags.
type pubkeys []string

func (p *pubkeys) String() string     { return strings.Join(*p, ",") }
func (p *pubkeys) Set(v string) error { *p = append(*p, v); return nil }

// parsePubkey reads "ed25519:<base64>", or a file holding it.
func parsePubkey(s string) (ed25519.PublicKey, error) {
	if !strings.HasPrefix(strings.TrimSpace(s), "ed25519:") {
		b, err := os.ReadFile(s)
		if err != nil {
			return nil, fmt.Errorf("--pubkey %s: want ed25519:<base64> or a file holding it: %w", s, err)
		}
		s = string(b)
	}
	return approval.ParsePublicKey(s)
}

func replayCommand(_ context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "trigger replay")
	var keys pubkeys
	fs.Var(&keys, "pubkey", "a public key bundles must be signed with (ed25519:… or a file); repeat for several (default "+envAuditPubkey+")")
	payloadKeys := fs.String("keys", "", "payload keys to decode the histories with, in "+codec.EnvKeys+"'s format (default "+codec.EnvKeys+")")
	workers := fs.Int("j", 0, "histories replayed at a time (default: three per CPU)")
	dev := fs.Bool("dev", false, "also trust the dev audit key (PARRY_HOME/keys/audit.key), which signs the dev default's bundles")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return exitCode(2, errors.New("usage: trigger replay PATH... [--pubkey KEY|FILE]... [--dev] [--keys PAYLOAD_KEYS] [-j N]"))
	}
	if len(keys) == 0 && env.Getenv(envAuditPubkey) != "" {
		keys = pubkeys{env.Getenv(envAuditPubkey)}
	}
	var trusted []ed25519.PublicKey
	if *dev {
		key, err := operators.ReadPrivateKey(devAuditKeyFile(env))
		if err != nil {
			return exitCode(2, fmt.Errorf("--dev: the dev audit key: %w (it is made by the first `trigger run --dev` or `trigger worker --dev`)", err))
		}
		trusted = append(trusted, key.Public().(ed25519.PublicKey))
	}
	for _, k := range keys {
		pub, err := parsePubkey(k)
		if err != nil {
			return exitCode(2, err)
		}
		trusted = append(trusted, pub)
	}
	c, err := payloadCodec(env, *payloadKeys)
	if err != nil {
		return exitCode(2, err)
	}
	if env.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(audit.ReplayGCPercent))
	}
	v := &audit.Verifier{Keys: trusted, Workers: *workers, Replay: audit.ReplayOptions{Codec: c, Register: replayRegister}}
	items := audit.Collect(pos)
	if len(items) == 0 {
		return exitCode(1, fmt.Errorf("no bundles or history files in %s", strings.Join(pos, ", ")))
	}
	sum := audit.Summary{}
	bundles := 0
	start := time.Now()
	v.CheckAll(items, func(r audit.Verdict) {
		sum.Add(r)
		fmt.Fprintln(env.Stdout, r)
	})
	for _, it := range items {
		if it.Bundle {
			bundles++
		}
	}
	took := time.Since(start)
	line := fmt.Sprintf("%d checked in %s (%.0f histories/s): %s", len(items), took.Round(time.Millisecond), float64(len(items))/took.Seconds(), sum)
	if bundles > 0 && len(trusted) == 0 {
		line += "; signatures not checked: give --pubkey (or " + envAuditPubkey + ")"
	}
	fmt.Fprintln(env.Stderr, line)
	if !sum.OK() {
		return exitCode(1, errors.New("not every run replays as recorded"))
	}
	return nil
}

func auditCommand(env Env, args []string) error {
	const use = "usage: trigger audit keygen [-o FILE] | trigger audit pubkey [FILE] [--dev]"
	if len(args) == 0 {
		return exitCode(2, errors.New(use))
	}
	switch args[0] {
	case "keygen":
		fs := newFlagSet(env, "trigger audit keygen")
		out := fs.String("o", "", "private key file (default: PARRY_HOME/keys/audit.key)")
		pos, err := parseFlags(fs, args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 0 {
			return exitCode(2, errors.New(use))
		}
		path := *out
		if path == "" {
			path = devAuditKeyFile(env)
		}
		_, priv, err := operators.GenerateKey()
		if err != nil {
			return err
		}
		if err := operators.WritePrivateKey(path, priv); err != nil {
			return err
		}
		pub := approval.EncodePublicKey(priv.Public().(ed25519.PublicKey))
		fmt.Fprintf(env.Stderr, "audit signing key written to %s (keep it secret; set %s=%s where the exporter runs)\n", path, envAuditKey, path)
		fmt.Fprintf(env.Stderr, "its public key, for auditors (trigger replay --pubkey, or %s), key id %s:\n", envAuditPubkey, approval.KeyID(priv.Public().(ed25519.PublicKey)))
		fmt.Fprintln(env.Stdout, pub)
		return nil
	case "pubkey":
		fs := newFlagSet(env, "trigger audit pubkey")
		dev := fs.Bool("dev", false, "the dev audit key (PARRY_HOME/keys/audit.key)")
		pos, err := parseFlags(fs, args[1:])
		if err != nil {
			return err
		}
		var key ed25519.PrivateKey
		switch len(pos) {
		case 0:
			key, err = auditKey(env, *dev)
		case 1:
			key, err = operators.ReadPrivateKey(pos[0])
		default:
			return exitCode(2, errors.New(use))
		}
		if err != nil {
			return exitCode(2, err)
		}
		fmt.Fprintln(env.Stdout, approval.EncodePublicKey(key.Public().(ed25519.PublicKey)))
		return nil
	}
	return exitCode(2, errors.New(use))
}

// startAuditExporter runs the automatic exporter beside the worker: every closed playbook run is signed
// into the audit store (PARRY_AUDIT_DIR; in dev PARRY_HOME/audit) within PARRY_AUDIT_INTERVAL (30s) of
// closing. Without a store it stays off; without a signing key outside dev it refuses to start and says so,
// but the worker runs on: responding to incidents matters more than archiving them.
func startAuditExporter(ctx context.Context, env Env, sess *session, dev bool) error {
	dir := auditDir(env, dev)
	if dir == "" || dir == "off" {
		sess.logger.Info("audit exporter off: set " + envAuditDir + " and " + envAuditKey + " to export every closed run")
		return nil
	}
	interval := audit.DefaultInterval
	if v := env.Getenv(envAuditInterval); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return exitCode(2, fmt.Errorf("%s=%q: want a duration such as 30s", envAuditInterval, v))
		}
		interval = d
	}
	key, err := auditKey(env, dev)
	if err != nil {
		sess.logger.Error("audit exporter not started: closed runs are NOT being exported", "error", err)
		fmt.Fprintf(env.Stderr, "audit exporter not started, closed runs are not exported: %v\n", err)
		return nil
	}
	host, _ := os.Hostname()
	ax := &audit.AutoExporter{
		Exporter: &audit.Exporter{Client: sess.client, Namespace: sess.namespace, Dir: dir, Key: key, Codec: sess.codec, By: "worker on " + host},
		Interval: interval,
		Logger:   sess.logger,
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ax.Run(ctx)
	}()
	sess.closers = append(sess.closers, func() {
		cancel()
		<-done
	})
	fmt.Fprintf(env.Stdout, "audit exporter: closed runs signed (key %s) into %s, every %s\n",
		approval.KeyID(key.Public().(ed25519.PublicKey)), dir, interval)
	return nil
}
