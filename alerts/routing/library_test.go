package routing

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/parry-soc/parry/alerts"
	"github.com/parry-soc/parry/expr"
	"github.com/parry-soc/parry/playbooks"
)

// library loads the playbook library the project ships, validated.
func library(t *testing.T) []*playbooks.Playbook {
	t.Helper()
	lib, err := playbooks.Library()
	if err != nil {
		t.Fatalf("library: %v", err)
	}
	return lib
}

// TestRouteSamplesAgainstLibrary routes the sample alerts through the real library: the Parry phishing
// sample reaches the spearphishing playbook, the Defender sample (T1564.001, which has no playbook of its
// own) reaches the endpoint fallback by its tactic, and both have every input their playbook requires.
func TestRouteSamplesAgainstLibrary(t *testing.T) {
	lib := library(t)
	for _, tt := range []struct {
		sample      string
		want        string
		specificity string
	}{
		{"parry-spearphishing-attachment.json", "spearphishing-attachment", BySubTechnique},
		{"microsoft-defender-graph-alert-v2.json", "generic-endpoint-triage", ByTactic},
	} {
		t.Run(tt.sample, func(t *testing.T) {
			payload, err := os.ReadFile(filepath.Join("..", "testdata", tt.sample))
			if err != nil {
				t.Fatal(err)
			}
			a, err := alerts.Normalize(payload, "")
			if err != nil {
				t.Fatal(err)
			}
			r, err := Route(a, lib)
			if err != nil {
				t.Fatal(err)
			}
			if r.Playbook.ID != tt.want || r.Specificity != tt.specificity {
				t.Errorf("routed to %s (%s), want %s (%s)", r.Playbook.ID, r.Specificity, tt.want, tt.specificity)
			}
			if _, err := ResolveInputs(r.Playbook, a); err != nil {
				t.Errorf("ResolveInputs: %v", err)
			}
		})
	}
}

// TestLibraryAnswersEachTechnique routes an alert for each technique the library promises to the playbook
// written for it.
func TestLibraryAnswersEachTechnique(t *testing.T) {
	lib := library(t)
	ids := map[string]string{}
	for _, p := range lib {
		if other, dup := ids[p.ID]; dup {
			t.Errorf("playbook id %s is used by %s and %s", p.ID, other, p.Source)
		}
		ids[p.ID] = p.Source
	}
	for _, tt := range []struct {
		technique string
		want      string
	}{
		{"T1566.001", "spearphishing-attachment"},
		{"T1190", "exploit-public-facing-application"},
		{"T1078", "valid-accounts"},
		{"T1078.002", "valid-accounts"}, // domain accounts: the parent's playbook
		{"T1078.003", "local-accounts"},
		{"T1059.001", "powershell"},
		{"T1053.005", "scheduled-task"},
		{"T1547.001", "registry-run-keys-startup-folder"},
		{"T1021.001", "remote-desktop-protocol"},
		{"T1550.002", "pass-the-hash"},
		{"T1203", "exploitation-for-client-execution"},
		{"T1564.001", "generic-endpoint-triage"},
		{"T1003.001", "generic-endpoint-triage"}, // credential access
	} {
		t.Run(tt.technique, func(t *testing.T) {
			r, err := Route(alerts.Alert{ID: "t", Severity: "high", Techniques: []string{tt.technique}}, lib)
			if err != nil {
				t.Fatal(err)
			}
			if r.Playbook.ID != tt.want {
				t.Errorf("routed to %s (%s), want %s", r.Playbook.ID, r.Specificity, tt.want)
			}
		})
	}
}

// TestLibraryConditionsEvaluate evaluates every when: of the library as runs will see it: with and without
// an alert severity, and with every earlier step skipped (empty output) or succeeded with a verdict. A
// condition that errors instead of deciding would stop a run, so each must yield a boolean in all of them.
func TestLibraryConditionsEvaluate(t *testing.T) {
	for _, p := range library(t) {
		for _, a := range []alerts.Alert{
			{ID: "a", Source: "parry", Host: "WS-0042", Techniques: []string{"T1078"}},
			{ID: "a", Source: "parry", Host: "WS-0042", Severity: "high", Techniques: []string{"T1078"}},
		} {
			for _, status := range []string{"skipped", "succeeded"} {
				steps := map[string]any{}
				p.Walk(func(_ *playbooks.Phase, s *playbooks.Step) {
					out := map[string]any{}
					if status == "succeeded" {
						out = map[string]any{"verdict": "malicious"}
					}
					steps[s.ID] = map[string]any{"status": status, "output": out}
				})
				p.Walk(func(_ *playbooks.Phase, s *playbooks.Step) {
					if s.When == "" {
						return
					}
					prg, err := expr.CompileBool(s.When)
					if err != nil {
						t.Fatalf("%s step %s: %v", p.ID, s.ID, err)
					}
					if _, err := prg.EvalBool(&expr.Vars{Alert: a, Inputs: map[string]any{}, Steps: steps, Run: map[string]any{}}); err != nil {
						t.Errorf("%s step %s (severity %q, steps %s): %v", p.ID, s.ID, a.Severity, status, err)
					}
				})
			}
		}
	}
}
