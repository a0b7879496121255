//go:build unix

// Package devserver embeds a single-process Temporal server for
// `parry worker --dev` and `parry trigger run --dev`: the four Temporal
// services (frontend, history, matching, worker) on a SQLite file, plus the
// Temporal Web UI, all on 127.0.0.1.
//
// Usage:
//
//	srv, err := devserver.Start(ctx, devserver.Config{SearchAttributes: attrs})
//	if err != nil { … }
//	defer srv.Close()
//	c, err := client.Dial(client.Options{HostPort: srv.Address(), Namespace: srv.Namespace()})
//
// Files under Config.Dir (default ".parry"):
//
//	temporal.db    the SQLite database (WAL mode; also temporal.db-wal, -shm)
//	temporal.lock  flock held for the server's life; JSON record of its
//	               address and UI URL once it answers
//	temporal.log   the server's log, when Config.Logger is nil
//
// One process owns the database. A Start that finds the lock held by a live
// server does not open the database: it returns a Server in attached mode
// that reports the owner's address and UI URL (Attached() is true and Close
// leaves the owner running). A lock file left by a killed process holds no
// flock and is taken over. The database is the only state: a server killed
// with SIGKILL and started again on the same file resumes every workflow.
//
// At every start the namespace is registered if missing with Config.Retention
// (raised if lower) and Config.SearchAttributes are reconciled with
// cluster.EnsureSearchAttributes' logic, in attached mode too.
//
// Server logs go to Config.Logger, or to temporal.log, at Config.LogLevel
// (default warn) — never to stdout, which belongs to the CLI. A Temporal
// fatal error (for example a port taken between the check and the bind)
// still exits the process, as the server's own logger would.
//
// Unix only: the lock is a flock(2).
package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/resolver"
	"go.temporal.io/server/common/searchattribute/sadefs"
	"go.temporal.io/server/temporal"
	"google.golang.org/protobuf/types/known/durationpb"

	sqliteschema "go.temporal.io/server/schema/sqlite"

	"github.com/parry-soc/parry/internal/cluster"
)

// Defaults applied by Start to a zero Config.
const (
	DefaultDir       = ".parry"
	DefaultAddress   = "127.0.0.1:7233"
	DefaultUIAddress = "127.0.0.1:8233"
	DefaultNamespace = "default"
	DefaultRetention = 30 * 24 * time.Hour
)

// File names under Config.Dir.
const (
	DBFile   = "temporal.db"
	LockFile = "temporal.lock"
	LogFile  = "temporal.log"
)

// clusterName is persisted in the database with the namespaces: it must
// never change for an existing file.
const clusterName = "active"

// Timeouts; variables so that tests can shorten them.
var (
	// readyTimeout bounds the wait for a freshly started server to answer
	// (measured ~0.5 s; a cold disk or a loaded CI machine is slower).
	readyTimeout = 60 * time.Second
	// attachTimeout bounds the wait for another process's server: for its
	// record while it is starting, then for it to answer.
	attachTimeout = 30 * time.Second
	// attachDialTimeout bounds the check that a recorded server answers;
	// a live one answers in milliseconds.
	attachDialTimeout = 5 * time.Second
)

const (
	// namespaceRefresh is Temporal's system.namespaceCacheRefreshInterval
	// default: how stale a service's copy of the namespace record (and so
	// of its search attribute names, with SQL visibility) can be.
	namespaceRefresh = 2 * time.Second
)

// Config configures Start. The zero value is a usable dev server.
type Config struct {
	// Dir holds the database, lock and log files (default ".parry").
	Dir string
	// Address is the frontend gRPC host:port (default "127.0.0.1:7233");
	// port 0 picks a free port. Address() reports the actual one.
	Address string
	// UIAddress is the Web UI's host:port (default "127.0.0.1:8233"); port
	// 0 picks a free port. Ignored with DisableUI.
	UIAddress string
	// DisableUI skips the Web UI (tests).
	DisableUI bool
	// Namespace is registered at start (default "default").
	Namespace string
	// Retention is the namespace's minimum retention (default 30 days; at
	// least 24 h, Temporal's floor).
	Retention time.Duration
	// SearchAttributes are the custom search attributes the namespace must
	// have; missing ones are added at every start.
	SearchAttributes map[string]enumspb.IndexedValueType
	// Logger receives the server's logs; nil writes them to
	// Dir/temporal.log.
	Logger *slog.Logger
	// LogLevel is the lowest level passed on (default warn: the server
	// logs hundreds of info lines per minute).
	LogLevel slog.Leveler
	// CodecEndpoint is a remote codec the Web UI decodes payloads with
	// (`trigger serve --dev` serves one at /codec when payload keys are
	// set); "" leaves payloads shown as they are stored.
	CodecEndpoint string
}

