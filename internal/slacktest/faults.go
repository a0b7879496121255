package slacktest

import (
	"maps"
	"net/http"
	"slices"
	"time"
)

// failRule answers the next calls of a method with an HTTP error instead of running it.
type failRule struct {
	method     string // a method name, or "*" for all
	remaining  int
	status     int
	retryAfter time.Duration
}

// FailNext makes the next n calls of a method (or of any method, for "*") fail without running: with
// status 429 they answer as Slack's rate limiter does, a Retry-After header in whole seconds (rounded
// up) and {"ok":false,"error":"ratelimited"} (https://api.slack.com/docs/rate-limits); with a 5xx they
// answer that status with an HTML body, as Slack's front end does. Rules queue in the order given.
func (f *Fake) FailNext(method string, n int, status int, retryAfter time.Duration) {
	if n <= 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext = append(f.failNext, &failRule{method: method, remaining: n, status: status, retryAfter: retryAfter})
}

// takeFailureLocked consumes one failure for a call of method, if one is queued. f.mu must be held.
func (f *Fake) takeFailureLocked(method string) *failRule {
	for i, r := range f.failNext {
		if r.method != method && r.method != "*" {
			continue
		}
		r.remaining--
		if r.remaining == 0 {
			f.failNext = slices.Delete(f.failNext, i, i+1)
		}
		return r
	}
	return nil
}

// FailMethod makes every later call of a method (or of any method, for "*") answer HTTP 200 with
// {"ok":false,"error":slackError}, after the token check, until FailMethod(method, "") clears it. It
// stands for Slack errors the fake cannot otherwise produce, such as fatal_error or msg_too_long.
func (f *Fake) FailMethod(method, slackError string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if slackError == "" {
		delete(f.failMethod, method)
		return
	}
	f.failMethod[method] = slackError
}

// Down takes the fake off the network for d: every request, Web API, response URL or Socket Mode,
// has its connection closed without an answer, so clients see a network error, and open Socket Mode
// connections are dropped. Afterwards the fake answers again with its state intact.
func (f *Fake) Down(d time.Duration) {
	f.mu.Lock()
	f.downUntil = time.Now().Add(d)
	conns := slices.Collect(maps.Values(f.conns))
	f.changedLocked()
	f.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// SetDown takes the fake off the network (true) until SetDown(false), as Down does for a time.
func (f *Fake) SetDown(down bool) {
	f.mu.Lock()
	f.down = down
	if !down {
		f.downUntil = time.Time{}
	}
	conns := slices.Collect(maps.Values(f.conns))
	f.changedLocked()
	f.mu.Unlock()
	if down {
		for _, c := range conns {
			c.close()
		}
	}
}

// IsDown reports whether the fake is off the network.
func (f *Fake) IsDown() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.isDownLocked()
}

func (f *Fake) isDownLocked() bool {
	return f.down || time.Now().Before(f.downUntil)
}

// dropIfDown closes the request's connection without an answer when the fake is down, and logs the
// call when it is a Web API method (method is empty otherwise). It reports whether it dropped it.
func (f *Fake) dropIfDown(w http.ResponseWriter, method string) bool {
	f.mu.Lock()
	down := f.isDownLocked()
	if down && method != "" {
		f.logCallLocked(Call{Method: method, Fault: FaultDown, Error: "connection closed", Time: time.Now()})
	}
	f.mu.Unlock()
	if !down {
		return false
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		// Only HTTP/2 cannot be hijacked, and the fake serves HTTP/1.1; answer as a load balancer would.
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	}
	conn, _, err := hj.Hijack()
	if err == nil {
		_ = conn.Close()
	}
	return true
}
