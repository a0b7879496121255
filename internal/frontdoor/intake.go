package frontdoor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/parry-soc/parry/alerts"
	"github.com/parry-soc/parry/alerts/routing"
	"github.com/parry-soc/parry/internal/runs"
	"github.com/parry-soc/parry/playbooks"
	"github.com/parry-soc/parry/workflows"
)

// The alert intake (`trigger serve`): POST /v1/alerts (the format detected from the payload's shape) and
// POST /v1/alerts/{source} (that format's normalizer, no detection) start one run per alert through
// runs.Starter, exactly as `trigger run` does; GET /v1/runs/{id} shows a run; GET /v1/stats the intake's
// counters. Everything under /v1 needs a bearer token (PARRY_INTAKE_TOKEN) or an HMAC signature
// (PARRY_INTAKE_HMAC_SECRET, see intake_auth.go).
//
// Answers are JSON. 202 Accepted names the run started; 200 OK the run an alert seen before already has
// ("duplicate": true) — the same alert sent again, concurrently or after its run closed, never starts a
// second run: the run's workflow id is derived from the alert and Temporal refuses a second start with it.
// Refusals say what, where and how to fix: 400 for a body that is not JSON (with the byte offset), 401 for
// credentials, 404 for an unknown source, 405 for a wrong method, 413 for a body over 1 MiB, 422 for a
// payload of no known shape, an alert no playbook answers (recorded as an UnroutedAlert workflow) or one
// missing a required input, 503 (with Retry-After) when Temporal cannot take the start now. Retrying a 503
// or a request whose answer was lost is always safe.

// IntakePath is where alerts are posted.
const IntakePath = "/v1/alerts"

// RunsPath is where a run's status is read: RunsPath + "/" + run id.
const RunsPath = "/v1/runs"

// StatsPath serves the intake's counters.
const StatsPath = "/v1/stats"

// Defaults of the intake's start bound; see IntakeConfig.
const (
	// DefaultMaxStarts bounds the starts in flight at once. Each is a signal-with-start of the host's
	// incident and a start of the run. On the embedded server (one SQLite connection) all-unique alerts were
	// accepted at 54/s with 8 starts in flight, 78/s with 32, 90/s with 64, 93/s with 128 and 88/s with 512
	// (BenchmarkIntakeStartBound, 100 senders, 2 vCPU): the server takes concurrent starts better than
	// serial ones up to about 64, then only latency grows. The bound is a safety valve for storms far
	// beyond that, answered 503 with Retry-After instead of piling up until senders time out.
	DefaultMaxStarts = 64
	// DefaultStartQueue is how long a request waits for a start slot before it is answered 503: short of
	// the 10–30 s webhook senders commonly wait for an answer.
	DefaultStartQueue = 5 * time.Second
	// DefaultStartTimeout bounds one start (both calls to Temporal).
	DefaultStartTimeout = 20 * time.Second
)

// AlertStarter starts runs and records unrouted alerts; *runs.Starter is Parry's.
type AlertStarter interface {
	Start(ctx context.Context, p runs.Plan) (runs.Started, error)
	RecordUnrouted(ctx context.Context, a alerts.Alert, reason string) (runs.Started, error)
}

var _ AlertStarter = (*runs.Starter)(nil)

