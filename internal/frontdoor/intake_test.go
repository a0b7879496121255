package frontdoor_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parry-soc/parry/alerts"
	"github.com/parry-soc/parry/internal/frontdoor"
	"github.com/parry-soc/parry/internal/runs"
	"github.com/parry-soc/parry/playbooks"
	"github.com/parry-soc/parry/workflows"
)

const (
	testToken  = "intake-token-0123456789abcdef"
	testSecret = "intake-hmac-secret-0123456789abcdef"
)

// fakeStarter behaves like Temporal with Parry's start options: the first start of a workflow id starts it,
// every later one (running or closed) is a duplicate. It counts what reached it.
type fakeStarter struct {
	mu       sync.Mutex
	started  map[string]int // workflow id → calls
	unrouted map[string]int
	delay    time.Duration
	block    chan struct{} // when set, starts wait for it
	err      error
	calls    atomic.Int64
}

func newFakeStarter() *fakeStarter {
	return &fakeStarter{started: map[string]int{}, unrouted: map[string]int{}}
}

func (f *fakeStarter) Start(ctx context.Context, p runs.Plan) (runs.Started, error) {
	f.calls.Add(1)
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return runs.Started{}, ctx.Err()
		}
	}
	time.Sleep(f.delay)
	if f.err != nil {
		return runs.Started{}, f.err
	}
	id := workflows.RunID(p.Alert.Source, p.Alert.ID)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started[id]++
	return runs.Started{RunID: id, Playbook: p.Playbook.ID, Duplicate: f.started[id] > 1}, nil
}

func (f *fakeStarter) RecordUnrouted(ctx context.Context, a alerts.Alert, reason string) (runs.Started, error) {
	id := workflows.UnroutedID(a.Source, a.ID)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unrouted[id]++
	return runs.Started{RunID: id, Duplicate: f.unrouted[id] > 1}, nil
}

// runsStarted counts the workflow ids that started (not the duplicate attempts).
func (f *fakeStarter) runsStarted() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.started)
}

type fakeRunReader map[string]frontdoor.RunView

func (f fakeRunReader) Run(_ context.Context, id string) (frontdoor.RunView, error) {
	if id == "parry-parry-broken" {
		return frontdoor.RunView{}, errors.New("no worker answered the status query")
	}
	v, ok := f[id]
	if !ok {
		return v, frontdoor.ErrNoRun
	}
	return v, nil
}

func library(t *testing.T) []*playbooks.Playbook {
	t.Helper()
	lib, err := playbooks.Library()
	if err != nil {
		t.Fatal(err)
	}
	return lib
}

