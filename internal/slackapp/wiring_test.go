package slackapp_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/parry-soc/parry/activities"
	"github.com/parry-soc/parry/internal/slackapp"
	"github.com/parry-soc/parry/notify"
)

// slackAPI answers chat.postMessage like Slack, or with 429 and Retry-After: 7 when limited.
func slackAPI(t *testing.T, limited bool) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if limited {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": "C0SOCINC", "ts": "1765000000.000100"})
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/api/"
}

func newActivities(t *testing.T, cfg activities.Config) *activities.Activities {
	t.Helper()
	dir := t.TempDir()
	cfg.LabState, cfg.EvidenceDir = filepath.Join(dir, "lab-state.json"), filepath.Join(dir, "evidence")
	cfg.Logger = slog.New(slog.DiscardHandler)
	a, err := activities.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestActivitiesUseSlackWhenABotTokenIsSet(t *testing.T) {
	env := map[string]string{
		"SLACK_BOT_TOKEN":     "xoxb-test",
		"SLACK_API_URL":       slackAPI(t, false),
		"PARRY_ONCALL_GROUP":  "S0ONCALL",
		"PARRY_SLACK_CHANNEL": "#soc-incidents",
	}
	cfg := activities.FromEnv(func(k string) string { return env[k] })
	want := slackapp.Config{BotToken: "xoxb-test", APIURL: env["SLACK_API_URL"], OncallGroup: "S0ONCALL", DefaultChannel: "#soc-incidents"}
	if cfg.Slack != want {
		t.Errorf("FromEnv Slack = %+v, want %+v", cfg.Slack, want)
	}
	a := newActivities(t, cfg)
	if _, ok := a.Notifier.(*slackapp.Notifier); !ok {
		t.Errorf("Notifier is %T, want *slackapp.Notifier", a.Notifier)
	}
	if _, ok := a.Directory.(*slackapp.Directory); !ok {
		t.Errorf("Directory is %T, want *slackapp.Directory", a.Directory)
	}
	d, err := a.NotifyEvent(context.Background(), notify.Batch{Events: []notify.Event{{Run: notify.Run{ID: "parry-test-1"}, Seq: 1, Kind: notify.RunStarted}}})
	if err != nil {
		t.Fatal(err)
	}
	if want := (notify.MessageRef{Channel: "C0SOCINC", TS: "1765000000.000100"}); d.Parent != want {
		t.Errorf("notify.event delivered parent %+v, want %+v", d.Parent, want)
	}

	// A named directory provider and explicit implementations win.
	cfg.Providers = map[string]string{activities.FamilyDirectory: "lab"}
	if a := newActivities(t, cfg); isSlackDirectory(a.Directory) {
		t.Error("PARRY_DIRECTORY_PROVIDER=lab still resolves approvers in Slack")
	}
	log := activities.NewLogNotifier(nil)
	cfg.Notifier = log
	if a := newActivities(t, cfg); a.Notifier != log {
		t.Errorf("Notifier is %T, want the one configured", a.Notifier)
	}
}

func isSlackDirectory(d activities.Directory) bool {
	_, ok := d.(*slackapp.Directory)
	return ok
}

func TestActivitiesWithoutABotTokenDoNotTalkToSlack(t *testing.T) {
	a := newActivities(t, activities.Config{})
	if _, ok := a.Notifier.(*activities.LogNotifier); !ok {
		t.Errorf("Notifier is %T, want the log notifier", a.Notifier)
	}
	if isSlackDirectory(a.Directory) {
		t.Error("Directory is Slack's without a bot token")
	}
}

func TestSlackRetryAfterBecomesTheNextRetryDelay(t *testing.T) {
	a := newActivities(t, activities.Config{Slack: slackapp.Config{BotToken: "xoxb-test", APIURL: slackAPI(t, true), DefaultChannel: "#soc-incidents"}})
	_, err := a.NotifyEvent(context.Background(), notify.Batch{Events: []notify.Event{{Run: notify.Run{ID: "parry-test-1"}, Seq: 1, Kind: notify.RunStarted}}})
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) {
		t.Fatalf("notify.event rate limited = %v, want an application error", err)
	}
	if ae.NonRetryable() || ae.NextRetryDelay() != 7*time.Second {
		t.Errorf("non-retryable %t, next retry delay %s; want retryable after Slack's 7s", ae.NonRetryable(), ae.NextRetryDelay())
	}
}
