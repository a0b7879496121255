package frontdoor

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// IntakeStats are the intake's counters since the front door started, kept in memory and served by
// GET /v1/stats (with the intake's credentials). A restart sets them to zero; Temporal keeps the record of
// every run and unrouted alert.
type IntakeStats struct {
	Since time.Time `json:"since"`
	// Received counts alert POSTs, whatever became of them.
	Received int64 `json:"received"`
	// Accepted (202) started a run; Duplicates (200) named the run their alert already had.
	Accepted   int64 `json:"accepted"`
	Duplicates int64 `json:"duplicates"`
	// Unrouted alerts matched no playbook (422; each recorded as an UnroutedAlert workflow, once per alert);
	// MissingInput ones lacked a required input (422, nothing started).
	Unrouted     int64 `json:"unrouted"`
	MissingInput int64 `json:"missing_input"`
	// Unauthorized requests were refused 401 on any intake endpoint.
	Unauthorized int64 `json:"unauthorized"`
	// Saturated requests were answered 503 because every start slot stayed busy for the queue wait.
	Saturated int64 `json:"saturated"`
	// ByStatus counts the answers to alert POSTs, and every refusal on an intake endpoint, by HTTP status.
	ByStatus map[string]int64 `json:"by_status"`
	// StartsInFlight are the starts (or unrouted records) running now, of at most MaxStarts.
	StartsInFlight int `json:"starts_in_flight"`
	MaxStarts      int `json:"max_starts"`
}

type counters struct {
	since                                          time.Time
	received, unrouted, missingInput, unauthorized atomic.Int64
	saturated                                      atomic.Int64

	mu       sync.Mutex
	byStatus map[int]int64
}

func newCounters(now time.Time) *counters {
	return &counters{since: now.UTC(), byStatus: map[int]int64{}}
}

func (c *counters) answered(status int) {
	c.mu.Lock()
	c.byStatus[status]++
	c.mu.Unlock()
}

func (c *counters) snapshot(inFlight, limit int) IntakeStats {
	s := IntakeStats{
		Since: c.since, Received: c.received.Load(), Unrouted: c.unrouted.Load(), MissingInput: c.missingInput.Load(),
		Unauthorized: c.unauthorized.Load(), Saturated: c.saturated.Load(), ByStatus: map[string]int64{},
		StartsInFlight: inFlight, MaxStarts: limit,
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for status, n := range c.byStatus {
		s.ByStatus[strconv.Itoa(status)] = n
	}
	s.Accepted, s.Duplicates = c.byStatus[http.StatusAccepted], c.byStatus[http.StatusOK]
	return s
}
