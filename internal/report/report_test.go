package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden reports in testdata/")

// goldenRuns are the scenario histories (copied from workflows/testdata/histories when these goldens were
// made, so that re-recording those does not move these) and one library run.
var goldenRuns = []string{"approvals-refused-and-denied", "approval-timeout-and-breach", "failure-and-rollback", "library-t1564-001-fallback"}

// openRun is the golden of a run still open: failure-and-rollback before its close.
const openRun = "failure-and-rollback-open"

func timelineOf(t *testing.T, name string) Timeline {
	t.Helper()
	var h *historypb.History
	if name == openRun {
		h = openFailedRun(t)
	} else {
		h = readCommitted(t, name)
	}
	tl, err := FromHistory(h, converter.GetDefaultDataConverter())
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

// TestGoldenReports renders each golden run as Markdown and HTML and compares with testdata/<run>.md and
// .html; -update rewrites them.
func TestGoldenReports(t *testing.T) {
	for _, name := range append(goldenRuns, openRun) {
		for _, format := range []struct {
			ext    string
			render func(*bytes.Buffer, Timeline) error
		}{
			{"md", func(b *bytes.Buffer, tl Timeline) error { return Markdown(b, tl) }},
			{"html", func(b *bytes.Buffer, tl Timeline) error { return HTML(b, tl) }},
		} {
			t.Run(name+"."+format.ext, func(t *testing.T) {
				var got bytes.Buffer
				if err := format.render(&got, timelineOf(t, name)); err != nil {
					t.Fatal(err)
				}
				golden := filepath.Join("testdata", name+"."+format.ext)
				if *updateGolden {
					if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				if !bytes.Equal(got.Bytes(), want) {
					t.Errorf("%s differs from the rendering (run with -update to accept it):\n%s", golden, lineDiff(string(want), got.String()))
				}
			})
		}
	}
}

// TestReportShowsRefusalsBreachAndRollback checks the acceptance: a report shows the refused and
// the granted approval attempts, the budget breach and the rollback of the runs that had them.
func TestReportShowsRefusalsBreachAndRollback(t *testing.T) {
	for _, tt := range []struct {
		run  string
		want []string
	}{
		{"approvals-refused-and-denied", []string{
			"operator outsider", "⊘ refused", "no — operator:outsider is not an approver of group containment",
			"operator tester", "✓ granted", "yes — decided it", "⊘ denied", "denied by operator:tester",
		}},
		{"approval-timeout-and-breach", []string{
			"⚠ BREACHED at 2026-11-26T19:45:09.068Z", "⌛ timed-out", "approval disable-user timed out after 1s",
			"phase immediate exceeded its 2s budget",
		}},
		{"failure-and-rollback", []string{
			"## Rollback", "undo-isolate-host", "`edr.release_host`", "released by rollback",
			"HostNotFound: edr.isolate\\_host: host \"WS-9999\" not found", "**false-positive**",
			"Closed by operator tester", "benign macro test by IT",
		}},
	} {
		t.Run(tt.run, func(t *testing.T) {
			var b bytes.Buffer
			if err := Markdown(&b, timelineOf(t, tt.run)); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("the report lacks %q", w)
				}
			}
		})
	}
}

// TestEveryCommittedHistoryRenders reads every history the interpreter's replay test holds — re-recorded
// as the interpreter changes, unlike the copies the goldens use — and renders it in both formats.
func TestEveryCommittedHistoryRenders(t *testing.T) {
	files, err := filepath.Glob("../../workflows/testdata/histories/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no histories: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			tl, err := Open(f, converter.GetDefaultDataConverter())
			if err != nil {
				t.Fatal(err)
			}
			if tl.Reconstructed || len(tl.Steps) == 0 || tl.Run.Ended.IsZero() {
				t.Errorf("reconstructed %v, %d steps, ended %v: want the closed run's result", tl.Reconstructed, len(tl.Steps), tl.Run.Ended)
			}
			var md bytes.Buffer
			if err := Markdown(&md, tl); err != nil {
				t.Fatal(err)
			}
			doc, raw := parseReport(t, tl)
			checkSelfContained(t, doc, raw)
		})
	}
}
