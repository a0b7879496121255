package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/parry-soc/parry/alerts"
	"github.com/parry-soc/parry/alerts/routing"
	"github.com/parry-soc/parry/internal/devserver"
	"github.com/parry-soc/parry/internal/frontdoor"
	"github.com/parry-soc/parry/internal/runs"
	"github.com/parry-soc/parry/playbooks"
	"github.com/parry-soc/parry/workflows"
)

const (
	intakeToken  = "test-intake-token-0123456789abcdef"
	intakeSecret = "test-intake-hmac-secret-0123456789abcdef"
)

// intakeBench is a test's Temporal server and the environment its `trigger serve` and workers share.
type intakeBench struct {
	t      *testing.T
	ctx    context.Context
	home   string
	server *devserver.Server
	client client.Client
	vars   map[string]string
}

// newIntakeBench starts an embedded server; playbooks (YAML documents) go to a PARRY_PLAYBOOKS directory.
func newIntakeBench(ctx context.Context, t *testing.T, playbooks ...string) *intakeBench {
	t.Helper()
	home := t.TempDir()
	srv := startServer(ctx, t, home)
	b := &intakeBench{t: t, ctx: ctx, home: home, server: srv, client: dial(ctx, t, srv),
		vars: map[string]string{"TEMPORAL_ADDRESS": srv.Address(), "PARRY_INTAKE_TOKEN": intakeToken, "PARRY_INTAKE_HMAC_SECRET": intakeSecret,
			"PARRY_LAB_STATE": filepath.Join(home, "lab-state.json"), "PARRY_EVIDENCE_DIR": filepath.Join(home, "evidence")}}
	if len(playbooks) > 0 {
		dir := filepath.Join(home, "playbooks")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, pb := range playbooks {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("playbook-%d.yaml", i)), []byte(pb), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		b.vars["PARRY_PLAYBOOKS"] = dir
	}
	return b
}

func (b *intakeBench) env(extra map[string]string) (Env, *lockedBuffer, *lockedBuffer) {
	vars := map[string]string{}
	for k, v := range b.vars {
		vars[k] = v
	}
	for k, v := range extra {
		vars[k] = v
	}
	return testEnv(b.home, vars)
}

// serve runs `trigger serve` until the test ends and returns its base URL.
func (b *intakeBench) serve(extra map[string]string, args ...string) string {
	b.t.Helper()
	ctx, cancel := context.WithCancel(b.ctx)
	env, stdout, stderr := b.env(extra)
	done := make(chan error, 1)
	go func() {
		done <- Trigger(ctx, env, append([]string{"serve", "--listen", "127.0.0.1:0", "--grace", "5s"}, args...))
	}()
	b.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.t.Errorf("trigger serve: %v\n%s", err, stderr)
		}
	})
	const prefix = "front door listening on http://"
	for b.ctx.Err() == nil {
		if _, rest, ok := strings.Cut(stdout.String(), prefix); ok {
			return "http://" + strings.Fields(rest)[0]
		}
		select {
		case err := <-done:
			done <- err // for the cleanup
			b.t.Fatalf("trigger serve ended: %v\n%s%s", err, stdout, stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	b.t.Fatal("trigger serve did not start")
	return ""
}

// startWorker runs `worker` until the returned stop is called; its log (and so the log notifier's events
// and escalations) goes to the returned buffer.
func (b *intakeBench) startWorker() (logs *lockedBuffer, stop func()) {
	ctx, cancel := context.WithCancel(b.ctx)
	env, _, stderr := b.env(nil)
	done := make(chan error, 1)
	go func() { done <- Worker(ctx, env, nil) }()
	return stderr, func() {
		cancel()
		if err := <-done; err != nil {
			b.t.Errorf("worker: %v", err)
		}
	}
}

// intakeAnswer is what the front door answered.
type intakeAnswer struct {
	status  int
	header  http.Header
	raw     []byte
	ok      frontdoor.AlertAccepted
	refused frontdoor.IntakeError
}

var intakeHTTP = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: time.Minute}

// postIntake posts body with the token (or, when signed, an HMAC signature), and decodes the answer.
func postIntake(ctx context.Context, url string, body []byte, how string) (intakeAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return intakeAnswer{}, err
	}
	switch how {
	case "token":
		req.Header.Set("Authorization", "Bearer "+intakeToken)
	case "hmac":
		ts, sig := frontdoor.SignIntake(intakeSecret, time.Now(), body)
		req.Header.Set(frontdoor.HeaderIntakeTimestamp, ts)
		req.Header.Set(frontdoor.HeaderIntakeSignature, sig)
	}
	resp, err := intakeHTTP.Do(req)
	if err != nil {
		return intakeAnswer{}, err
	}
	defer resp.Body.Close()
	a := intakeAnswer{status: resp.StatusCode, header: resp.Header}
	if a.raw, err = io.ReadAll(resp.Body); err != nil {
		return a, err
	}
	switch resp.StatusCode {
	case http.StatusAccepted, http.StatusOK:
		err = json.Unmarshal(a.raw, &a.ok)
	default:
		err = json.Unmarshal(a.raw, &a.refused)
	}
	if err != nil {
		return a, fmt.Errorf("answer %d is not the documented JSON: %q", resp.StatusCode, a.raw)
	}
	return a, nil
}

