// Package lab is an honest simulator of a small enterprise — hosts, users, mailboxes, files with verdicts,
// Slack user groups — that implements every provider family of package activities, so Parry runs whole
// responses on a laptop with nothing else installed (the --dev default) and tests can prove what happened.
//
// The world is described by a fixture (YAML; an embedded default, or a file) and what actions change is
// kept in a JSON state file shared by every worker process: each change holds an exclusive flock, and the
// file is replaced atomically, so a killed worker loses nothing. Every change is recorded under its
// idempotency key, and a repeated call with the same key returns the recorded result instead of acting
// again; State.Counts counts each action once per key, which is what exactly-once tests check.
//
// A fixture (see default-fixture.yaml, and Fixture for every field) has these top-level keys:
//
//	org, domain   the organisation's name; the AD domain accepted as DOMAIN\user
//	timing        tick (wall time of a simulated second) and the simulated seconds of each long action
//	hosts         name, fqdn, os, ip, owner, role, device_id, local_accounts, processes (pid, name, user,
//	              image_sha256, command), persistence (kind, name, location, command, sha256), files (path, sha256)
//	users         name, upn, display_name, title, groups, mailbox, sessions
//	mailboxes     address, owner (none: shared)
//	messages      message_id, sender, subject, delivered_to (mailboxes), sender_ip, attachments, headers
//	files         sha256 → verdict, family, score, detections, first_seen, sandbox (seconds, score, behaviour, iocs)
//	ips           address → verdict, reputation, tags
//	slack         users (id, name, user) and groups (id, handle, members)
//	faults        action → fail_first, type, message: injected failures for tests
//
// Unknown keys are errors, and every error names the file and line.
//
// The lab says it is a simulation wherever it reports: results carry Simulated, notes say "(simulated)",
// and every artefact it captures starts with a banner saying so. Long actions (detonation, memory dump,
// network capture, triage, scan, log export) take the fixture's simulated seconds of real time, report
// progress every tick, and resume from the progress a previous attempt reported.
package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/parry-soc/parry/activities/provider"
)

// Name is the lab's provider name in configuration and results.
const Name = "lab"

// Config configures a Lab.
type Config struct {
	// Fixture is the path of a fixture file; "" uses the embedded default.
	Fixture string
	// State is the path of the state file, created on first use (e.g. .parry/lab-state.json).
	State string
	// Tick overrides the fixture's timing.tick, the wall time of one simulated second; 0 keeps the
	// fixture's. Tests set a millisecond.
	Tick time.Duration
	// Now returns the time recorded with effects; nil is time.Now.
	Now func() time.Time
}

// Lab is the simulated enterprise. It is safe for concurrent use, also by several processes on one state
// file.
type Lab struct {
	fx    *Fixture
	state *stateFile
	tick  time.Duration
	now   func() time.Time
}

