package activities

import (
	"context"
	"fmt"
	"net/mail"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/parry-soc/parry/actions"
	"github.com/parry-soc/parry/activities/provider"
)

// call is one activity execution of an action: what every activity does before and after its provider call.
type call struct {
	ctx    context.Context
	action actions.Action
	req    actions.Request
	info   provider.Info
}

// begin checks the request against the catalog entry of name and that the family has a provider. Side
// effects (every action but the lookups) also need the idempotency key.
func (a *Activities) begin(ctx context.Context, name, family string, p provider.Info, req actions.Request) (*call, error) {
	act, ok := actions.Lookup(name)
	if !ok {
		return nil, invalid(name, "not in the action catalog")
	}
	if p == nil {
		return nil, notConfigured(name, family)
	}
	if err := checkParams(act, req); err != nil {
		return nil, invalid(name, "%v", err)
	}
	if req.IdempotencyKey == "" && family != "intel" {
		return nil, invalid(name, "no idempotency key: a side effect must carry one so that a retry never acts twice")
	}
	return &call{ctx: ctx, action: act, req: req, info: p}, nil
}

// result builds the activity's result; note says what was done and gets the provider's name in front and,
// for a simulated provider, "(simulated)" after.
func (c *call) result(out map[string]any, note string, evidence ...actions.Evidence) actions.Result {
	name, sim := c.info.Name(), c.info.Simulated()
	note = name + ": " + note
	if sim {
		note += " (simulated)"
	}
	return actions.Result{Output: out, Evidence: evidence, Provider: name, Simulated: sim, Attempt: attempt(c.ctx), Note: note}
}

// fail maps a provider failure to the activity's error.
func (c *call) fail(err error) error { return temporalError(c.action.Name, err) }

func attempt(ctx context.Context) int32 {
	if !activity.IsActivity(ctx) {
		return 1
	}
	return activity.GetInfo(ctx).Attempt
}

// resume returns the progress the previous attempt recorded in its last heartbeat; the zero Progress on a
// first attempt or when the details cannot be read (the provider then starts over, which is slower but
// correct).
func resume(ctx context.Context) provider.Progress {
	var p provider.Progress
	if !activity.IsActivity(ctx) || !activity.HasHeartbeatDetails(ctx) {
		return p
	}
	if err := activity.GetHeartbeatDetails(ctx, &p); err != nil {
		activity.GetLogger(ctx).Warn("cannot read heartbeat details; starting over", "error", err)
		return provider.Progress{}
	}
	return p
}

// beater records a long call's progress as the activity's heartbeat details and remembers the last one.
// The SDK throttles what it sends to the server, so recording every tick is cheap.
type beater struct {
	ctx  context.Context
	mu   sync.Mutex
	last provider.Progress
}

func newBeater(ctx context.Context) *beater { return &beater{ctx: ctx} }

// report is the provider.ProgressFunc handed to providers.
func (b *beater) report(p provider.Progress) {
	b.mu.Lock()
	b.last = p
	b.mu.Unlock()
	if activity.IsActivity(b.ctx) {
		activity.RecordHeartbeat(b.ctx, p)
	}
}

// again repeats the last progress, to keep the activity alive after the provider finished.
func (b *beater) again() {
	b.mu.Lock()
	p := b.last
	b.mu.Unlock()
	if activity.IsActivity(b.ctx) {
		activity.RecordHeartbeat(b.ctx, p)
	}
}

var (
	hexSHA256 = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
	hostName  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$`)
)

// checkParams checks a request against the catalog: no unknown parameters, the required ones present, each
// of its declared type, and the common ones (host, ip, sha256, sender, message_id) well formed.
func checkParams(act actions.Action, req actions.Request) error {
	for _, name := range sortedKeys(req.With) {
		if _, ok := act.Param(name); !ok {
			return fmt.Errorf("unknown parameter %q (%s takes %s)", name, act.Name, paramNames(act))
		}
	}
	for _, p := range act.Params {
		v := req.With[p.Name]
		if empty(v) {
			if p.Required {
				return fmt.Errorf("parameter %s is required", p.Name)
			}
			continue
		}
		if err := checkType(p, v); err != nil {
			return err
		}
		if p.Type != actions.String {
			continue
		}
		s := strings.TrimSpace(req.String(p.Name))
		switch p.Name {
		case "host":
			if !hostName.MatchString(s) {
				return fmt.Errorf("parameter host: %q is not a host name", s)
			}
		case "ip":
			if _, err := netip.ParseAddr(s); err != nil {
				return fmt.Errorf("parameter ip: %q is not an IP address", s)
			}
		case "sha256":
			if !hexSHA256.MatchString(s) {
				return fmt.Errorf("parameter sha256: %q is not a SHA-256 (64 hex digits)", s)
			}
		case "sender":
			if _, err := mail.ParseAddress(s); err != nil {
				return fmt.Errorf("parameter sender: %q is not a mail address", s)
			}
		case "message_id":
			if strings.ContainsAny(s, " \t\r\n") {
				return fmt.Errorf("parameter message_id: %q contains white space", s)
			}
		}
	}
	return nil
}

func checkType(p actions.Param, v any) error {
	switch p.Type {
	case actions.String:
		switch v.(type) {
		case string, float64, int, int64, bool:
			return nil
		}
	case actions.Duration:
		s, ok := v.(string)
		if !ok {
			break
		}
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return fmt.Errorf("parameter %s: %q is not a positive duration (e.g. 5m, 90s)", p.Name, s)
		}
		return nil
	case actions.Int:
		switch v := v.(type) {
		case int, int64:
			return nil
		case float64:
			if v == float64(int64(v)) {
				return nil
			}
		case string:
			if _, err := strconv.Atoi(v); err == nil {
				return nil
			}
		}
	case actions.Bool:
		switch v := v.(type) {
		case bool:
			return nil
		case string:
			if _, err := strconv.ParseBool(v); err == nil {
				return nil
			}
		}
	case actions.Strings:
		switch v := v.(type) {
		case string, []string:
			return nil
		case []any:
			for _, e := range v {
				if _, ok := e.(string); !ok {
					return fmt.Errorf("parameter %s: want a list of strings", p.Name)
				}
			}
			return nil
		}
	}
	return fmt.Errorf("parameter %s: %v is not a %s", p.Name, v, p.Type)
}

func empty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(v) == ""
	case []any:
		return len(v) == 0
	case []string:
		return len(v) == 0
	}
	return false
}

func paramNames(act actions.Action) string {
	if len(act.Params) == 0 {
		return "no parameters"
	}
	names := make([]string, 0, len(act.Params))
	for _, p := range act.Params {
		names = append(names, p.Name)
	}
	return strings.Join(names, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// param returns a string parameter without surrounding space.
func param(req actions.Request, name string) string { return strings.TrimSpace(req.String(name)) }
