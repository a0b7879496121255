// Package actions is the catalog of everything a playbook step can do: each action's name, input schema,
// outputs, inverse, default timeout and retry policy, and whether it contains (isolates or disables)
// something. It is a leaf package with no I/O, shared by the playbook validator, the interpreter workflow
// (which names activities through it) and the activities that implement it.
package actions

import (
	"slices"
	"sort"
	"time"
)

// ParamType is the type of an action parameter as a playbook author writes it in `with:`.
type ParamType string

// Parameter types.
const (
	String   ParamType = "string"
	Duration ParamType = "duration" // a Go duration string: "5m", "90s"
	Int      ParamType = "int"
	Bool     ParamType = "bool"
	Strings  ParamType = "strings" // a list of strings
)

// Param is one input of an action.
type Param struct {
	Name     string
	Type     ParamType
	Required bool
	Doc      string
}

// Field is one documented key of an action's output, readable as steps['id'].output.<name>.
type Field struct {
	Name string
	Doc  string
}

// Containment says which parameter names the thing an action contains (a host it isolates, an account it
// disables) and of what kind it is. Contained things stay contained when a run fails.
type Containment struct {
	Kind  string // host, user, account, ip, sender, message, file
	Param string // the parameter naming the resource
}

// RetryPolicy is an action's default retry policy. Zero MaximumAttempts means unlimited (bounded by the
// activity's schedule-to-close timeout).
type RetryPolicy struct {
	InitialInterval    time.Duration
	BackoffCoefficient float64
	MaximumInterval    time.Duration
	MaximumAttempts    int32
}

// Action describes one thing a step can do.
type Action struct {
	Name    string // family.verb, also the activity type name
	Summary string
	Params  []Param
	Outputs []Field
	// Undo is the inverse action, run by rollback on the same parameters. A step may override it.
	Undo string
	// Contains is set for actions that isolate, disable or block something.
	Contains *Containment
	// Timeout is the default start-to-close timeout of one attempt.
	Timeout time.Duration
	// Heartbeat is the heartbeat timeout of long actions (zero: no heartbeat expected). 10 s: a worker that
	// dies mid-capture is noticed and the capture resumed elsewhere within seconds, not minutes.
	Heartbeat time.Duration
	Retry     RetryPolicy
	// Manual actions are done by a person and marked done; the workflow waits for them, no activity runs.
	Manual bool
	// Internal actions are activities the interpreter itself uses (notifications, approver lookup); a
	// playbook cannot name them.
	Internal bool
	// Risky actions change production state; the validator warns when one has no approval.
	Risky bool
}

// Family is the part of the name before the dot ("edr" for "edr.isolate_host").
func (a Action) Family() string {
	for i := 0; i < len(a.Name); i++ {
		if a.Name[i] == '.' {
			return a.Name[:i]
		}
	}
	return a.Name
}

// Param returns the named parameter.
func (a Action) Param(name string) (Param, bool) {
	for _, p := range a.Params {
		if p.Name == name {
			return p, true
		}
	}
	return Param{}, false
}

// Required returns the names of the required parameters, in catalog order.
func (a Action) Required() []string {
	var names []string
	for _, p := range a.Params {
		if p.Required {
			names = append(names, p.Name)
		}
	}
	return names
}

// Error types of non-retryable application errors. Activities return them with
// temporal.NewNonRetryableApplicationError; the retry policy of every action lists them once, here.
const (
	ErrInvalidInput   = "InvalidInput"   // a parameter is missing or malformed
	ErrHostNotFound   = "HostNotFound"   // the EDR does not know the host
	ErrUserNotFound   = "UserNotFound"   // the directory does not know the account
	ErrNotFound       = "NotFound"       // any other unknown object (message, file, process)
	ErrUnauthorized   = "Unauthorized"   // the vendor refused our credentials
	ErrVendorRejected = "VendorRejected" // the vendor answered 4xx for another reason
)

// NonRetryable lists the error types no retry can fix.
var NonRetryable = []string{ErrInvalidInput, ErrHostNotFound, ErrUserNotFound, ErrNotFound, ErrUnauthorized, ErrVendorRejected}

// Lookup returns the action with the given name.
func Lookup(name string) (Action, bool) {
	a, ok := byName[name]
	return a, ok
}

// All returns every action, sorted by name.
func All() []Action {
	out := make([]Action, 0, len(byName))
	for _, name := range Names() {
		out = append(out, byName[name])
	}
	return out
}

// Names returns the names of all actions, sorted.
func Names() []string {
	names := make([]string, 0, len(byName))
	for name := range byName {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

var byName = func() map[string]Action {
	m := make(map[string]Action, len(catalog))
	for _, a := range catalog {
		m[a.Name] = a
	}
	return m
}()

// ContainmentKinds returns the kinds of containment the catalog's actions hold (host, user, sender, …),
// sorted.
func ContainmentKinds() []string {
	var kinds []string
	for _, a := range All() {
		if a.Contains != nil && !slices.Contains(kinds, a.Contains.Kind) {
			kinds = append(kinds, a.Contains.Kind)
		}
	}
	sort.Strings(kinds)
	return kinds
}