// newIntake serves an intake with cfg's credentials (and a fake starter unless cfg has one) on a loopback
// test server, behind a front door with its default 1 MiB body limit.
func newIntake(t *testing.T, cfg frontdoor.IntakeConfig) (*frontdoor.Intake, *fakeStarter, string) {
	t.Helper()
	fake, _ := cfg.Starter.(*fakeStarter)
	if cfg.Starter == nil {
		fake = newFakeStarter()
		cfg.Starter = fake
	}
	if cfg.Library == nil {
		cfg.Library = library(t)
	}
	if cfg.Runs == nil {
		cfg.Runs = fakeRunReader{"parry-parry-a1": {Result: workflows.Result{RunID: "parry-parry-a1", State: workflows.StateRunning}, WorkflowStatus: "running"}}
	}
	cfg.Logger = quiet()
	in, err := frontdoor.NewIntake(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := frontdoor.New(frontdoor.Config{Logger: quiet()})
	in.Register(s)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return in, fake, ts.URL
}

func alertJSON(id, host string, techniques ...string) string {
	b, _ := json.Marshal(map[string]any{"source": "parry", "id": id, "title": "test alert " + id, "severity": "high", "techniques": techniques, "host": host, "user": "alice"})
	return string(b)
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func do(t *testing.T, method, url, body string, headers map[string]string) answer {
	t.Helper()
	a, err := send(method, url, body, headers)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// send is do for goroutines other than the test's: it returns what went wrong.
func send(method, url, body string, headers map[string]string) (answer, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		return a, fmt.Errorf("%s %s: answer %d is not JSON: %q", method, url, resp.StatusCode, raw)
	}
	return a, nil
}

func bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

func signed(secret string, at time.Time, body string) map[string]string {
	ts, sig := frontdoor.SignIntake(secret, at, []byte(body))
	return map[string]string{frontdoor.HeaderIntakeTimestamp: ts, frontdoor.HeaderIntakeSignature: sig}
}

// TestIntakeAuthentication: a bearer token or an HMAC signature, either when both are configured; every
// other request is answered 401 saying what was wrong, with a challenge per scheme, never echoing a secret,
// and starts nothing.
func TestIntakeAuthentication(t *testing.T) {
	body := alertJSON("auth-1", "WS-0042", "T1566.001")
	now := time.Now()
	for _, tt := range []struct {
		name       string
		token      string
		secret     string
		headers    map[string]string
		want       int
		wantError  string
		challenges []string
	}{
		{"token", testToken, "", bearer(testToken), http.StatusAccepted, "", nil},
		{"token, scheme in lower case", testToken, "", map[string]string{"Authorization": "bearer " + testToken}, http.StatusAccepted, "", nil},
		{"signature", "", testSecret, signed(testSecret, now, body), http.StatusAccepted, "", nil},
		{"both configured, token", testToken, testSecret, bearer(testToken), http.StatusAccepted, "", nil},
		{"both configured, signature", testToken, testSecret, signed(testSecret, now, body), http.StatusAccepted, "", nil},
		{"signature 4 minutes old", "", testSecret, signed(testSecret, now.Add(-4*time.Minute), body), http.StatusAccepted, "", nil},

		{"no credentials", testToken, testSecret, nil, http.StatusUnauthorized, "no credentials: send Authorization: Bearer <PARRY_INTAKE_TOKEN>, or sign the request",
			[]string{`Bearer realm="parry-intake"`, `Parry-HMAC realm="parry-intake", headers="X-Parry-Timestamp X-Parry-Signature"`}},
		{"wrong token", testToken, "", bearer("not-the-token-0123456789"), http.StatusUnauthorized, "wrong bearer token",
			[]string{`Bearer realm="parry-intake", error="invalid_token"`}},
		{"token prefix of the right one", testToken, "", bearer(testToken[:20]), http.StatusUnauthorized, "wrong bearer token", nil},
		{"basic auth", testToken, "", map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}, http.StatusUnauthorized, "not a bearer token", nil},
		{"token where only signatures are taken", "", testSecret, bearer(testToken), http.StatusUnauthorized, "takes no bearer token", nil},
		{"signature where only tokens are taken", testToken, "", signed(testSecret, now, body), http.StatusUnauthorized, "takes no signed requests", nil},
		{"signature with another secret", "", testSecret, signed("another-secret-0123456789abcdef", now, body), http.StatusUnauthorized, "bad signature: X-Parry-Signature does not match", nil},
		{"signature of another body", "", testSecret, signed(testSecret, now, body+" "), http.StatusUnauthorized, "bad signature", nil},
		{"stale signature", "", testSecret, signed(testSecret, now.Add(-6*time.Minute), body), http.StatusUnauthorized, "stale signature: X-Parry-Timestamp is 6m", nil},
		{"signature from the future", "", testSecret, signed(testSecret, now.Add(6*time.Minute), body), http.StatusUnauthorized, "stale signature", nil},
		{"signature without timestamp", "", testSecret, map[string]string{frontdoor.HeaderIntakeSignature: signed(testSecret, now, body)[frontdoor.HeaderIntakeSignature]}, http.StatusUnauthorized, "missing X-Parry-Timestamp", nil},
		{"timestamp without signature", "", testSecret, map[string]string{frontdoor.HeaderIntakeTimestamp: fmt.Sprint(now.Unix())}, http.StatusUnauthorized, "missing X-Parry-Signature", nil},
		{"timestamp not a number", "", testSecret, map[string]string{frontdoor.HeaderIntakeTimestamp: "yesterday", frontdoor.HeaderIntakeSignature: "sha256=00"}, http.StatusUnauthorized, "not a Unix time", nil},
		{"signature without sha256=", "", testSecret, func() map[string]string {
			h := signed(testSecret, now, body)
			h[frontdoor.HeaderIntakeSignature] = strings.TrimPrefix(h[frontdoor.HeaderIntakeSignature], "sha256=")
			return h
		}(), http.StatusUnauthorized, "must be sha256=<hex digest>", nil},
		{"wrong token, good signature", testToken, testSecret, func() map[string]string {
			h := signed(testSecret, now, body)
			h["Authorization"] = "Bearer nope"
			return h
		}(), http.StatusAccepted, "", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, fake, base := newIntake(t, frontdoor.IntakeConfig{Token: tt.token, HMACSecret: tt.secret})
			got := do(t, http.MethodPost, base+frontdoor.IntakePath, body, tt.headers)
			if got.status != tt.want {
				t.Fatalf("status %d %s, want %d", got.status, got.raw, tt.want)
			}
			if tt.want != http.StatusUnauthorized {
				if got.body["run_id"] != "parry-parry-auth-1" {
					t.Errorf("answer %s, want run parry-parry-auth-1", got.raw)
				}
				return
			}
			if msg, _ := got.body["error"].(string); !strings.Contains(msg, tt.wantError) {
				t.Errorf("error %q, want it to contain %q", msg, tt.wantError)
			}
			for _, secret := range []string{testToken, testSecret} {
				if strings.Contains(got.raw, secret) {
					t.Errorf("the answer leaks a secret: %s", got.raw)
				}
			}
			if tt.challenges != nil {
				if ch := got.header.Values("WWW-Authenticate"); strings.Join(ch, "|") != strings.Join(tt.challenges, "|") {
					t.Errorf("WWW-Authenticate %q, want %q", ch, tt.challenges)
				}
			} else if len(got.header.Values("WWW-Authenticate")) == 0 {
				t.Error("401 without WWW-Authenticate")
			}
			if n := fake.calls.Load(); n != 0 {
				t.Errorf("an unauthenticated request reached the starter %d times", n)
			}
		})
	}
}

