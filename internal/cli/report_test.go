package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/parry-soc/parry/alerts"
	"github.com/parry-soc/parry/approval"
	"github.com/parry-soc/parry/internal/audit"
	"github.com/parry-soc/parry/internal/runs"
	"github.com/parry-soc/parry/playbooks"
	"github.com/parry-soc/parry/workflows"
)

// trigger runs one trigger command in env and returns its standard output and error.
func triggerIn(ctx context.Context, env Env, stdout, stderr *lockedBuffer, args ...string) (string, string, error) {
	err := Trigger(ctx, env, args)
	return stdout.String(), stderr.String(), err
}

// checkHTMLReport parses an HTML report and checks it is one document with one chart and no script.
func checkHTMLReport(t *testing.T, doc string, want ...string) {
	t.Helper()
	root, err := html.Parse(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			count[n.Data]++
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(root)
	if count["svg"] != 1 || count["script"] != 0 || count["html"] != 1 {
		t.Errorf("the report has %d <svg>, %d <script>, %d <html>; want 1, 0, 1", count["svg"], count["script"], count["html"])
	}
	for _, w := range want {
		if !strings.Contains(doc, w) {
			t.Errorf("the HTML report lacks %q", w)
		}
	}
}

// TestReportOnACommittedHistory renders a committed history file offline in both formats: to standard
// output as Markdown, and to a file as HTML (chosen by the .html name).
func TestReportOnACommittedHistory(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(historiesDir, "failure-and-rollback.json")

	env, stdout, stderr := testEnv(t.TempDir(), nil)
	out, errOut, err := triggerIn(ctx, env, stdout, stderr, "report", file)
	if err != nil {
		t.Fatalf("trigger report: %v\n%s", err, errOut)
	}
	for _, want := range []string{"# Incident response report: parry-parry-demo-phish-failure", "## Phases", "## Rollback",
		"undo-isolate-host", "released by rollback", "**false-positive**", "HostNotFound", "Read from | history file failure-and-rollback.json"} {
		if !strings.Contains(out, want) {
			t.Errorf("the Markdown report lacks %q", want)
		}
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "report.html")
	env, stdout, stderr = testEnv(dir, nil)
	if _, errOut, err := triggerIn(ctx, env, stdout, stderr, "report", file, "-o", path); err != nil {
		t.Fatalf("trigger report -o: %v\n%s", err, errOut)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	checkHTMLReport(t, string(b), `id="rollback"`, "undo-isolate-host", "HostNotFound")
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("report written with mode %v, want 0600", fi.Mode().Perm())
	}

	env, stdout, stderr = testEnv(dir, nil)
	if _, _, err := triggerIn(ctx, env, stdout, stderr, "report", file, "--format", "pdf"); ExitCode(err) != 2 {
		t.Errorf("--format pdf: exit %d, want 2", ExitCode(err))
	}
}

// TestReportOnABundle writes an export bundle of a committed history and reports on it offline, then
// changes the history under its manifest: the report still renders, says so, and exits 1.
func TestReportOnABundle(t *testing.T) {
	ctx := context.Background()
	raw, err := os.ReadFile(filepath.Join(historiesDir, "approvals-refused-and-denied.json"))
	if err != nil {
		t.Fatal(err)
	}
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	m := audit.Manifest{Namespace: "default", WorkflowID: "parry-parry-demo-phish-refused", RunID: "run-1", WorkflowType: workflows.WorkflowName,
		Status: "completed", Started: time.Now().UTC(), Closed: time.Now().UTC(), Payloads: audit.PayloadsAsRecorded,
		Playbook: audit.PlaybookInfo{ID: "spearphishing-attachment", Version: 1, SHA256: "c59c"}}
	w, err := audit.WriteBundle(root, &m, raw, key)
	if err != nil {
		t.Fatal(err)
	}

	env, stdout, stderr := testEnv(t.TempDir(), nil)
	out, errOut, err := triggerIn(ctx, env, stdout, stderr, "report", root)
	if err != nil {
		t.Fatalf("trigger report BUNDLE: %v\n%s", err, errOut)
	}
	for _, want := range []string{"Read from | export bundle", "**matches** the history read", "manifest signed with key", "namespace `default`",
		"operator outsider", "no — operator:outsider is not an approver of group containment"} {
		if !strings.Contains(out, want) {
			t.Errorf("the bundle's report lacks %q", want)
		}
	}

	// Whitespace only: the history still reads the same, but its bytes no longer match the manifest's hash.
	// (protojson varies its spacing, so the committed file's is matched, not assumed.)
	tampered := regexp.MustCompile(`"eventId":\s*"2"`).ReplaceAll(raw, []byte(`"eventId" :"2"`))
	if bytes.Equal(tampered, raw) {
		t.Fatal("the tampering changed nothing")
	}
	if err := os.WriteFile(filepath.Join(w.Dir, audit.HistoryFile), tampered, 0o644); err != nil {
		t.Fatal(err)
	}
	env, stdout, stderr = testEnv(t.TempDir(), nil)
	out, errOut, err = triggerIn(ctx, env, stdout, stderr, "report", w.Dir)
	if ExitCode(err) != 1 || !strings.Contains(err.Error(), "does not match the bundle's manifest") {
		t.Errorf("tampered bundle: exit %d (%v), want 1", ExitCode(err), err)
	}
	if !strings.Contains(out, "**does not match** the history read") || !strings.Contains(out, "not the history that was exported") {
		t.Errorf("the tampered bundle's report does not say so:\n%s\n%s", out, errOut)
	}
}

// TestReportOnALiveRun reports on a run while it waits for its first approval (from the status query,
// with its history so far), then once it has closed (from its history), in Markdown and HTML.
func TestReportOnALiveRun(t *testing.T) {
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	srv := startServer(ctx, t, home)
	c := dial(ctx, t, srv)
	env, _, _ := testEnv(home, nil)
	sess := &session{client: c, logger: discardLogger()}
	if err := sess.startWorker(env, true); err != nil {
		t.Fatal(err)
	}
	defer sess.Close()

	tester := newSigner(t, "tester", "*")
	payload, err := os.ReadFile(filepath.Join("testdata", "alerts", "t1566-001.json"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := alerts.Normalize(payload, "")
	if err != nil {
		t.Fatal(err)
	}
	library, err := playbooks.Library()
	if err != nil {
		t.Fatal(err)
	}
	plan, err := runs.PlanFor(a, library, nil)
	if err != nil {
		t.Fatal(err)
	}
	started, err := (&runs.Starter{Client: c, Keys: []approval.Key{tester.key}}).Start(ctx, plan)
	if err != nil {
		t.Fatal(err)
	}
	run := started.RunID
	for {
		res, err := runs.Status(ctx, c, run)
		if err == nil && len(res.Approvals) > 0 && res.Approvals[0].State == workflows.ApprovalOpen {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the run never asked for its first approval")
		}
		time.Sleep(50 * time.Millisecond)
	}

	report := func(args ...string) string {
		t.Helper()
		env, stdout, stderr := testEnv(home, map[string]string{"TEMPORAL_ADDRESS": srv.Address()})
		out, errOut, err := triggerIn(ctx, env, stdout, stderr, append([]string{"report", run}, args...)...)
		if err != nil {
			t.Fatalf("trigger report %s: %v\n%s", run, err, errOut)
		}
		return out
	}
	open := report()
	for _, want := range []string{"Read from | status query of a live run, with its history so far", "▶ running", "… waiting-approval",
		"| `isolate-host` | isolate-host | containment (1) |", "… open", "Ended | not yet"} {
		if !strings.Contains(open, want) {
			t.Errorf("the open run's report lacks %q:\n%s", want, open)
		}
	}
	checkHTMLReport(t, report("--format", "html"), "status query of a live run", "waiting-approval")

	driveScenario(ctx, t, c, run, scenario{name: "report", decide: approveAll}, map[string]signer{"tester": tester})
	closed := report()
	for _, want := range []string{"Read from | history of a closed run", "✓ completed", "namespace `default`", "| 1 | ", "operator tester", "✓ granted"} {
		if !strings.Contains(closed, want) {
			t.Errorf("the closed run's report lacks %q:\n%s", want, closed)
		}
	}
	checkHTMLReport(t, report("--format", "html"), "history of a closed run", `id="steps"`, "memory-dump")
}