// IntakeConfig configures the alert intake.
type IntakeConfig struct {
	// Token is the bearer token senders present (PARRY_INTAKE_TOKEN).
	Token string
	// HMACSecret keys the request signatures senders may use instead (PARRY_INTAKE_HMAC_SECRET).
	HMACSecret string
	// Dev, with neither Token nor HMACSecret set, answers loopback callers without credentials (the dev
	// default). With credentials configured they are required in dev too.
	Dev bool
	// Library is the playbooks alerts are routed to.
	Library []*playbooks.Playbook
	// Starter starts the runs.
	Starter AlertStarter
	// Runs reads runs for GET /v1/runs/{id} (nil: not served).
	Runs RunReader
	// Exists, when set, is asked before a start whether the alert's run exists already (running or
	// closed). A repeat then costs Temporal one read instead of a signal to the host's incident and a start
	// it refuses; a run that does not exist yet is still started by Starter, whose already-started error
	// decides any race.
	Exists func(ctx context.Context, runID string) (bool, error)
	// MaxStarts bounds the starts in flight (default DefaultMaxStarts); StartQueue is how long a request
	// waits for one of them (default DefaultStartQueue) before it is answered 503 with Retry-After;
	// StartTimeout bounds one start (default DefaultStartTimeout).
	MaxStarts    int
	StartQueue   time.Duration
	StartTimeout time.Duration
	Logger       *slog.Logger
	// Now is the clock signatures are checked against (default time.Now).
	Now func() time.Time
}

// Intake serves the alert intake endpoints.
type Intake struct {
	cfg     IntakeConfig
	log     *slog.Logger
	slots   chan struct{}
	flights flights
	stats   *counters
}

// minSecret is the shortest token or HMAC secret accepted: anything shorter can be guessed.
const minSecret = 16

// NewIntake checks the configuration: outside Dev a token or an HMAC secret is required.
func NewIntake(cfg IntakeConfig) (*Intake, error) {
	if cfg.Starter == nil {
		return nil, errors.New("alert intake: no starter")
	}
	if cfg.Token == "" && cfg.HMACSecret == "" && !cfg.Dev {
		return nil, errors.New("alert intake: no credentials: set PARRY_INTAKE_TOKEN (senders send Authorization: Bearer <token>) " +
			"or PARRY_INTAKE_HMAC_SECRET (senders sign each request), or use --dev to take alerts from loopback callers only")
	}
	for _, s := range []struct{ name, v string }{{"PARRY_INTAKE_TOKEN", cfg.Token}, {"PARRY_INTAKE_HMAC_SECRET", cfg.HMACSecret}} {
		if s.v != "" && len(s.v) < minSecret {
			return nil, fmt.Errorf("alert intake: %s has %d characters, fewer than %d: use a random value such as the output of `openssl rand -hex 32`", s.name, len(s.v), minSecret)
		}
	}
	if cfg.MaxStarts <= 0 {
		cfg.MaxStarts = DefaultMaxStarts
	}
	if cfg.StartQueue <= 0 {
		cfg.StartQueue = DefaultStartQueue
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Intake{cfg: cfg, log: cfg.Logger, slots: make(chan struct{}, cfg.MaxStarts), flights: flights{m: map[string]*flight{}}, stats: newCounters(cfg.Now())}, nil
}

// Register mounts the intake's routes on s. Other methods on its paths are answered 405 in JSON.
func (in *Intake) Register(s *Server) {
	s.Handle("POST "+IntakePath, http.HandlerFunc(in.postAlert))
	s.Handle("POST "+IntakePath+"/{source}", http.HandlerFunc(in.postAlert))
	s.Handle(IntakePath, in.wrongMethod(http.MethodPost))
	s.Handle(IntakePath+"/{source}", in.wrongMethod(http.MethodPost))
	s.Handle("GET "+StatsPath, http.HandlerFunc(in.getStats))
	s.Handle(StatsPath, in.wrongMethod(http.MethodGet))
	if in.cfg.Runs != nil {
		s.Handle("GET "+RunsPath+"/{id...}", http.HandlerFunc(in.getRun))
		s.Handle(RunsPath+"/{id...}", in.wrongMethod(http.MethodGet))
	}
}

// Auth describes how callers authenticate, for the serve command's banner.
func (in *Intake) Auth() string {
	var ways []string
	if in.cfg.Token != "" {
		ways = append(ways, "bearer token")
	}
	if in.cfg.HMACSecret != "" {
		ways = append(ways, "HMAC signature")
	}
	if len(ways) == 0 {
		return "loopback callers only, no credentials (dev)"
	}
	return strings.Join(ways, " or ")
}

// Stats returns a snapshot of the intake's counters.
func (in *Intake) Stats() IntakeStats { return in.stats.snapshot(len(in.slots), cap(in.slots)) }

// AlertAccepted is the answer to an alert that has a run: 202 when this request started it, 200 when it
// existed already (Duplicate).
type AlertAccepted struct {
	RunID     string `json:"run_id"`
	Playbook  string `json:"playbook"`
	Duplicate bool   `json:"duplicate"`
	StatusURL string `json:"status_url"`
	// Incident is the workflow id of the host's incident the alert was linked to, if it has a host or user.
	Incident string `json:"incident,omitempty"`
}

// IntakeError is the JSON body of every refusal: what is wrong, where and how to fix it in Error, and the
// details a program may act on.
type IntakeError struct {
	Error string `json:"error"`
	// Field is the alert field at fault (a required input the alert lacks, or a payload field).
	Field string `json:"field,omitempty"`
	// Offset is the byte offset of a JSON syntax error.
	Offset int64 `json:"offset,omitempty"`
	// Format is the alert format being read.
	Format string `json:"format,omitempty"`
	// Playbook and Input name what a missing input was needed for.
	Playbook string `json:"playbook,omitempty"`
	Input    string `json:"input,omitempty"`
	// Techniques and Tactics are what an unrouted alert carried; RecordID is its UnroutedAlert record.
	Techniques []string `json:"techniques,omitempty"`
	Tactics    []string `json:"tactics,omitempty"`
	RecordID   string   `json:"record_id,omitempty"`
	// AlertID and Source identify the alert, once it was read.
	AlertID string `json:"alert_id,omitempty"`
	Source  string `json:"source,omitempty"`
	// Sources lists the known formats, when the one named is unknown.
	Sources []string `json:"sources,omitempty"`
}

func (in *Intake) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// refuse answers a refusal and counts it.
func (in *Intake) refuse(w http.ResponseWriter, status int, e IntakeError) {
	in.stats.answered(status)
	in.writeJSON(w, status, e)
}

func (in *Intake) wrongMethod(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		in.refuse(w, http.StatusMethodNotAllowed, IntakeError{Error: fmt.Sprintf("method %s is not allowed on %s: use %s", r.Method, r.URL.Path, allow)})
	})
}