// TestDevIntakeAnswersLoopbackOnly: with no credentials configured, --dev takes alerts from loopback callers
// only; outside dev there is no intake at all.
func TestDevIntakeAnswersLoopbackOnly(t *testing.T) {
	if _, err := frontdoor.NewIntake(frontdoor.IntakeConfig{Starter: newFakeStarter()}); err == nil ||
		!strings.Contains(err.Error(), "PARRY_INTAKE_TOKEN") || !strings.Contains(err.Error(), "PARRY_INTAKE_HMAC_SECRET") {
		t.Errorf("NewIntake without credentials = %v, want an error naming both settings", err)
	}
	if _, err := frontdoor.NewIntake(frontdoor.IntakeConfig{Starter: newFakeStarter(), Token: "short"}); err == nil || !strings.Contains(err.Error(), "fewer than 16") {
		t.Errorf("NewIntake with a 5-character token = %v, want it refused", err)
	}

	in, fake, base := newIntake(t, frontdoor.IntakeConfig{Dev: true})
	if got := do(t, http.MethodPost, base+frontdoor.IntakePath, alertJSON("dev-1", "WS-0042", "T1566.001"), nil); got.status != http.StatusAccepted {
		t.Errorf("loopback caller: %d %s, want 202", got.status, got.raw)
	}
	s := frontdoor.New(frontdoor.Config{Logger: quiet()})
	in.Register(s)
	for _, tt := range []struct{ name, remote, host string }{
		{"remote caller", "203.0.113.9:40000", "127.0.0.1:8080"},
		{"rebound host name", "127.0.0.1:40000", "attacker.example:8080"},
	} {
		req := httptest.NewRequest(http.MethodPost, "http://"+tt.host+frontdoor.IntakePath, strings.NewReader(alertJSON("dev-2", "WS-0042", "T1566.001")))
		req.RemoteAddr = tt.remote
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "loopback callers only") {
			t.Errorf("%s: %d %s, want 403 saying loopback only", tt.name, rec.Code, rec.Body)
		}
	}
	if fake.runsStarted() != 1 {
		t.Errorf("runs started = %d, want only the loopback caller's", fake.runsStarted())
	}
}