// postUntilAnswered posts like a well-behaved sender: a 503 is retried after its Retry-After.
func postUntilAnswered(ctx context.Context, url string, body []byte, how string) (intakeAnswer, error) {
	for {
		a, err := postIntake(ctx, url, body, how)
		if err != nil || a.status != http.StatusServiceUnavailable {
			return a, err
		}
		select {
		case <-ctx.Done():
			return a, fmt.Errorf("still 503 when the test ended: %s", a.raw)
		case <-time.After(time.Second):
		}
	}
}

// startInput reads a workflow's input from the first event of its history: what the run was started with.
func startInput(ctx context.Context, t *testing.T, c client.Client, id string, v any) {
	t.Helper()
	it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	ev, err := it.Next()
	if err != nil {
		t.Fatalf("history of %s: %v", id, err)
	}
	attrs := ev.GetWorkflowExecutionStartedEventAttributes()
	if attrs == nil {
		t.Fatalf("first event of %s is %s", id, ev.GetEventType())
	}
	if err := converter.GetDefaultDataConverter().FromPayloads(attrs.GetInput(), v); err != nil {
		t.Fatalf("input of %s: %v", id, err)
	}
}

// countWorkflows counts executions matching a visibility query, waiting for visibility to settle at want.
func countWorkflows(ctx context.Context, t *testing.T, c client.Client, query string, want int64) int64 {
	t.Helper()
	var n int64
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: query})
		if err != nil {
			t.Fatalf("count %q: %v", query, err)
		}
		n = resp.GetCount()
		if n == want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestIntakeTakesEverySample posts every vendor sample of alerts/testdata to a live `trigger serve`, format