// New loads the fixture and opens the state file.
func New(cfg Config) (*Lab, error) {
	var (
		fx  *Fixture
		err error
	)
	if cfg.Fixture == "" {
		fx, err = DefaultFixture()
	} else {
		fx, err = LoadFixture(cfg.Fixture)
	}
	if err != nil {
		return nil, err
	}
	st, err := openState(cfg.State)
	if err != nil {
		return nil, err
	}
	l := &Lab{fx: fx, state: st, tick: fx.tick(), now: cfg.Now}
	if cfg.Tick > 0 {
		l.tick = cfg.Tick
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l, nil
}

// Name returns "lab".
func (l *Lab) Name() string { return Name }

// Simulated returns true: nothing the lab does touches a real system.
func (l *Lab) Simulated() bool { return true }

// Fixture returns the fixture the lab runs.
func (l *Lab) Fixture() *Fixture { return l.fx }

// StatePath returns the path of the state file.
func (l *Lab) StatePath() string { return l.state.path }

// State returns the current state.
func (l *Lab) State() (State, error) {
	var out State
	err := l.state.view(func(st *State) error { out = *st; return nil })
	return out, err
}

// inject fails the call when the fixture injects a fault for action and this call (by key, or target for
// lookups) has not yet failed FailFirst times. The attempt count lives in the state file so that retries
// on other workers see it.
func (l *Lab) inject(action, key, target string) error {
	f, ok := l.fx.Faults[action]
	if !ok || f.FailFirst == 0 {
		return nil
	}
	id := action + " " + key
	if key == "" {
		id = action + " " + target
	}
	var fail bool
	err := l.state.update(func(st *State) error {
		if st.Attempts[id] >= f.FailFirst {
			return nil
		}
		st.Attempts[id]++
		fail = true
		return nil
	})
	if err != nil || !fail {
		return err
	}
	msg := f.Message
	if msg == "" {
		msg = "injected fault"
	}
	typ := f.Type
	if typ == "" {
		typ = provider.ErrUnavailable
	}
	return &provider.Error{Type: typ, Msg: fmt.Sprintf("lab: %s %s: %s (simulated)", action, target, msg)}
}

// effect performs do once per idempotency key: under the state lock it returns the result recorded for key,
// or runs do, records its result and counts the action. do must change st only when it succeeds.
func effect[T any](l *Lab, action, key, target string, do func(st *State, now time.Time) (T, error)) (T, error) {
	if key == "" {
		var zero T
		return zero, provider.InvalidInput("%s %s: no idempotency key", action, target)
	}
	if err := l.inject(action, key, target); err != nil {
		var zero T
		return zero, err
	}
	return record(l, action, key, target, do)
}

// record is effect without the checks and fault injection.
func record[T any](l *Lab, action, key, target string, do func(st *State, now time.Time) (T, error)) (T, error) {
	var out T
	err := l.state.update(func(st *State) error {
		if ok, err := replay(st, action, key, target, &out); ok || err != nil {
			return err
		}
		now := l.now().UTC()
		r, err := do(st, now)
		if err != nil {
			return err
		}
		raw, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("record %s: %w", action, err)
		}
		st.Effects[key] = Effect{Action: action, Target: target, At: now, Result: raw}
		st.Counts[action]++
		out = r
		return nil
	})
	return out, err
}

// recorded returns the result recorded for key, if any, without changing anything.
func recorded[T any](l *Lab, action, key, target string) (out T, ok bool, err error) {
	err = l.state.view(func(st *State) error {
		ok, err = replay(st, action, key, target, &out)
		return err
	})
	return out, ok, err
}

func replay(st *State, action, key, target string, out any) (bool, error) {
	e, ok := st.Effects[key]
	if !ok {
		return false, nil
	}
	if e.Action != action || e.Target != target {
		return false, provider.InvalidInput("idempotency key %q already did %s on %s, not %s on %s",
			key, e.Action, e.Target, action, target)
	}
	if err := json.Unmarshal(e.Result, out); err != nil {
		return false, fmt.Errorf("replay %s %s: %w", action, key, err)
	}
	return true, nil
}

// long is a long call: it waits seconds simulated seconds (skipping what resume says is done), reporting
// progress every tick, then records its effect. A call whose effect is already recorded returns at once.
func long[T any](ctx context.Context, l *Lab, action, key, target string, seconds int, resume provider.Progress,
	report provider.ProgressFunc, do func(st *State, now time.Time) (T, error)) (T, error) {
	if key == "" {
		var zero T
		return zero, provider.InvalidInput("%s %s: no idempotency key", action, target)
	}
	if r, ok, err := recorded[T](l, action, key, target); ok || err != nil {
		return r, err
	}
	var zero T
	if err := l.inject(action, key, target); err != nil {
		return zero, err
	}
	if err := l.wait(ctx, action, seconds, resume, report); err != nil {
		return zero, err
	}
	return record(l, action, key, target, do)
}

// wait lets total simulated seconds pass, starting from resume when it is progress of the same stage.
func (l *Lab) wait(ctx context.Context, stage string, total int, resume provider.Progress, report provider.ProgressFunc) error {
	done := 0
	if resume.Stage == stage && resume.Total == total {
		done = min(max(resume.Done, 0), total)
	}
	if report == nil {
		report = func(provider.Progress) {}
	}
	report(provider.Progress{Stage: stage, Done: done, Total: total})
	for done < total {
		t := time.NewTimer(l.tick)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w", stage, ctx.Err())
		case <-t.C:
		}
		done++
		report(provider.Progress{Stage: stage, Done: done, Total: total})
	}
	return nil
}