// TestIntakeRefusesBadInput: each kind of bad request gets its status and a message saying what, where and
// how to fix it; nothing is started and nothing panics.
func TestIntakeRefusesBadInput(t *testing.T) {
	in, fake, base := newIntake(t, frontdoor.IntakeConfig{Token: testToken})
	auth := bearer(testToken)
	for _, tt := range []struct {
		name   string
		method string
		path   string
		body   string
		want   int
		says   []string
		check  func(t *testing.T, body map[string]any)
	}{
		{"2 MiB body", http.MethodPost, frontdoor.IntakePath, `{"source":"parry","title":"` + strings.Repeat("x", 2<<20) + `"}`, http.StatusRequestEntityTooLarge,
			[]string{"over 1048576 bytes (1 MiB)", "one alert per request"}, nil},
		{"truncated JSON", http.MethodPost, frontdoor.IntakePath, `{"source":"parry","id":"t1","techniques":["T1566.001"`, http.StatusBadRequest,
			[]string{"at byte 53", "ends too early", "truncated"}, func(t *testing.T, b map[string]any) {
				if b["offset"] != 53.0 {
					t.Errorf("offset %v, want 53 (the end of the body)", b["offset"])
				}
			}},
		{"invalid JSON", http.MethodPost, frontdoor.IntakePath, `{"source": parry}`, http.StatusBadRequest, []string{"at byte 12", "invalid JSON"}, nil},
		{"JSON array", http.MethodPost, frontdoor.IntakePath, "[" + alertJSON("a1", "WS-0042", "T1566.001") + "]", http.StatusUnprocessableEntity,
			[]string{"the body is a JSON array, not an object", "one alert per request"}, nil},
		{"empty body", http.MethodPost, frontdoor.IntakePath, "", http.StatusBadRequest, []string{"the body is empty", "send one alert as a JSON object"}, nil},
		{"unknown shape", http.MethodPost, frontdoor.IntakePath, `{"hello":"world"}`, http.StatusUnprocessableEntity,
			[]string{"matches no known alert format (tried defender, elastic", "name the format"}, nil},
		{"unknown source", http.MethodPost, frontdoor.IntakePath + "/qradar", alertJSON("a1", "WS-0042", "T1566.001"), http.StatusNotFound,
			[]string{`unknown alert source "qradar"`, "/v1/alerts/{source} with one of defender, elastic"}, func(t *testing.T, b map[string]any) {
				if s, _ := b["sources"].([]any); len(s) != len(alerts.Formats()) {
					t.Errorf("sources %v, want the %d formats", b["sources"], len(alerts.Formats()))
				}
			}},
		{"source forced, payload lacks its fields", http.MethodPost, frontdoor.IntakePath + "/wazuh", `{"id":"a1","agent":{"name":"WS-0042"}}`, http.StatusUnprocessableEntity,
			[]string{"wazuh alert: has no rule.level and rule.id", "or name its real source"}, nil},
		{"source forced, payload has another format's shape", http.MethodPost, frontdoor.IntakePath + "/wazuh", alertJSON("a1", "WS-0042", "T1566.001"), http.StatusUnprocessableEntity,
			[]string{"wazuh alert: named as the source, but the payload has the parry format's shape", "name parry as the source"}, nil},
		{"field of the wrong type", http.MethodPost, frontdoor.IntakePath, `{"source":"parry","id":"a1","severity":"urgent","techniques":["T1566.001"]}`, http.StatusUnprocessableEntity,
			[]string{"field severity", `"urgent" is not a severity`, "use one of low, medium, high, critical"}, func(t *testing.T, b map[string]any) {
				if b["field"] != "severity" {
					t.Errorf("field %v, want severity", b["field"])
				}
			}},
		{"unroutable alert", http.MethodPost, frontdoor.IntakePath, alertJSON("u1", "WS-0042", "T1598"), http.StatusUnprocessableEntity,
			[]string{"no playbook matches techniques T1598 (tactics reconnaissance)", "recorded as parry-unrouted-parry-u1", "no run started"}, func(t *testing.T, b map[string]any) {
				if ts, _ := b["techniques"].([]any); len(ts) != 1 || ts[0] != "T1598" {
					t.Errorf("techniques %v, want [T1598]", b["techniques"])
				}
				if ts, _ := b["tactics"].([]any); len(ts) != 1 || ts[0] != "reconnaissance" {
					t.Errorf("tactics %v, want [reconnaissance]", b["tactics"])
				}
				if b["record_id"] != "parry-unrouted-parry-u1" {
					t.Errorf("record_id %v", b["record_id"])
				}
			}},
		{"missing required input", http.MethodPost, frontdoor.IntakePath, `{"source":"parry","id":"m1","severity":"high","techniques":["T1566.001"],"user":"alice"}`, http.StatusUnprocessableEntity,
			[]string{"alert has no host (alert.host), which playbook spearphishing-attachment requires as input host", "send the alert with that field set"}, func(t *testing.T, b map[string]any) {
				if b["field"] != "host" || b["playbook"] != "spearphishing-attachment" || b["input"] != "host" {
					t.Errorf("field %v playbook %v input %v, want host, spearphishing-attachment, host", b["field"], b["playbook"], b["input"])
				}
			}},
		{"GET on alerts", http.MethodGet, frontdoor.IntakePath, "", http.StatusMethodNotAllowed, []string{"method GET is not allowed on /v1/alerts: use POST"}, nil},
		{"PUT on a source", http.MethodPut, frontdoor.IntakePath + "/parry", "{}", http.StatusMethodNotAllowed, []string{"use POST"}, nil},
		{"POST on a run", http.MethodPost, frontdoor.RunsPath + "/parry-parry-a1", "{}", http.StatusMethodNotAllowed, []string{"use GET"}, nil},
		{"unknown run", http.MethodGet, frontdoor.RunsPath + "/parry-parry-nope", "", http.StatusNotFound, []string{`no run "parry-parry-nope"`}, nil},
		{"run whose status cannot be read", http.MethodGet, frontdoor.RunsPath + "/parry-parry-broken", "", http.StatusServiceUnavailable, []string{"no worker answered", "retry"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := do(t, tt.method, base+tt.path, tt.body, auth)
			if got.status != tt.want {
				t.Fatalf("status %d %s, want %d", got.status, got.raw, tt.want)
			}
			msg, _ := got.body["error"].(string)
			for _, s := range tt.says {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not say %q", msg, s)
				}
			}
			if ct := got.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			if tt.want == http.StatusMethodNotAllowed && got.header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
			if tt.check != nil {
				tt.check(t, got.body)
			}
		})
	}
	if n := fake.calls.Load(); n != 0 {
		t.Errorf("bad input reached Start %d times, want never", n)
	}
	// The unroutable alert was recorded once and counted; sent again it is recorded no further.
	do(t, http.MethodPost, base+frontdoor.IntakePath, alertJSON("u1", "WS-0042", "T1598"), auth)
	st := in.Stats()
	if fake.unrouted["parry-unrouted-parry-u1"] != 2 || st.Unrouted != 2 || st.MissingInput != 1 {
		t.Errorf("record calls %v, stats %+v: want the unrouted alert recorded (once, then a duplicate) and counted twice", fake.unrouted, st)
	}
	for status, n := range map[string]int64{"400": 3, "404": 2, "405": 3, "413": 1, "422": 8, "503": 1} {
		if st.ByStatus[status] != n {
			t.Errorf("by_status[%s] = %d, want %d (all %v)", status, st.ByStatus[status], n, st.ByStatus)
		}
	}
}