// postAlert takes one alert: authenticate, read, normalize, route, start.
func (in *Intake) postAlert(w http.ResponseWriter, r *http.Request) {
	in.stats.received.Add(1)
	body, ok := in.authenticated(w, r)
	if !ok {
		return
	}
	source := r.PathValue("source")
	if source != "" && !slices.Contains(alerts.Formats(), strings.ToLower(source)) {
		in.refuse(w, http.StatusNotFound, IntakeError{
			Error: fmt.Sprintf("unknown alert source %q: post to %s/{source} with one of %s, or to %s to detect the format from the payload",
				source, IntakePath, strings.Join(alerts.Formats(), ", "), IntakePath),
			Sources: alerts.Formats(),
		})
		return
	}
	a, err := alerts.Normalize(body, source)
	if err != nil {
		in.refusePayload(w, body, err)
		return
	}
	plan, err := runs.PlanFor(a, in.cfg.Library, nil)
	var unrouted *routing.UnroutedError
	var missing *routing.MissingInputError
	switch {
	case errors.As(err, &unrouted):
		in.unrouted(w, r, a, unrouted)
		return
	case errors.As(err, &missing):
		in.stats.missingInput.Add(1)
		in.log.Info("intake: refused an alert missing a required input", "alert", a.ID, "source", a.Source, "playbook", missing.Playbook, "field", missing.From)
		in.refuse(w, http.StatusUnprocessableEntity, IntakeError{
			Error: err.Error() + "; send the alert with that field set, or change the playbook's inputs",
			Field: strings.TrimPrefix(missing.From, "alert."), Playbook: missing.Playbook, Input: missing.Input, AlertID: a.ID, Source: a.Source,
		})
		return
	case err != nil:
		// A match.when guard that does not compile or evaluate: the library is broken, not the alert.
		in.log.Error("intake: routing failed", "alert", a.ID, "source", a.Source, "error", err)
		in.refuse(w, http.StatusInternalServerError, IntakeError{Error: err.Error() + "; the playbook library needs fixing (trigger validate), tell Parry's operators", AlertID: a.ID, Source: a.Source})
		return
	}

	runID := workflows.RunID(a.Source, a.ID)
	started, shared, err := in.flights.do(runID, func() (runs.Started, error) {
		return in.bounded(r.Context(), func(ctx context.Context) (runs.Started, error) {
			if in.cfg.Exists != nil {
				if ok, err := in.cfg.Exists(ctx, runID); err == nil && ok {
					return runs.Started{RunID: runID, Playbook: plan.Playbook.ID, Duplicate: true}, nil
				}
			}
			return in.cfg.Starter.Start(ctx, plan)
		})
	})
	if err != nil {
		in.unavailable(w, a, "start the run "+runID, err)
		return
	}
	// Requests that shared another's start did not start anything themselves: theirs is a duplicate.
	started.Duplicate = started.Duplicate || shared
	resp := AlertAccepted{RunID: started.RunID, Playbook: started.Playbook, Duplicate: started.Duplicate, StatusURL: RunsPath + "/" + url.PathEscape(started.RunID)}
	if key := a.HostKey(); key != "" {
		resp.Incident = workflows.IncidentID(key)
	}
	status := http.StatusAccepted
	if started.Duplicate {
		status = http.StatusOK
		in.log.Debug("intake: duplicate alert", "alert", a.ID, "source", a.Source, "run", started.RunID)
	} else {
		in.log.Info("intake: run started", "alert", a.ID, "source", a.Source, "run", started.RunID, "playbook", started.Playbook, "specificity", plan.Route.Specificity)
	}
	in.stats.answered(status)
	w.Header().Set("Location", resp.StatusURL)
	in.writeJSON(w, status, resp)
}