// Server is a running dev server, owned or attached.
type Server struct {
	address   string
	uiURL     string
	namespace string
	attached  bool

	lock     *lockFile
	stopping *atomic.Bool // quiets the server's shutdown warnings
	temporal temporal.Server
	ui       *uiserver.Server
	logFile  *os.File

	closeOnce sync.Once
	closeErr  error
}

// Address is the frontend's host:port.
func (s *Server) Address() string { return s.address }

// UIURL is the Web UI's base URL, e.g. http://127.0.0.1:8233, or "" when
// the UI is disabled.
func (s *Server) UIURL() string { return s.uiURL }

// Namespace is the namespace Start registered.
func (s *Server) Namespace() string { return s.namespace }

// Attached reports whether another process owns the database and this
// Server only points at it.
func (s *Server) Attached() bool { return s.attached }

// Close stops the server and the UI and releases the lock; for an attached
// Server it does nothing. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.stopping != nil {
			s.stopping.Store(true)
		}
		if s.ui != nil {
			s.ui.Stop()
		}
		if s.temporal != nil {
			if err := s.temporal.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("stop temporal server: %w", err))
			}
		}
		if s.lock != nil {
			errs = append(errs, s.lock.release())
		}
		if s.logFile != nil {
			errs = append(errs, s.logFile.Close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

func (c Config) withDefaults() (Config, error) {
	if c.Dir == "" {
		c.Dir = DefaultDir
	}
	dir, err := filepath.Abs(c.Dir)
	if err != nil {
		return Config{}, fmt.Errorf("resolve dev server directory %q: %w", c.Dir, err)
	}
	// The database path goes into a SQLite URI unescaped.
	if strings.ContainsAny(dir, "?#") {
		return Config{}, fmt.Errorf("dev server directory %q: path must not contain '?' or '#'", dir)
	}
	c.Dir = dir
	if c.Address == "" {
		c.Address = DefaultAddress
	}
	if _, _, err := splitAddr(c.Address); err != nil {
		return Config{}, fmt.Errorf("frontend address: %w", err)
	}
	if c.DisableUI {
		c.UIAddress = ""
	} else {
		if c.UIAddress == "" {
			c.UIAddress = DefaultUIAddress
		}
		if _, _, err := splitAddr(c.UIAddress); err != nil {
			return Config{}, fmt.Errorf("web ui address: %w", err)
		}
	}
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.Retention < 24*time.Hour {
		return Config{}, fmt.Errorf("namespace retention %s is below Temporal's minimum of 24h", c.Retention)
	}
	if c.LogLevel == nil {
		c.LogLevel = slog.LevelWarn
	}
	// Checked here because a fresh namespace gets them written straight
	// into the database, without the frontend's checks.
	for _, name := range slices.Sorted(maps.Keys(c.SearchAttributes)) {
		typ := c.SearchAttributes[name]
		switch {
		case name == "":
			return Config{}, errors.New("search attribute with an empty name")
		case sadefs.IsReserved(name):
			return Config{}, fmt.Errorf("search attribute %q: the name is reserved by Temporal", name)
		case typ == enumspb.INDEXED_VALUE_TYPE_UNSPECIFIED || enumspb.IndexedValueType_name[int32(typ)] == "":
			return Config{}, fmt.Errorf("search attribute %q: no valid type (%d)", name, typ)
		}
	}
	return c, nil
}

// Start starts the dev server on cfg.Dir, or attaches to the one another
// process runs there, and returns once it answers with the namespace and
// search attributes in place. ctx bounds the start-up only; the server runs
// until Close.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("start dev server: %w", err)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("start dev server: create directory: %w", err)
	}
	lock, rec, err := lockOrRecord(ctx, filepath.Join(cfg.Dir, LockFile))
	if err != nil {
		return nil, fmt.Errorf("start dev server: %w", err)
	}
	if lock == nil {
		s, err := attach(ctx, cfg, rec)
		if err != nil {
			return nil, fmt.Errorf("start dev server: %w", err)
		}
		return s, nil
	}
	s, err := startOwned(ctx, cfg, lock)
	if err != nil {
		_ = lock.release()
		return nil, fmt.Errorf("start dev server in %s: %w", cfg.Dir, err)
	}
	return s, nil
}