// TestIntakeAcceptsAndReportsDuplicates: the first POST of an alert starts its run (202), a repeat names
// the same run as a duplicate (200); the answer links the status URL, which shows the run.
func TestIntakeAcceptsAndReportsDuplicates(t *testing.T) {
	in, fake, base := newIntake(t, frontdoor.IntakeConfig{Token: testToken})
	auth := bearer(testToken)
	body := alertJSON("a1", "WS-0042.corp.example.com", "T1566.001")
	first := do(t, http.MethodPost, base+frontdoor.IntakePath, body, auth)
	want := map[string]any{"run_id": "parry-parry-a1", "playbook": "spearphishing-attachment", "duplicate": false, "status_url": "/v1/runs/parry-parry-a1", "incident": "parry-incident-ws-0042"}
	if first.status != http.StatusAccepted || fmt.Sprint(first.body) != fmt.Sprint(want) {
		t.Errorf("first: %d %v, want 202 %v", first.status, first.body, want)
	}
	if loc := first.header.Get("Location"); loc != "/v1/runs/parry-parry-a1" {
		t.Errorf("Location %q", loc)
	}
	again := do(t, http.MethodPost, base+frontdoor.IntakePath+"/parry", body, auth)
	want["duplicate"] = true
	if again.status != http.StatusOK || fmt.Sprint(again.body) != fmt.Sprint(want) {
		t.Errorf("again: %d %v, want 200 %v", again.status, again.body, want)
	}
	run := do(t, http.MethodGet, base+first.body["status_url"].(string), "", auth)
	if run.status != http.StatusOK || run.body["run_id"] != "parry-parry-a1" || run.body["workflow_status"] != "running" {
		t.Errorf("GET status_url: %d %s", run.status, run.raw)
	}
	if got := do(t, http.MethodGet, base+first.body["status_url"].(string), "", nil); got.status != http.StatusUnauthorized {
		t.Errorf("GET status_url without credentials: %d, want 401", got.status)
	}
	stats := do(t, http.MethodGet, base+frontdoor.StatsPath, "", auth)
	if stats.body["accepted"] != 1.0 || stats.body["duplicates"] != 1.0 || stats.body["received"] != 2.0 {
		t.Errorf("stats %s", stats.raw)
	}
	if fake.runsStarted() != 1 || in.Stats().Unauthorized != 1 {
		t.Errorf("runs started %d, stats %+v", fake.runsStarted(), in.Stats())
	}
}

