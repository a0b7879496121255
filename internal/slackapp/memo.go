package slackapp

import (
	"sync"

	"github.com/parry-soc/parry/notify"
)

// maxRuns bounds the Notifier's memory. A redelivered event comes back within seconds (a retried notify
// activity), and a request is decided within its timeout, both long before a thousand newer runs.
const maxRuns = 1024

// memo is what the Notifier remembers per run, for the most recent runs: a retried activity must not
// post an event twice, and a decided request should still show what it asked. Losing it (another worker,
// a restart) costs at worst a duplicate post or a terser update, never a wrong one.
type memo struct {
	mu   sync.Mutex
	runs map[string]*runMemo
	fifo []string // runs' keys, oldest first
}

type runMemo struct {
	events    map[int]delivery
	escalated map[int]bool
	requests  map[string]notify.Event // requestKey → the request event
}

// delivery is how far the delivery of one event got.
type delivery struct {
	posted      notify.Posted
	parentFresh bool // the parent was posted for this event, so it needs no update
	replied     bool // the event's own message is posted (or it has none)
	done        bool
}

// run returns a run's memo, creating it and forgetting the oldest run when full. Callers hold mu.
func (m *memo) run(id string) *runMemo {
	if m.runs == nil {
		m.runs = map[string]*runMemo{}
	}
	r := m.runs[id]
	if r == nil {
		if len(m.fifo) >= maxRuns {
			delete(m.runs, m.fifo[0])
			m.fifo = m.fifo[1:]
		}
		r = &runMemo{events: map[int]delivery{}, escalated: map[int]bool{}, requests: map[string]notify.Event{}}
		m.runs[id] = r
		m.fifo = append(m.fifo, id)
	}
	return r
}

func (m *memo) delivery(run string, seq int) delivery {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.run(run).events[seq]
}

func (m *memo) record(run string, seq int, d delivery) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.run(run).events[seq] = d
}

func (m *memo) escalated(run string, seq int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.run(run).escalated[seq]
}

func (m *memo) markEscalated(run string, seq int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.run(run).escalated[seq] = true
}

func (m *memo) request(run, key string, e notify.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.run(run).requests[key] = e
}

// requested returns the request event posted under key, if this process posted it.
func (m *memo) requested(run, key string) (*notify.Event, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.run(run).requests[key]
	if !ok {
		return nil, false
	}
	return &e, true
}
