package cli

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/parry-soc/parry/activities"
	"github.com/parry-soc/parry/approval"
	"github.com/parry-soc/parry/internal/cluster"
	"github.com/parry-soc/parry/internal/codec"
	"github.com/parry-soc/parry/internal/devserver"
	"github.com/parry-soc/parry/internal/frontdoor"
	"github.com/parry-soc/parry/internal/operators"
	"github.com/parry-soc/parry/playbooks"
	"github.com/parry-soc/parry/workflows"
)

// session is a connection to Temporal: the embedded dev server (started here or found running) or a
// configured cluster.
type session struct {
	client    client.Client
	server    *devserver.Server
	namespace string
	// codec encrypts every payload the client and its workers write (nil: PARRY_PAYLOAD_KEYS unset).
	codec   *codec.Codec
	logger  *slog.Logger
	closers []func()
}

func (s *session) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

// openLog opens the log file the dev default writes server, worker and notification logs to, so the
// terminal shows the run's progress only. PARRY_LOG=stderr sends them to stderr instead.
func openLog(env Env, dev bool) (*slog.Logger, func(), error) {
	if env.Getenv("PARRY_LOG") == "stderr" || !dev {
		return slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})), func() {}, nil
	}
	dir := home(env)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("create %s: %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "parry.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("open log: %w", err)
	}
	return slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo})), func() { f.Close() }, nil
}

// connect opens a session. With dev it starts the embedded server under PARRY_HOME (or attaches to the one
// another process runs there).
func connect(ctx context.Context, env Env, dev bool) (*session, error) {
	logger, closeLog, err := openLog(env, dev)
	if err != nil {
		return nil, err
	}
	s := &session{logger: logger, closers: []func(){closeLog}}
	cfg, err := cluster.FromEnv(env.Getenv)
	if err != nil {
		s.Close()
		return nil, err
	}
	// One codec for the client and so for the workers made from it: what one process encrypts, every
	// other process holding the keys decrypts.
	if s.codec, err = codec.FromEnv(env.Getenv); err != nil {
		s.Close()
		return nil, exitCode(2, err)
	}
	if dev {
		dcfg, err := devConfig(env, cfg.Namespace, logger)
		if err != nil {
			s.Close()
			return nil, err
		}
		srv, err := devserver.Start(ctx, dcfg)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("start dev server: %w", err)
		}
		s.server = srv
		s.closers = append(s.closers, func() { srv.Close() })
		cfg = cluster.Config{Address: srv.Address(), Namespace: srv.Namespace()}
	}
	c, err := cluster.Dial(ctx, cfg, client.Options{
		Logger:           tlog.NewStructuredLogger(logger),
		DataConverter:    s.codec.DataConverter(),
		FailureConverter: s.codec.FailureConverter(),
	})
	if err != nil {
		s.Close()
		return nil, err
	}
	s.client, s.namespace = c, cfg.Namespace
	s.closers = append(s.closers, c.Close)
	return s, nil
}

// devConfig reads the dev server's settings: PARRY_DEV_ADDRESS (default 127.0.0.1:7233; port 0 picks a free
// one), PARRY_DEV_UI_ADDRESS (default 127.0.0.1:8233; "off" disables the Web UI) and PARRY_RETENTION (the
// namespace's retention, default 30 days).
func devConfig(env Env, namespace string, logger *slog.Logger) (devserver.Config, error) {
	cfg := devserver.Config{
		Dir:              home(env),
		Address:          env.Getenv("PARRY_DEV_ADDRESS"),
		UIAddress:        env.Getenv("PARRY_DEV_UI_ADDRESS"),
		Namespace:        namespace,
		SearchAttributes: workflows.SearchAttributeTypes(),
		Logger:           logger,
	}
	// The Web UI decodes payloads through the front door's codec endpoint when payload keys are set
	// (`trigger serve --dev` serves it, by default on 127.0.0.1:8080).
	if env.Getenv("PARRY_PAYLOAD_KEYS") != "" {
		cfg.CodecEndpoint = env.Getenv("PARRY_DEV_CODEC_ENDPOINT")
		if cfg.CodecEndpoint == "" {
			cfg.CodecEndpoint = "http://127.0.0.1:8080/codec"
		}
	}
	if cfg.UIAddress == "off" {
		cfg.UIAddress, cfg.DisableUI = "", true
	}
	if r := env.Getenv("PARRY_RETENTION"); r != "" {
		d, err := playbooks.ParseDuration(r)
		if err != nil {
			return cfg, fmt.Errorf("PARRY_RETENTION: %w", err)
		}
		cfg.Retention = d
	}
	return cfg, nil
}

