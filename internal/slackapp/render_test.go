package slackapp

import (
	"strings"
	"testing"
	"time"

	"github.com/parry-soc/parry/attack"
	"github.com/parry-soc/parry/playbooks"
	"github.com/parry-soc/parry/workflows"
)

func TestDurationText(t *testing.T) {
	for _, tt := range []struct {
		in   time.Duration
		want string
	}{
		{15 * time.Minute, "15m"},
		{time.Hour, "1h"},
		{90 * time.Minute, "1h30m"},
		{3*time.Minute + 12*time.Second + 400*time.Millisecond, "3m12s"},
		{45 * time.Second, "45s"},
		{0, "0s"},
	} {
		if got := durationText(tt.in); got != tt.want {
			t.Errorf("durationText(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestActorText(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"slack:U0LEAD1", "<@U0LEAD1>"},
		{"slack:U0LEAD1 (Lead One)", "<@U0LEAD1>"},
		{"slack:W0ENTERPRISE", "<@W0ENTERPRISE>"},
		{"operator:alice", "alice (operator)"},
		{"slack:<!channel>", "slack:&lt;!channel&gt;"},
		{"operator:<b>", "&lt;b&gt; (operator)"},
		{"", "-"},
	} {
		if got := actorText(tt.in); got != tt.want {
			t.Errorf("actorText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSubteamMentionsOnlyGroupIDs(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"S0ONCALL", "<!subteam^S0ONCALL>"},
		{"subteam^S0ONCALL", "<!subteam^S0ONCALL>"},
		{"@soc-oncall", "@soc-oncall"},
		{"S0ONCALL>|x", "S0ONCALL&gt;|x"},
	} {
		if got := subteam(tt.in); got != tt.want {
			t.Errorf("subteam(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTechniquesLinkToATTACK(t *testing.T) {
	r := renderer{catalog: attack.Default()}
	got := r.techniques([]string{"T1566.001", "T1059", "T9999"})
	for _, want := range []string{
		"<https://attack.mitre.org/techniques/T1566/001/|T1566.001 Phishing: Spearphishing Attachment>",
		"<https://attack.mitre.org/techniques/T1059/|T1059 Command and Scripting Interpreter>",
		", T9999",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("techniques = %q, want it to contain %q", got, want)
		}
	}
}

func TestClipKeepsEntitiesWhole(t *testing.T) {
	got := shown(strings.Repeat("&", 10), 5)
	if got != "&amp;&amp;&amp;&amp;…" {
		t.Errorf("shown = %q, want four escaped ampersands and an ellipsis", got)
	}
}

// The renderer spells the workflow's and the playbook format's words itself; they must not drift.
func TestOutcomeNamesMatchTheWorkflow(t *testing.T) {
	for _, tt := range []struct{ ours, theirs string }{
		{outcomeApproved, workflows.ApprovalApproved},
		{outcomeDenied, workflows.ApprovalDenied},
		{outcomeTimedOut, workflows.ApprovalTimedOut},
		{outcomeGranted, workflows.OutcomeGranted},
		{outcomeCounted, workflows.OutcomeCounted},
		{stateFailed, workflows.StateFailed},
		{stateDenied, workflows.StepDenied},
		{onBreachFail, playbooks.BreachFail},
		{onBreachGoOn, playbooks.BreachContinue},
		{onTimeoutGoOn, playbooks.TimeoutApprove},
	} {
		if tt.ours != tt.theirs {
			t.Errorf("slackapp says %q where the workflow says %q", tt.ours, tt.theirs)
		}
	}
}
