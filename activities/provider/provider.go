// Package provider is the vocabulary shared by Parry's activities and the provider adapters that do the work
// (the lab simulator, and vendor adapters such as CrowdStrike or Entra): what a provider call returns, how a
// long call reports and resumes progress, and the typed Error a provider returns so that the activities map
// every failure to a Temporal error in one place.
//
// It is a leaf package so that adapters (activities/lab, …) can use it while package activities, which picks
// an adapter by name, imports the adapters.
package provider

import "io"

// Info names a provider in results and notes.
type Info interface {
	// Name is the adapter's name as configuration spells it ("lab", "crowdstrike", …).
	Name() string
	// Simulated is true when the provider does not touch a real system (the lab). Every result and note the
	// activities produce from a simulated provider says so.
	Simulated() bool
}

// Progress is how far a long call (a memory dump, a detonation, a scan) got. The activities record it as the
// heartbeat details, and hand the last recorded value back to the provider when a retry starts on another
// worker, so the call resumes rather than restarts.
type Progress struct {
	Stage string `json:"stage,omitempty"` // what the call was doing: "memory_dump", "detonate", …
	Done  int    `json:"done"`            // units done (the lab: simulated seconds)
	Total int    `json:"total"`           // units in all
	// Job is the vendor's id of the running job (a sandbox submission, an RTR session) so that a retry polls
	// it instead of starting another.
	Job string `json:"job,omitempty"`
}

// ProgressFunc receives a long call's progress; the activities turn it into a heartbeat. It must be cheap:
// providers call it often.
type ProgressFunc func(Progress)

// HostState is a host's containment state after an EDR call.
type HostState struct {
	Host     string // canonical host name
	DeviceID string // the EDR's device id
	State    string // isolated | released
}

// UserState is a directory account's state after an identity call.
type UserState struct {
	User  string // canonical account name
	State string // disabled | enabled
}

// PersistenceRemoval is the outcome of removing a persistence item.
type PersistenceRemoval struct {
	Removed bool
	// Definition is the exported definition of what was removed (a .reg export, a task's XML), kept as
	// evidence so the item can be recreated. Empty when nothing was removed.
	Definition []byte
	// Name is a file name for the definition ("run-key-OneDriveSync.reg").
	Name string
}

// Finding is one thing a host scan found.
type Finding struct {
	Kind   string `json:"kind"`   // file | process | persistence
	Where  string `json:"where"`  // path, process or persistence name
	SHA256 string `json:"sha256"` // the matching hash, if any
	Reason string `json:"reason"` // why it was flagged
}

// Scan is the outcome of a host scan.
type Scan struct {
	Findings []Finding
}

// Capture is evidence a provider collected: bytes the activity streams into the evidence store. The
// provider should produce identical bytes when a retry asks again with the same idempotency key, so that
// evidence captured twice hashes the same.
type Capture struct {
	Body io.ReadCloser
}

// HeaderCapture is a message's preserved headers.
type HeaderCapture struct {
	Capture
	SenderIP string // the first external hop
}

// LogCapture is an export of one log of a host.
type LogCapture struct {
	Capture
	Events int
}

// Detonation is a sandbox report.
type Detonation struct {
	Verdict string // malicious | suspicious | clean | unknown
	Score   int    // 0-100
	Family  string
	IOCs    []string // network indicators seen
	Report  []byte   // the full report, stored as evidence
}

// HashIntel is what threat intelligence knows about a file hash.
type HashIntel struct {
	Verdict    string   // malicious | suspicious | clean | unknown
	Family     string   // malware family, if known
	Detections []string // engines that flag it
	FirstSeen  string   // RFC 3339, "" when unknown
}

// IPIntel is what threat intelligence knows about an IP address.
type IPIntel struct {
	Verdict    string // malicious | suspicious | clean | unknown
	Reputation int    // 0-100, higher is worse
	Tags       []string
}

// Verdicts of intelligence lookups and detonations.
const (
	Malicious  = "malicious"
	Suspicious = "suspicious"
	Clean      = "clean"
	Unknown    = "unknown"
)