// lockOrRecord takes the lock, or returns the record of the live process
// holding it. While the holder is still starting (no record yet, or a
// stale one from a killed predecessor) it waits; if the holder dies
// meanwhile the lock is taken over.
func lockOrRecord(ctx context.Context, path string) (*lockFile, lockRecord, error) {
	ctx, cancel := context.WithTimeout(ctx, attachTimeout)
	defer cancel()
	l, err := openLock(path)
	if err != nil {
		return nil, lockRecord{}, err
	}
	for {
		if l.held {
			return l, lockRecord{}, nil
		}
		if rec, ok := l.read(); ok && processAlive(rec.PID) {
			_ = l.f.Close()
			return nil, rec, nil
		}
		select {
		case <-ctx.Done():
			_ = l.f.Close()
			return nil, lockRecord{}, fmt.Errorf("lock %s is held by another process that has not recorded a running server: %w", path, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
		if err := l.tryLock(); err != nil {
			_ = l.f.Close()
			return nil, lockRecord{}, err
		}
	}
}

// attach checks that the server recorded by another process answers and
// reconciles the namespace and search attributes on it.
func attach(ctx context.Context, cfg Config, rec lockRecord) (*Server, error) {
	dialCtx, cancel := context.WithTimeout(ctx, attachDialTimeout)
	defer cancel()
	c, err := dial(dialCtx, rec.Address, cfg.Namespace, discardLogger())
	if err != nil {
		return nil, fmt.Errorf("%s is locked by process %d, but its server at %s does not answer (stop that process to start afresh): %w",
			filepath.Join(cfg.Dir, LockFile), rec.PID, rec.Address, err)
	}
	defer c.Close()
	ctx, cancel = context.WithTimeout(ctx, attachTimeout)
	defer cancel()
	if err := reconcile(ctx, c, cfg); err != nil {
		return nil, fmt.Errorf("prepare server of process %d at %s: %w", rec.PID, rec.Address, err)
	}
	return &Server{address: rec.Address, uiURL: rec.UIURL, namespace: cfg.Namespace, attached: true}, nil
}

func startOwned(ctx context.Context, cfg Config, lock *lockFile) (_ *Server, err error) {
	s := &Server{namespace: cfg.Namespace, lock: lock}
	defer func() {
		if err != nil {
			s.lock = nil // released by Start
			_ = s.Close()
		}
	}()

	logger := cfg.Logger
	if logger == nil {
		f, err := os.OpenFile(filepath.Join(cfg.Dir, LogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open server log: %w", err)
		}
		s.logFile = f
		logger = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: cfg.LogLevel}))
	}
	lh := newLevelHandler(cfg.LogLevel, logger.Handler())
	s.stopping = lh.stopping
	logger = slog.New(lh)

	ports, err := pickPorts(cfg)
	if err != nil {
		return nil, err
	}
	s.address = ports.frontend

	sqlCfg := sqliteConfig(filepath.Join(cfg.Dir, DBFile))
	if err := setupDatabase(sqlCfg, cfg); err != nil {
		return nil, err
	}

	srv, err := temporal.NewServer(
		temporal.WithConfig(serverConfig(sqlCfg, ports)),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(ports.staticHosts()),
		temporal.WithDynamicConfigClient(dynamicConfig()),
		temporal.WithLogger(temporalLogger{l: logger}),
	)
	if err != nil {
		return nil, fmt.Errorf("create temporal server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start temporal server: %w", err)
	}
	s.temporal = srv

	readyCtx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	c, err := dial(readyCtx, s.address, cfg.Namespace, logger)
	if err != nil {
		return nil, fmt.Errorf("wait for temporal server at %s: %w", s.address, err)
	}
	defer c.Close()
	if err := reconcile(readyCtx, c, cfg); err != nil {
		return nil, err
	}

	if ports.ui != "" {
		ui, err := startUI(ctx, ports.ui, s.address, cfg.Namespace, cfg.CodecEndpoint)
		if err != nil {
			return nil, err
		}
		s.ui = ui
		s.uiURL = "http://" + ports.ui
	}

	if err := lock.write(lockRecord{
		PID:       os.Getpid(),
		Address:   s.address,
		UIURL:     s.uiURL,
		Namespace: cfg.Namespace,
		Started:   time.Now().UTC(),
	}); err != nil {
		return nil, err
	}
	return s, nil
}