// detected, and checks it became what the normalizer tests expect: a run whose pinned alert is the golden
// one, an unrouted record of it, or a refusal naming the missing input — whichever routing decides for the
// golden alert. Posted again, a started alert is a duplicate of its run.
func TestIntakeTakesEverySample(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b := newIntakeBench(ctx, t)
	base := b.serve(nil)
	library, err := playbooks.Library()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join("..", "..", "alerts", "testdata", "*.json"))
	if err != nil || len(files) < 10 {
		t.Fatalf("samples: %v (%d)", err, len(files))
	}
	outcomes := map[string]int{}
	for i, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			payload, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			goldenJSON, err := os.ReadFile(strings.TrimSuffix(file, ".json") + ".golden")
			if err != nil {
				t.Fatal(err)
			}
			var golden alerts.Alert
			if err := json.Unmarshal(goldenJSON, &golden); err != nil {
				t.Fatal(err)
			}
			how := "token"
			if i%2 == 1 {
				how = "hmac"
			}
			got, err := postIntake(ctx, base+frontdoor.IntakePath, payload, how)
			if err != nil {
				t.Fatal(err)
			}
			plan, routeErr := runs.PlanFor(golden, library, nil)
			var unrouted *routing.UnroutedError
			var missing *routing.MissingInputError
			switch {
			case routeErr == nil:
				outcomes["run"]++
				runID := workflows.RunID(golden.Source, golden.ID)
				if got.status != http.StatusAccepted || got.ok.RunID != runID || got.ok.Playbook != plan.Playbook.ID || got.ok.Duplicate {
					t.Fatalf("answer %d %s, want 202 naming run %s of playbook %s", got.status, got.raw, runID, plan.Playbook.ID)
				}
				var in workflows.Input
				startInput(ctx, t, b.client, runID, &in)
				if !sameJSON(t, in.Alert.Raw, payload) {
					t.Errorf("the run's alert does not keep the payload as raw")
				}
				in.Alert.Raw = nil
				if !reflect.DeepEqual(in.Alert, golden) {
					t.Errorf("the run's alert\n%+v\nwant the golden\n%+v", in.Alert, golden)
				}
				again, err := postIntake(ctx, base+frontdoor.IntakePath+"/"+golden.Source, payload, how)
				if err != nil || again.status != http.StatusOK || !again.ok.Duplicate || again.ok.RunID != runID {
					t.Errorf("posted again to /v1/alerts/%s: %d %s (%v), want 200, a duplicate of %s", golden.Source, again.status, again.raw, err, runID)
				}
			case errors.As(routeErr, &unrouted):
				outcomes["unrouted"]++
				recID := workflows.UnroutedID(golden.Source, golden.ID)
				if got.status != http.StatusUnprocessableEntity || got.refused.RecordID != recID ||
					!slices.Equal(got.refused.Techniques, unrouted.Techniques) || !slices.Equal(got.refused.Tactics, unrouted.Tactics) {
					t.Fatalf("answer %d %s, want 422 with the techniques %v, tactics %v and record %s", got.status, got.raw, unrouted.Techniques, unrouted.Tactics, recID)
				}
				var rec workflows.Unrouted
				startInput(ctx, t, b.client, recID, &rec)
				want := workflows.AlertRef{ID: golden.ID, Source: golden.Source, Title: golden.Title, Severity: golden.Severity, Host: golden.Host,
					User: golden.User, Techniques: golden.Techniques, Time: golden.Time, Rule: golden.Rule}
				if !reflect.DeepEqual(rec.Alert, want) || rec.Reason != unrouted.Error() {
					t.Errorf("the record holds %+v (%q), want %+v (%q)", rec.Alert, rec.Reason, want, unrouted.Error())
				}
			case errors.As(routeErr, &missing):
				outcomes["missing input"]++
				if got.status != http.StatusUnprocessableEntity || got.refused.Field != strings.TrimPrefix(missing.From, "alert.") ||
					got.refused.AlertID != golden.ID || got.refused.Source != golden.Source || !strings.Contains(got.refused.Error, missing.Error()) {
					t.Errorf("answer %d %s, want 422 naming field %s of alert %s/%s", got.status, got.raw, missing.From, golden.Source, golden.ID)
				}
			default:
				t.Fatalf("routing the golden alert: %v", routeErr)
			}
			// A Sigma rule as written (YAML) is the same alert as its JSON rendering: answered alike.
			yml, err := os.ReadFile(strings.TrimSuffix(file, ".json") + ".yml")
			if err != nil {
				return
			}
			outcomes["yaml"]++
			y, err := postIntake(ctx, base+frontdoor.IntakePath, yml, how)
			if err != nil {
				t.Fatal(err)
			}
			if routeErr == nil {
				if y.status != http.StatusOK || !y.ok.Duplicate || y.ok.RunID != got.ok.RunID {
					t.Errorf("the YAML rendering: %d %s, want 200, a duplicate of %s", y.status, y.raw, got.ok.RunID)
				}
			} else if y.status != got.status || y.refused.RecordID != got.refused.RecordID || y.refused.Field != got.refused.Field {
				t.Errorf("the YAML rendering: %d %s, want the JSON's answer %d %s", y.status, y.raw, got.status, got.raw)
			}
		})
	}
	if outcomes["run"] == 0 || outcomes["unrouted"] == 0 || outcomes["missing input"] == 0 || outcomes["yaml"] != 2 {
		t.Errorf("outcomes %v: the samples no longer cover runs, unrouted alerts and missing inputs", outcomes)
	}
	// Nothing was started for an alert refused for a missing input: only the runs and records above exist.
	n := countWorkflows(ctx, t, b.client, fmt.Sprintf("WorkflowType = '%s' OR WorkflowType = '%s'", workflows.WorkflowName, workflows.UnroutedWorkflowName),
		int64(outcomes["run"]+outcomes["unrouted"]))
	if n != int64(outcomes["run"]+outcomes["unrouted"]) {
		t.Errorf("%d runs and records, want %d", n, outcomes["run"]+outcomes["unrouted"])
	}
}

