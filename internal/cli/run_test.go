package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/parry-soc/parry/workflows"
)

func TestNewStarterReadsIncidentSettings(t *testing.T) {
	for _, tt := range []struct {
		name              string
		window, threshold string
		wantWindow        time.Duration
		wantThreshold     float64
		wantErr           string
	}{
		{"defaults", "", "", 0, 0, ""},
		{"set", "4h", "20.5", 4 * time.Hour, 20.5, ""},
		{"days", "2d", "", 48 * time.Hour, 0, ""},
		{"window not a duration", "soon", "", 0, 0, `PARRY_INCIDENT_WINDOW="soon": want a positive duration`},
		{"window zero", "0s", "", 0, 0, `PARRY_INCIDENT_WINDOW="0s": want a positive duration`},
		{"threshold not a number", "", "high", 0, 0, `PARRY_INCIDENT_THRESHOLD="high": want a positive number`},
		{"threshold negative", "", "-1", 0, 0, `PARRY_INCIDENT_THRESHOLD="-1": want a positive number`},
		{"threshold infinite", "", "Inf", 0, 0, `PARRY_INCIDENT_THRESHOLD="Inf": want a positive number`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env, _, _ := testEnv(t.TempDir(), map[string]string{"PARRY_INCIDENT_WINDOW": tt.window, "PARRY_INCIDENT_THRESHOLD": tt.threshold})
			s, err := newStarter(env, nil, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.IncidentWindow != tt.wantWindow || s.IncidentThreshold != tt.wantThreshold {
				t.Errorf("window %s threshold %g, want %s %g", s.IncidentWindow, s.IncidentThreshold, tt.wantWindow, tt.wantThreshold)
			}
		})
	}
}

func TestPrintIncidentShowsALedgerAsOne(t *testing.T) {
	at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	id := workflows.LedgerID("user", "alice")
	env, stdout, _ := testEnv(t.TempDir(), nil)
	printIncident(env, workflows.Incident{ID: id, Key: strings.TrimPrefix(id, workflows.IncidentID("")), Opened: at,
		Holds:    []workflows.Hold{{Run: "parry-parry-b", Kind: "user", Target: "alice"}},
		Releases: []workflows.ReleaseNote{{At: at, Run: "parry-parry-a", Kind: "user", Target: "alice", HeldBy: []string{"parry-parry-b"}}}})
	out := stdout.String()
	for _, want := range []string{"Containment ledger " + id + " (a user; the id digests it)", "user alice by parry-parry-b",
		"user alice asked by parry-parry-a: kept: still held by parry-parry-b"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Risk") || strings.Contains(out, "Alerts") {
		t.Errorf("a ledger shown as an incident:\n%s", out)
	}
}