// TestIntakeStormStartsOneRunPerAlert: 50 alerts each posted 20 times at once start 50 runs; exactly one
// answer per alert is 202, every answer names the alert's own run, and concurrent repeats share one start.
func TestIntakeStormStartsOneRunPerAlert(t *testing.T) {
	fake := newFakeStarter()
	fake.delay = 20 * time.Millisecond
	_, _, base := newIntake(t, frontdoor.IntakeConfig{Token: testToken, Starter: fake})
	const unique, repeats = 50, 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := map[string]int{}
	for i := range unique * repeats {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("storm-%d", i%unique)
			got, err := send(http.MethodPost, base+frontdoor.IntakePath, alertJSON(id, fmt.Sprintf("host-%d", i%unique), "T1566.001"), bearer(testToken))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Error(err)
				return
			}
			if got.body["run_id"] != "parry-parry-"+id {
				t.Errorf("alert %s answered %d %s", id, got.status, got.raw)
			}
			if got.status == http.StatusAccepted {
				accepted[id]++
			} else if got.status != http.StatusOK || got.body["duplicate"] != true {
				t.Errorf("alert %s answered %d %s, want 202 or a 200 duplicate", id, got.status, got.raw)
			}
		}()
	}
	wg.Wait()
	if fake.runsStarted() != unique || len(accepted) != unique {
		t.Errorf("runs started %d, alerts accepted %d, want %d", fake.runsStarted(), len(accepted), unique)
	}
	for id, n := range accepted {
		if n != 1 {
			t.Errorf("alert %s accepted %d times", id, n)
		}
	}
	if calls := fake.calls.Load(); calls >= unique*repeats {
		t.Errorf("%d starts reached Temporal for %d requests: concurrent repeats did not share", calls, unique*repeats)
	}
}