// refusePayload answers a payload Parry cannot read: 400 when the body is not JSON at all (with the byte
// offset), 422 when it is JSON of a shape no format takes.
func (in *Intake) refusePayload(w http.ResponseWriter, body []byte, err error) {
	e := IntakeError{Error: err.Error()}
	var pe *alerts.PayloadError
	if errors.As(err, &pe) {
		e.Offset, e.Field, e.Format = pe.Offset, pe.Field, pe.Format
	}
	status := http.StatusUnprocessableEntity
	if len(bytes.TrimSpace(body)) == 0 || !json.Valid(body) {
		status = http.StatusBadRequest
	}
	in.log.Info("intake: refused a payload", "status", status, "error", err)
	in.refuse(w, status, e)
}

// unrouted records an alert no playbook answers, so it is counted and searchable, and answers 422.
func (in *Intake) unrouted(w http.ResponseWriter, r *http.Request, a alerts.Alert, ue *routing.UnroutedError) {
	in.stats.unrouted.Add(1)
	id := workflows.UnroutedID(a.Source, a.ID)
	rec, _, err := in.flights.do(id, func() (runs.Started, error) {
		return in.bounded(r.Context(), func(ctx context.Context) (runs.Started, error) {
			return in.cfg.Starter.RecordUnrouted(ctx, a, ue.Error())
		})
	})
	if err != nil {
		in.unavailable(w, a, "record unrouted alert "+id, err)
		return
	}
	in.log.Info("intake: unrouted alert", "alert", a.ID, "source", a.Source, "record", rec.RunID, "techniques", strings.Join(ue.Techniques, ","), "tactics", strings.Join(ue.Tactics, ","))
	in.refuse(w, http.StatusUnprocessableEntity, IntakeError{Error: ue.Error() + "; the alert is recorded as " + rec.RunID + ", no run started",
		Techniques: ue.Techniques, Tactics: ue.Tactics, RecordID: rec.RunID, AlertID: a.ID, Source: a.Source})
}