// startWorker runs the playbook workflow and every activity in this process.
func (s *session) startWorker(env Env, dev bool) error {
	cfg := activities.FromEnv(env.Getenv)
	cfg.Logger = s.logger
	if t := env.Getenv("PARRY_LAB_TICK"); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil {
			return fmt.Errorf("PARRY_LAB_TICK: %w", err)
		}
		cfg.LabTick = d
	}
	if dev {
		dir := home(env)
		if cfg.LabState == "" {
			cfg.LabState = filepath.Join(dir, "lab-state.json")
		}
		if cfg.EvidenceDir == "" {
			cfg.EvidenceDir = filepath.Join(dir, "evidence")
		}
	}
	acts, err := activities.New(cfg)
	if err != nil {
		return fmt.Errorf("set up activities: %w", err)
	}
	w := worker.New(s.client, workflows.TaskQueue, worker.Options{
		// Measured on the embedded server: ~10 pollers cut p99 from 1.2 s to 0.5 s under concurrency.
		MaxConcurrentWorkflowTaskPollers: 10,
		MaxConcurrentActivityTaskPollers: 10,
		// Activities are registered under catalog names; aliasing would also register method names.
		DisableRegistrationAliasing: true,
	})
	workflows.Register(w)
	acts.Register(w)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	s.closers = append(s.closers, w.Stop)
	return nil
}

// trustedKeys are the public keys pinned in runs this process starts: the operator roster (PARRY_OPERATORS),
// the front door's key (PARRY_FRONTDOOR_PUBKEY, or the public half of PARRY_FRONTDOOR_KEY, or in dev the dev
// front door key) and, in dev, the local dev operator.
func trustedKeys(env Env, dev bool) ([]approval.Key, error) {
	roster, err := operators.LoadRoster(env.Getenv("PARRY_OPERATORS"))
	if err != nil {
		return nil, err
	}
	if dev {
		id, err := operators.Dev(home(env))
		if err != nil {
			return nil, fmt.Errorf("provision dev operator: %w", err)
		}
		roster.Add(id.Operator("*"))
	}
	keys := roster.Keys()
	fds, err := frontDoorKeys(env, dev)
	if err != nil {
		return nil, err
	}
	return append(keys, fds...), nil
}

// frontDoorKeys are the front door keys to pin: PARRY_FRONTDOOR_PUBKEY and the key `trigger serve` signs
// with (PARRY_FRONTDOOR_KEY, or the dev key), each once. Both may be set while the key is being rotated.
func frontDoorKeys(env Env, dev bool) ([]approval.Key, error) {
	var keys []approval.Key
	if fd := env.Getenv("PARRY_FRONTDOOR_PUBKEY"); fd != "" {
		pub, err := approval.ParsePublicKey(fd)
		if err != nil {
			return nil, fmt.Errorf("PARRY_FRONTDOOR_PUBKEY: %w", err)
		}
		keys = append(keys, frontdoor.PinnedKey(pub))
	}
	if path := env.Getenv("PARRY_FRONTDOOR_KEY"); path != "" || dev {
		priv, err := frontdoor.LoadKey(path, dev, home(env))
		if err != nil {
			return nil, err
		}
		k := frontdoor.PinnedKey(priv.Public().(ed25519.PublicKey))
		if len(keys) == 0 || keys[0].ID != k.ID {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// identity is who this CLI signs as: PARRY_OPERATOR with PARRY_OPERATOR_KEY, or the dev operator in dev.
func identity(env Env, dev bool) (operators.Identity, error) {
	if path := env.Getenv("PARRY_OPERATOR_KEY"); path != "" {
		name := env.Getenv("PARRY_OPERATOR")
		if name == "" {
			return operators.Identity{}, fmt.Errorf("PARRY_OPERATOR_KEY is set but PARRY_OPERATOR (your roster name) is not")
		}
		key, err := operators.ReadPrivateKey(path)
		if err != nil {
			return operators.Identity{}, err
		}
		return operators.Identity{Name: name, Key: key}, nil
	}
	if dev {
		return operators.Dev(home(env))
	}
	return operators.Identity{}, fmt.Errorf("no operator identity: set PARRY_OPERATOR and PARRY_OPERATOR_KEY, or use --dev")
}