// sameJSON reports whether two JSON documents hold the same values, however they are written (the JSON
// encoder escapes <, > and & in a raw message it writes).
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(va, vb)
}

// stormPlaybook answers T1204.002 with one manual task and needs no input: its runs start and wait, whatever
// the host.
const stormPlaybook = `apiVersion: parry/v1
kind: Playbook
id: test-intake-storm
name: "Test: intake storm"
version: 1
techniques: [T1204.002]
severity: medium
phases:
  - id: triage
    steps:
      - {id: look, action: manual.task, with: {text: "Look at the host"}}
`

func stormAlert(id, host string) []byte {
	b, _ := json.Marshal(map[string]any{"source": "parry", "id": id, "title": "storm " + id, "severity": "medium", "techniques": []string{"T1204.002"}, "host": host})
	return b
}

// TestIntakeStormStartsExactlyOneRunPerAlert: one alert posted 1,000 times at once, then 5,000 alerts (500
// unique, each posted 10 times at once, 200 requests in flight) start exactly one run per unique alert; every
// answer names the alert's own run, exactly one per alert says it started it, none is lost; and an alert
// posted again after its run closed is still a duplicate.
func TestIntakeStormStartsExactlyOneRunPerAlert(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b := newIntakeBench(ctx, t, stormPlaybook)
	base := b.serve(nil)
	url := base + frontdoor.IntakePath
	_, stop := b.startWorker()
	defer stop()

	type tally struct {
		mu        sync.Mutex
		accepted  map[string]int
		answers   int
		failures  []string
		wrongRuns []string
	}
	post := func(tl *tally, id, host string) {
		a, err := postUntilAnswered(ctx, url, stormAlert(id, host), "token")
		tl.mu.Lock()
		defer tl.mu.Unlock()
		switch {
		case err != nil:
			tl.failures = append(tl.failures, err.Error())
		case a.status == http.StatusAccepted:
			tl.accepted[id]++
		case a.status != http.StatusOK || !a.ok.Duplicate:
			tl.failures = append(tl.failures, fmt.Sprintf("%s: %d %s", id, a.status, a.raw))
			return
		}
		if err == nil && a.ok.RunID != "parry-parry-"+id {
			tl.wrongRuns = append(tl.wrongRuns, fmt.Sprintf("%s answered run %s", id, a.ok.RunID))
		}
		tl.answers++
	}

	// One alert, 1,000 requests at once.
	one := &tally{accepted: map[string]int{}}
	var wg sync.WaitGroup
	for range 1000 {
		wg.Add(1)
		go func() { defer wg.Done(); post(one, "storm-single", "storm-host-single") }()
	}
	wg.Wait()
	if one.answers != 1000 || one.accepted["storm-single"] != 1 || len(one.failures) > 0 || len(one.wrongRuns) > 0 {
		t.Fatalf("1,000 at once: %d answers, accepted %v, failures %q, wrong runs %q; want 1,000 answers, one 202", one.answers, one.accepted, one.failures, one.wrongRuns)
	}

	// 500 alerts, each 10 times at once, 200 requests in flight.
	const unique, repeats, inFlight = 500, 10, 200
	storm := &tally{accepted: map[string]int{}}
	jobs := make(chan string)
	for range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range jobs {
				post(storm, id, "storm-host-"+strings.TrimPrefix(id, "storm-"))
			}
		}()
	}
	start := time.Now()
	for i := range unique {
		for range repeats {
			jobs <- fmt.Sprintf("storm-%03d", i)
		}
	}
	close(jobs)
	wg.Wait()
	took := time.Since(start)
	if storm.answers != unique*repeats || len(storm.failures) > 0 || len(storm.wrongRuns) > 0 {
		t.Fatalf("storm: %d answers of %d, failures %q, wrong runs %q", storm.answers, unique*repeats, storm.failures, storm.wrongRuns)
	}
	if len(storm.accepted) != unique {
		t.Errorf("%d alerts accepted, want %d", len(storm.accepted), unique)
	}
	for id, n := range storm.accepted {
		if n != 1 {
			t.Errorf("alert %s was answered 202 %d times", id, n)
		}
	}
	t.Logf("storm: %d requests in %s (%.0f/s)", unique*repeats, took.Round(time.Millisecond), float64(unique*repeats)/took.Seconds())

	// Exactly one run per unique alert, each one the alert's own.
	query := fmt.Sprintf("WorkflowType = '%s' AND ParryPlaybook = 'test-intake-storm'", workflows.WorkflowName)
	if n := countWorkflows(ctx, t, b.client, query, unique+1); n != unique+1 {
		t.Errorf("%d runs of the storm playbook, want %d", n, unique+1)
	}
	for _, id := range []string{"storm-000", "storm-250", "storm-499"} {
		var in workflows.Input
		startInput(ctx, t, b.client, "parry-parry-"+id, &in)
		if in.Alert.ID != id || in.Alert.Host != "storm-host-"+strings.TrimPrefix(id, "storm-") {
			t.Errorf("run parry-parry-%s pins alert %s on %s", id, in.Alert.ID, in.Alert.Host)
		}
	}

	// Closed, and posted again: still a duplicate, nothing new started.
	if err := b.client.TerminateWorkflow(ctx, "parry-parry-storm-007", "", "test: close the run"); err != nil {
		t.Fatal(err)
	}
	if closed, err := runs.Closed(ctx, b.client, "parry-parry-storm-007"); err != nil || !closed {
		t.Fatalf("run closed = %v, %v", closed, err)
	}
	again, err := postIntake(ctx, url, stormAlert("storm-007", "storm-host-007"), "hmac")
	if err != nil || again.status != http.StatusOK || !again.ok.Duplicate || again.ok.RunID != "parry-parry-storm-007" {
		t.Errorf("posted after its run closed: %d %s (%v), want 200 naming parry-parry-storm-007 as a duplicate", again.status, again.raw, err)
	}
	if n := countWorkflows(ctx, t, b.client, query, unique+1); n != unique+1 {
		t.Errorf("%d runs after the closed alert came again, want still %d", n, unique+1)
	}
}