var errSaturated = errors.New("every start slot stayed busy")

// unavailable answers 503 with Retry-After: Temporal could not take the start now. Nothing half-done is
// left that a retry could double: the same alert starts at most one run.
func (in *Intake) unavailable(w http.ResponseWriter, a alerts.Alert, what string, err error) {
	msg := fmt.Sprintf("could not %s: %v; retry after a second — retrying is safe, the same alert starts at most one run", what, err)
	if errors.Is(err, errSaturated) {
		in.stats.saturated.Add(1)
		msg = fmt.Sprintf("could not %s: the front door is at its limit of %d starts in flight and none freed up within %s; retry after a second — retrying is safe, the same alert starts at most one run",
			what, cap(in.slots), in.cfg.StartQueue)
	} else {
		in.log.Warn("intake: "+what+" failed", "alert", a.ID, "source", a.Source, "error", err)
	}
	w.Header().Set("Retry-After", "1")
	in.refuse(w, http.StatusServiceUnavailable, IntakeError{Error: msg, AlertID: a.ID, Source: a.Source})
}

// bounded runs fn in one of the start slots, waiting at most StartQueue for one. fn's context outlives the
// request (a sender that hangs up does not cut a start in two), bounded by StartTimeout.
func (in *Intake) bounded(rctx context.Context, fn func(context.Context) (runs.Started, error)) (runs.Started, error) {
	wait := time.NewTimer(in.cfg.StartQueue)
	defer wait.Stop()
	select {
	case in.slots <- struct{}{}:
	case <-wait.C:
		return runs.Started{}, errSaturated
	case <-rctx.Done():
		return runs.Started{}, rctx.Err()
	}
	defer func() { <-in.slots }()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(rctx), in.cfg.StartTimeout)
	defer cancel()
	return fn(ctx)
}

// flights lets concurrent requests for one workflow id share one start: the first makes it, the others
// wait for its outcome. Temporal would refuse their starts anyway; sharing spares it the calls (each also a
// signal to the host's incident) when a sender fires the same alert many times at once.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	done    chan struct{}
	started runs.Started
	err     error
}

// do runs fn for key unless a call for key is in flight, in which case it waits for that call's outcome
// and reports shared.
func (f *flights) do(key string, fn func() (runs.Started, error)) (runs.Started, bool, error) {
	f.mu.Lock()
	if c, ok := f.m[key]; ok {
		f.mu.Unlock()
		<-c.done
		return c.started, true, c.err
	}
	c := &flight{done: make(chan struct{})}
	f.m[key] = c
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.m, key)
		f.mu.Unlock()
		close(c.done)
	}()
	c.started, c.err = fn()
	return c.started, false, c.err
}

// getStats serves the counters.
func (in *Intake) getStats(w http.ResponseWriter, r *http.Request) {
	if _, ok := in.authenticated(w, r); !ok {
		return
	}
	in.writeJSON(w, http.StatusOK, in.Stats())
}

// readBody reads a request body bounded by the server's MaxBody; a body over it is answered 413.
func (in *Intake) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(r.Body)
	if err == nil {
		return body, true
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		in.refuse(w, http.StatusRequestEntityTooLarge, IntakeError{Error: fmt.Sprintf("the body is over %d bytes (%s): send one alert per request, without attachments", tooBig.Limit, sizeText(tooBig.Limit))})
		return nil, false
	}
	in.refuse(w, http.StatusBadRequest, IntakeError{Error: "could not read the request body: " + err.Error()})
	return nil, false
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