// setupDatabase creates the schema on first use and pre-registers the
// namespace before the server starts, so that it is in every service's
// namespace cache from the first request.
func setupDatabase(sqlCfg *config.SQL, cfg Config) error {
	db, err := sql.NewSQLAdminDB(sqlplugin.DbKindUnknown, sqlCfg, resolver.NewNoopResolver(), log.NewNoopLogger(), metrics.NoopMetricsHandler)
	if err != nil {
		return fmt.Errorf("open database %s: %w", sqlCfg.DatabaseName, err)
	}
	tables, err := db.ListTables(sqlCfg.DatabaseName)
	if err != nil {
		_ = db.Close()
		return fmt.Errorf("read schema of %s: %w", sqlCfg.DatabaseName, err)
	}
	if len(tables) == 0 {
		if err := sqliteschema.SetupSchemaOnDB(db); err != nil {
			_ = db.Close()
			return fmt.Errorf("create schema in %s (delete the file to retry): %w", sqlCfg.DatabaseName, err)
		}
	}
	_ = db.Close()

	// A fresh namespace gets the search attributes in its record: usable at
	// once, whereas attributes added through the API wait for each
	// service's namespace cache refresh. CreateNamespaces leaves an
	// existing namespace alone; reconcile handles that case.
	ns, err := sqliteschema.NewNamespaceConfig(clusterName, cfg.Namespace, false, cfg.SearchAttributes)
	if err != nil {
		return fmt.Errorf("prepare namespace %q: %w", cfg.Namespace, err)
	}
	// NewNamespaceConfig hard-codes a 24 h retention.
	ns.Detail.Config.Retention = durationpb.New(cfg.Retention)
	if err := sqliteschema.CreateNamespaces(sqlCfg, ns); err != nil {
		return fmt.Errorf("register namespace %q: %w", cfg.Namespace, err)
	}
	return nil
}

// reconcile brings the namespace and search attributes to cfg. Attributes
// it had to add are waited for: with SQL visibility each service learns
// them on its next namespace cache refresh.
func reconcile(ctx context.Context, c client.Client, cfg Config) error {
	if err := cluster.EnsureNamespace(ctx, c, cfg.Namespace, cfg.Retention); err != nil {
		return err
	}
	addedAt := time.Now()
	added, err := cluster.ReconcileSearchAttributes(ctx, c, cfg.Namespace, cfg.SearchAttributes)
	if err != nil {
		return err
	}
	if len(added) == 0 {
		return nil
	}
	return waitSearchAttributes(ctx, c, cfg.Namespace, added, addedAt)
}

// waitSearchAttributes polls a visibility query naming the attributes until
// the frontend accepts it, then lets one namespace refresh interval pass
// since they were added so that history and matching have them too.
func waitSearchAttributes(ctx context.Context, c client.Client, namespace string, names []string, since time.Time) error {
	conds := make([]string, len(names))
	for i, n := range names {
		conds[i] = "`" + n + "` IS NULL"
	}
	query := strings.Join(conds, " OR ")
	for {
		_, err := c.WorkflowService().CountWorkflowExecutions(ctx, &workflowservice.CountWorkflowExecutionsRequest{
			Namespace: namespace,
			Query:     query,
		})
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for new search attributes %v: %w (last error: %v)", names, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	rest := namespaceRefresh - time.Since(since)
	if rest <= 0 {
		return nil
	}
	select {
	case <-ctx.Done():
		return fmt.Errorf("wait for new search attributes %v: %w", names, ctx.Err())
	case <-time.After(rest):
		return nil
	}
}

// dial connects an SDK client, retrying until the server passes a health
// check or ctx ends.
func dial(ctx context.Context, address, namespace string, logger *slog.Logger) (client.Client, error) {
	opts := client.Options{
		HostPort:  address,
		Namespace: namespace,
		// The SDK's default logger writes to stdout.
		Logger: sdklog.NewStructuredLogger(logger),
	}
	var lastErr error
	for {
		c, err := client.DialContext(ctx, opts)
		if err == nil {
			_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
			if err == nil {
				return c, nil
			}
			c.Close()
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (last error: %v)", ctx.Err(), lastErr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func discardLogger() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}