// TestIntakeRefusalsStartNothing: on a live `trigger serve`, each kind of bad request gets its documented
// status and message, and no workflow is started but the unrouted alert's record.
func TestIntakeRefusalsStartNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := newIntakeBench(ctx, t)
	base := b.serve(nil)
	good := []byte(`{"source":"parry","id":"bad-1","severity":"high","techniques":["T1566.001"],"host":"WS-0042","user":"alice"}`)
	header := func(k, v string) func(*http.Request) { return func(r *http.Request) { r.Header.Set(k, v) } }
	sign := func(at time.Time, secret string) func(*http.Request) {
		return func(r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			ts, sig := frontdoor.SignIntake(secret, at, body)
			r.Header.Set(frontdoor.HeaderIntakeTimestamp, ts)
			r.Header.Set(frontdoor.HeaderIntakeSignature, sig)
		}
	}
	token := header("Authorization", "Bearer "+intakeToken)
	for _, tt := range []struct {
		name string
		body []byte
		auth func(*http.Request)
		want int
		says string
	}{
		{"wrong token", good, header("Authorization", "Bearer wrong-token-0123456789"), http.StatusUnauthorized, "wrong bearer token"},
		{"no credentials", good, func(*http.Request) {}, http.StatusUnauthorized, "no credentials"},
		{"bad HMAC", good, sign(time.Now(), "another-secret-0123456789abcdef"), http.StatusUnauthorized, "bad signature"},
		{"stale HMAC", good, sign(time.Now().Add(-10*time.Minute), intakeSecret), http.StatusUnauthorized, "stale signature"},
		{"2 MiB body", append(append([]byte(`{"title":"`), bytes.Repeat([]byte("x"), 2<<20)...), `"}`...), token, http.StatusRequestEntityTooLarge, "over 1048576 bytes"},
		{"truncated JSON", good[:40], token, http.StatusBadRequest, "at byte 40: the JSON ends too early"},
		{"JSON array", append(append([]byte("["), good...), ']'), token, http.StatusUnprocessableEntity, "the body is a JSON array, not an object"},
		{"empty body", nil, token, http.StatusBadRequest, "the body is empty"},
		{"unknown shape", []byte(`{"alarm":"on"}`), token, http.StatusUnprocessableEntity, "matches no known alert format"},
		{"unroutable alert", []byte(`{"source":"parry","id":"bad-u","techniques":["T1598"],"host":"WS-0042"}`), token, http.StatusUnprocessableEntity, "no playbook matches techniques T1598"},
		{"missing required input", []byte(`{"source":"parry","id":"bad-m","techniques":["T1566.001"],"user":"alice"}`), token, http.StatusUnprocessableEntity, "alert has no host"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+frontdoor.IntakePath, bytes.NewReader(tt.body))
			tt.auth(req)
			resp, err := intakeHTTP.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e frontdoor.IntakeError
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatalf("%d: answer not JSON: %v", resp.StatusCode, err)
			}
			if resp.StatusCode != tt.want || !strings.Contains(e.Error, tt.says) {
				t.Errorf("%d %q, want %d saying %q", resp.StatusCode, e.Error, tt.want, tt.says)
			}
		})
	}
	// Still serving, and nothing but the unroutable alert's record was started.
	if a, err := postIntake(ctx, base+frontdoor.IntakePath, good, "token"); err != nil || a.status != http.StatusAccepted {
		t.Fatalf("a good alert after the bad ones: %d %s (%v)", a.status, a.raw, err)
	}
	all := countWorkflows(ctx, t, b.client, fmt.Sprintf("WorkflowType = '%s' OR WorkflowType = '%s'", workflows.WorkflowName, workflows.UnroutedWorkflowName), 2)
	if all != 2 {
		t.Errorf("%d runs and records, want the good alert's run and the unroutable alert's record", all)
	}
	stats, err := http.NewRequestWithContext(ctx, http.MethodGet, base+frontdoor.StatsPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	token(stats)
	resp, err := intakeHTTP.Do(stats)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st frontdoor.IntakeStats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st.Received != 12 || st.Accepted != 1 || st.Unrouted != 1 || st.MissingInput != 1 || st.Unauthorized != 4 || st.ByStatus["401"] != 4 || st.ByStatus["422"] != 4 {
		t.Errorf("stats %+v", st)
	}
}