// TestIntakeAnswers503WhenSaturatedOrTemporalFails: with every start slot busy past the queue wait, or
// Temporal failing, the answer is 503 with Retry-After, and a retry later succeeds.
func TestIntakeAnswers503WhenSaturatedOrTemporalFails(t *testing.T) {
	fake := newFakeStarter()
	fake.block = make(chan struct{})
	in, _, base := newIntake(t, frontdoor.IntakeConfig{Token: testToken, Starter: fake, MaxStarts: 1, StartQueue: 100 * time.Millisecond})
	first := make(chan answer, 1)
	go func() {
		a, err := send(http.MethodPost, base+frontdoor.IntakePath, alertJSON("s1", "WS-0042", "T1566.001"), bearer(testToken))
		if err != nil {
			a.raw = err.Error()
		}
		first <- a
	}()
	for in.Stats().StartsInFlight == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	got := do(t, http.MethodPost, base+frontdoor.IntakePath, alertJSON("s2", "WS-0042", "T1566.001"), bearer(testToken))
	if got.status != http.StatusServiceUnavailable || got.header.Get("Retry-After") != "1" || !strings.Contains(got.body["error"].(string), "limit of 1 starts in flight") {
		t.Errorf("saturated: %d %s (Retry-After %q), want 503 with Retry-After", got.status, got.raw, got.header.Get("Retry-After"))
	}
	close(fake.block)
	if a := <-first; a.status != http.StatusAccepted {
		t.Errorf("the request holding the slot: %d %s", a.status, a.raw)
	}
	if got := do(t, http.MethodPost, base+frontdoor.IntakePath, alertJSON("s2", "WS-0042", "T1566.001"), bearer(testToken)); got.status != http.StatusAccepted {
		t.Errorf("retry: %d %s, want 202", got.status, got.raw)
	}

	fake.err = errors.New("connection refused")
	got = do(t, http.MethodPost, base+frontdoor.IntakePath, alertJSON("s3", "WS-0042", "T1566.001"), bearer(testToken))
	if got.status != http.StatusServiceUnavailable || got.header.Get("Retry-After") == "" || !strings.Contains(got.body["error"].(string), "retrying is safe") {
		t.Errorf("Temporal failing: %d %s, want 503 with Retry-After", got.status, got.raw)
	}
	if st := in.Stats(); st.Saturated != 1 || st.ByStatus["503"] != 2 {
		t.Errorf("stats %+v", st)
	}
}

// TestIntakeAsksWhetherTheRunExistsFirst: with Exists set, a repeat of an alert whose run exists is a
// duplicate without a start; an unknown run, or a check that fails, goes on to the start, which decides.
func TestIntakeAsksWhetherTheRunExistsFirst(t *testing.T) {
	exists := func(_ context.Context, id string) (bool, error) {
		switch id {
		case "parry-parry-known":
			return true, nil
		case "parry-parry-flaky":
			return false, errors.New("unavailable")
		}
		return false, nil
	}
	_, fake, base := newIntake(t, frontdoor.IntakeConfig{Token: testToken, Exists: exists})
	for _, tt := range []struct {
		id     string
		status int
		starts int64
	}{
		{"known", http.StatusOK, 0},
		{"new", http.StatusAccepted, 1},
		{"flaky", http.StatusAccepted, 2},
	} {
		got := do(t, http.MethodPost, base+frontdoor.IntakePath, alertJSON(tt.id, "WS-0042", "T1566.001"), bearer(testToken))
		if got.status != tt.status || got.body["run_id"] != "parry-parry-"+tt.id || fake.calls.Load() != tt.starts {
			t.Errorf("%s: %d %s after %d starts, want %d after %d", tt.id, got.status, got.raw, fake.calls.Load(), tt.status, tt.starts)
		}
	}
}