// TestSendPostsToTheFrontDoor: `trigger send` posts with the HMAC secret or the token, reports a duplicate
// the second time, and exits 2 naming what a refusal said.
func TestSendPostsToTheFrontDoor(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := newIntakeBench(ctx, t)
	base := b.serve(nil)
	sample := filepath.Join("testdata", "alerts", "t1566-001.json")
	for _, tt := range []struct {
		name string
		vars map[string]string
		args []string
		want string
	}{
		{"signed", map[string]string{"PARRY_INTAKE_TOKEN": ""}, []string{"send", sample, "--to", base}, "Accepted: started run parry-parry-demo-phish-0001 (playbook spearphishing-attachment); status " + base + "/v1/runs/parry-parry-demo-phish-0001"},
		{"token, source named", map[string]string{"PARRY_INTAKE_HMAC_SECRET": ""}, []string{"send", sample, "--to", base + "/", "--source", "parry"}, "Duplicate: this alert already has run parry-parry-demo-phish-0001"},
		{"JSON", nil, []string{"send", sample, "--to", base + frontdoor.IntakePath, "--json"}, `"duplicate":true`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env, stdout, stderr := b.env(tt.vars)
			if err := Trigger(ctx, env, tt.args); err != nil {
				t.Fatalf("trigger send: %v\n%s", err, stderr)
			}
			if !strings.Contains(stdout.String(), tt.want) {
				t.Errorf("output %q, want %q", stdout, tt.want)
			}
		})
	}
	bad := filepath.Join(t.TempDir(), "unrouted.json")
	if err := os.WriteFile(bad, []byte(`{"source":"parry","id":"send-u","techniques":["T1598"],"host":"WS-0042"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	env, _, _ := b.env(nil)
	err := Trigger(ctx, env, []string{"send", bad, "--to", base})
	if ExitCode(err) != 2 || !strings.Contains(err.Error(), "422") || !strings.Contains(err.Error(), "T1598") {
		t.Errorf("unroutable: %v (exit %d), want exit 2 with the front door's 422", err, ExitCode(err))
	}
	env, _, _ = b.env(map[string]string{"PARRY_INTAKE_TOKEN": "wrong-token-0123456789", "PARRY_INTAKE_HMAC_SECRET": ""})
	err = Trigger(ctx, env, []string{"send", sample, "--to", base})
	if ExitCode(err) != 2 || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "wrong bearer token") {
		t.Errorf("wrong token: %v (exit %d), want exit 2 with the 401's reason", err, ExitCode(err))
	}
}
