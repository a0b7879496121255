package lab

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"net/mail"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/parry-soc/parry/actions"
	"github.com/parry-soc/parry/activities/provider"
)

//go:embed default-fixture.yaml
var defaultFixture []byte

// DefaultFixtureName is how errors and notes name the embedded default fixture.
const DefaultFixtureName = "default-fixture.yaml (embedded)"

// Fixture describes the simulated enterprise: its hosts, users, mailboxes and messages, the files and IP
// addresses threat intelligence knows, the Slack user groups approvers come from, how long long actions take,
// and which faults to inject. It is read once; what actions change lives in the State file.
type Fixture struct {
	Org       string     `yaml:"org"`    // the organisation's name, for notes
	Domain    string     `yaml:"domain"` // the AD domain ("CORP"), accepted as DOMAIN\user
	Timing    Timing     `yaml:"timing"`
	Hosts     []Host     `yaml:"hosts"`
	Users     []User     `yaml:"users"`
	Mailboxes []Mailbox  `yaml:"mailboxes"`
	Messages  []Message  `yaml:"messages"`
	Files     []File     `yaml:"files"`
	IPs       []IP       `yaml:"ips"`
	Slack     Slack      `yaml:"slack"`
	Faults    FaultTable `yaml:"faults"`

	source string // file name, for notes

	hosts     map[string]*Host // lowercased name and FQDN
	users     map[string]*User // lowercased name, UPN, mailbox
	mailboxes map[string]*Mailbox
	messages  map[string]*Message // message id without angle brackets
	files     map[string]*File    // lowercased SHA-256
	ips       map[netip.Addr]*IP
	groups    map[string]*SlackGroup
}

// Timing sets how long the lab's long actions take, in simulated seconds; one simulated second lasts Tick of
// wall time. Zero or absent: instant.
type Timing struct {
	// Tick is the wall time of one simulated second (default 1s). The long actions heartbeat once per tick.
	Tick                  *time.Duration `yaml:"tick"`
	DetonationSeconds     int            `yaml:"detonation_seconds"` // files without sandbox.seconds
	MemoryDumpSeconds     int            `yaml:"memory_dump_seconds"`
	NetworkCaptureSeconds int            `yaml:"network_capture_seconds"` // whatever duration was asked
	TriageSeconds         int            `yaml:"triage_seconds"`
	ScanSeconds           int            `yaml:"scan_seconds"`
	LogsSeconds           int            `yaml:"logs_seconds"`
}

// Host is one machine the simulated EDR manages.
type Host struct {
	Name          string        `yaml:"name"` // short name, canonical ("WS-0042")
	FQDN          string        `yaml:"fqdn"`
	OS            string        `yaml:"os"`
	IP            string        `yaml:"ip"`
	Owner         string        `yaml:"owner"` // user name of its main user
	Role          string        `yaml:"role"`  // workstation | server | domain-controller | web-server | file-server
	DeviceID      string        `yaml:"device_id"`
	LocalAccounts []string      `yaml:"local_accounts"`
	Processes     []Process     `yaml:"processes"`
	Persistence   []Persistence `yaml:"persistence"`
	Files         []HostFile    `yaml:"files"`
}

// Process is a process running on a host.
type Process struct {
	PID         int    `yaml:"pid"`
	Name        string `yaml:"name"`
	User        string `yaml:"user"`
	ImageSHA256 string `yaml:"image_sha256"`
	Command     string `yaml:"command"`
}

// Persistence is an autostart item on a host.
type Persistence struct {
	Kind     string `yaml:"kind"` // registry_run_key | startup_folder | scheduled_task | service
	Name     string `yaml:"name"`
	Location string `yaml:"location"` // registry key, task folder, startup folder
	Command  string `yaml:"command"`
	SHA256   string `yaml:"sha256"` // of the binary it starts, if known
}

// HostFile is a file present on a host.
type HostFile struct {
	Path   string `yaml:"path"`
	SHA256 string `yaml:"sha256"`
}

// User is a directory account.
type User struct {
	Name        string   `yaml:"name"` // sAMAccountName, canonical ("alice")
	UPN         string   `yaml:"upn"`
	DisplayName string   `yaml:"display_name"`
	Title       string   `yaml:"title"`
	Groups      []string `yaml:"groups"`
	Mailbox     string   `yaml:"mailbox"`
	Sessions    int      `yaml:"sessions"` // active sign-in sessions before anything is revoked
}

// Mailbox is a mailbox of the simulated mail system.
type Mailbox struct {
	Address string `yaml:"address"`
	Owner   string `yaml:"owner"` // user name; empty for a shared mailbox
}

// Message is a message delivered to one or more mailboxes.
type Message struct {
	MessageID   string       `yaml:"message_id"`
	Sender      string       `yaml:"sender"`
	Subject     string       `yaml:"subject"`
	DeliveredTo []string     `yaml:"delivered_to"` // mailbox addresses holding it
	SenderIP    string       `yaml:"sender_ip"`    // first external hop
	Attachments []Attachment `yaml:"attachments"`
	Headers     string       `yaml:"headers"` // the full header block, as preserved evidence
}

// Attachment is a file attached to a message.
type Attachment struct {
	Name   string `yaml:"name"`
	SHA256 string `yaml:"sha256"`
}

// File is a file threat intelligence and the sandbox know, by hash.
type File struct {
	SHA256     string   `yaml:"sha256"`
	Name       string   `yaml:"name"`
	Verdict    string   `yaml:"verdict"` // malicious | suspicious | clean
	Family     string   `yaml:"family"`
	Score      int      `yaml:"score"` // 0-100
	Detections []string `yaml:"detections"`
	FirstSeen  string   `yaml:"first_seen"` // RFC 3339
	Sandbox    *Sandbox `yaml:"sandbox"`
}

// Sandbox is what a detonation of a file shows.
type Sandbox struct {
	Seconds   *int     `yaml:"seconds"` // simulated; absent: timing.detonation_seconds
	Score     int      `yaml:"score"`
	Behaviour []string `yaml:"behaviour"`
	IOCs      []string `yaml:"iocs"`
}

// IP is an address threat intelligence knows.
type IP struct {
	Address    string   `yaml:"address"`
	Verdict    string   `yaml:"verdict"`
	Reputation int      `yaml:"reputation"` // 0-100, higher is worse
	Tags       []string `yaml:"tags"`
}

// Slack lists the Slack users and user groups approvers are resolved from.
type Slack struct {
	Users  []SlackUser  `yaml:"users"`
	Groups []SlackGroup `yaml:"groups"`
}

// SlackUser is a Slack member.
type SlackUser struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	User string `yaml:"user"` // the directory account, if any
}

// SlackGroup is a Slack user group.
type SlackGroup struct {
	ID      string   `yaml:"id"`
	Handle  string   `yaml:"handle"`
	Members []string `yaml:"members"` // Slack user ids
}

// FaultTable injects failures by action name, for testing retry paths.
type FaultTable map[string]Fault

// Fault makes the first FailFirst attempts of every call of an action fail (per idempotency key, or per
// target for lookups). With Type empty the failures are transient (retried); with a non-retryable type
// from the catalog (HostNotFound, VendorRejected, …) they are that error.
type Fault struct {
	FailFirst int    `yaml:"fail_first"`
	Type      string `yaml:"type"`
	Message   string `yaml:"message"`
}

// Values the fixture accepts.
var (
	hostRoles        = []string{"workstation", "server", "domain-controller", "web-server", "file-server"}
	persistenceKinds = []string{"registry_run_key", "startup_folder", "scheduled_task", "service"}
	verdicts         = []string{provider.Malicious, provider.Suspicious, provider.Clean}
)

// DefaultFixture returns the embedded default fixture: a small enterprise that knows every host and user of
// Parry's sample alerts.
func DefaultFixture() (*Fixture, error) { return ParseFixture(DefaultFixtureName, defaultFixture) }

// LoadFixture reads a fixture file.
func LoadFixture(path string) (*Fixture, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load lab fixture: %w", err)
	}
	return ParseFixture(path, data)
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

// ParseFixture parses and checks a fixture; name is the file name errors start with. Unknown keys, bad
// hashes or addresses, duplicate names and references to unknown users, mailboxes or Slack users are
// errors of the form "name:line: what".
func ParseFixture(name string, data []byte) (*Fixture, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlError(name, err)
	}
	if root.Kind == 0 {
		return nil, fmt.Errorf("load lab fixture %s: empty file", name)
	}
	fx := &Fixture{source: name}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(fx); err != nil {
		return nil, yamlError(name, err)
	}
	if err := fx.check(name, &root); err != nil {
		return nil, err
	}
	return fx, nil
}

// yamlError turns yaml.v3's "yaml: line 3: …" into "name:3: …", one line per problem.
func yamlError(name string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		errs := make([]error, 0, len(te.Errors))
		for _, e := range te.Errors {
			errs = append(errs, errors.New(positioned(name, e)))
		}
		return fmt.Errorf("load lab fixture: %w", errors.Join(errs...))
	}
	return fmt.Errorf("load lab fixture: %s", positioned(name, err.Error()))
}

func positioned(name, msg string) string {
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		return name + ":" + m[1] + ": " + msg[len(m[0]):]
	}
	return name + ": " + strings.TrimPrefix(msg, "yaml: ")
}

// checker collects validation errors with the line of the node they are about.
type checker struct {
	name string
	root *yaml.Node
	errs []error
}

// errorf records a problem at path (mapping keys as strings, sequence indexes as ints).
func (c *checker) errorf(path []any, format string, args ...any) {
	line := lineOf(c.root, path)
	where := c.name
	if line > 0 {
		where += ":" + strconv.Itoa(line)
	}
	c.errs = append(c.errs, fmt.Errorf("%s: %s: %s", where, pathString(path), fmt.Sprintf(format, args...)))
}

func lineOf(n *yaml.Node, path []any) int {
	if n == nil {
		return 0
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, p := range path {
		var next *yaml.Node
		switch p := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == p {
						next = n.Content[i+1]
						line = n.Content[i].Line
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && p < len(n.Content) {
				next = n.Content[p]
				line = next.Line
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}

func pathString(path []any) string {
	var b strings.Builder
	for _, p := range path {
		switch p := p.(type) {
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(p)
		case int:
			fmt.Fprintf(&b, "[%d]", p)
		}
	}
	return b.String()
}

func at(path []any, more ...any) []any {
	return append(append([]any(nil), path...), more...)
}

var hexSHA256 = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// sha checks an optional SHA-256 and returns it lowercased.
func (c *checker) sha(path []any, s string) string {
	if s != "" && !hexSHA256.MatchString(s) {
		c.errorf(path, "%q is not a SHA-256 (64 hex digits)", s)
	}
	return strings.ToLower(s)
}

func (c *checker) ip(path []any, s string) {
	if s == "" {
		return
	}
	if _, err := netip.ParseAddr(s); err != nil {
		c.errorf(path, "%q is not an IP address", s)
	}
}

func (c *checker) oneOf(path []any, s string, allowed []string) {
	for _, a := range allowed {
		if s == a {
			return
		}
	}
	c.errorf(path, "%q is not one of %s", s, strings.Join(allowed, ", "))
}

func (c *checker) required(path []any, s string) bool {
	if strings.TrimSpace(s) == "" {
		c.errorf(path, "is required")
		return false
	}
	return true
}

func (c *checker) percent(path []any, n int) {
	if n < 0 || n > 100 {
		c.errorf(path, "%d is not between 0 and 100", n)
	}
}

// check validates the fixture, normalises hashes and builds the lookup tables.
func (fx *Fixture) check(name string, root *yaml.Node) error {
	c := &checker{name: name, root: root}
	fx.hosts = map[string]*Host{}
	fx.users = map[string]*User{}
	fx.mailboxes = map[string]*Mailbox{}
	fx.messages = map[string]*Message{}
	fx.files = map[string]*File{}
	fx.ips = map[netip.Addr]*IP{}
	fx.groups = map[string]*SlackGroup{}

	t := fx.Timing
	if t.Tick != nil && *t.Tick < 0 {
		c.errorf([]any{"timing", "tick"}, "must not be negative")
	}
	for key, n := range map[string]int{"detonation_seconds": t.DetonationSeconds, "memory_dump_seconds": t.MemoryDumpSeconds,
		"network_capture_seconds": t.NetworkCaptureSeconds, "triage_seconds": t.TriageSeconds, "scan_seconds": t.ScanSeconds,
		"logs_seconds": t.LogsSeconds} {
		if n < 0 {
			c.errorf([]any{"timing", key}, "must not be negative")
		}
	}

	// Users and mailboxes first: hosts, mailboxes and Slack users refer to them.
	for i := range fx.Users {
		u := &fx.Users[i]
		p := []any{"users", i}
		if !c.required(at(p, "name"), u.Name) {
			continue
		}
		for _, k := range []string{u.Name, u.UPN} {
			if k == "" {
				continue
			}
			if _, dup := fx.users[strings.ToLower(k)]; dup {
				c.errorf(p, "user %q is defined twice", k)
			}
			fx.users[strings.ToLower(k)] = u
		}
		if u.Sessions < 0 {
			c.errorf(at(p, "sessions"), "must not be negative")
		}
	}
	for i := range fx.Mailboxes {
		m := &fx.Mailboxes[i]
		p := []any{"mailboxes", i}
		if !c.required(at(p, "address"), m.Address) {
			continue
		}
		if _, err := mail.ParseAddress(m.Address); err != nil {
			c.errorf(at(p, "address"), "%q is not a mail address", m.Address)
		}
		key := strings.ToLower(m.Address)
		if _, dup := fx.mailboxes[key]; dup {
			c.errorf(p, "mailbox %q is defined twice", m.Address)
		}
		fx.mailboxes[key] = m
		if m.Owner != "" && fx.user(m.Owner) == nil {
			c.errorf(at(p, "owner"), "unknown user %q", m.Owner)
		}
	}
	for i := range fx.Users {
		u := &fx.Users[i]
		if u.Mailbox == "" {
			continue
		}
		if fx.mailboxes[strings.ToLower(u.Mailbox)] == nil {
			c.errorf([]any{"users", i, "mailbox"}, "unknown mailbox %q", u.Mailbox)
			continue
		}
		if _, taken := fx.users[strings.ToLower(u.Mailbox)]; !taken {
			fx.users[strings.ToLower(u.Mailbox)] = u
		}
	}

	for i := range fx.Hosts {
		h := &fx.Hosts[i]
		p := []any{"hosts", i}
		if !c.required(at(p, "name"), h.Name) {
			continue
		}
		// A host is found by name, FQDN or address, as EDR consoles allow.
		for _, k := range []string{h.Name, h.FQDN, h.IP} {
			if k == "" {
				continue
			}
			if _, dup := fx.hosts[strings.ToLower(k)]; dup {
				c.errorf(p, "host %q is defined twice", k)
			}
			fx.hosts[strings.ToLower(k)] = h
		}
		c.ip(at(p, "ip"), h.IP)
		if h.Role != "" {
			c.oneOf(at(p, "role"), h.Role, hostRoles)
		}
		if h.Owner != "" && fx.user(h.Owner) == nil {
			c.errorf(at(p, "owner"), "unknown user %q", h.Owner)
		}
		pids := map[int]bool{}
		for j := range h.Processes {
			pr := &h.Processes[j]
			pp := at(p, "processes", j)
			c.required(at(pp, "name"), pr.Name)
			if pr.PID <= 0 {
				c.errorf(at(pp, "pid"), "must be a positive process id")
			} else if pids[pr.PID] {
				c.errorf(at(pp, "pid"), "pid %d is used twice", pr.PID)
			}
			pids[pr.PID] = true
			pr.ImageSHA256 = c.sha(at(pp, "image_sha256"), pr.ImageSHA256)
		}
		for j := range h.Persistence {
			ps := &h.Persistence[j]
			pp := at(p, "persistence", j)
			c.oneOf(at(pp, "kind"), ps.Kind, persistenceKinds)
			c.required(at(pp, "name"), ps.Name)
			ps.SHA256 = c.sha(at(pp, "sha256"), ps.SHA256)
		}
		for j := range h.Files {
			f := &h.Files[j]
			pp := at(p, "files", j)
			c.required(at(pp, "path"), f.Path)
			if c.required(at(pp, "sha256"), f.SHA256) {
				f.SHA256 = c.sha(at(pp, "sha256"), f.SHA256)
			}
		}
	}

	for i := range fx.Messages {
		m := &fx.Messages[i]
		p := []any{"messages", i}
		if !c.required(at(p, "message_id"), m.MessageID) {
			continue
		}
		id := messageKey(m.MessageID)
		if _, dup := fx.messages[id]; dup {
			c.errorf(p, "message %q is defined twice", m.MessageID)
		}
		fx.messages[id] = m
		if len(m.DeliveredTo) == 0 {
			c.errorf(at(p, "delivered_to"), "lists no mailbox")
		}
		for j, to := range m.DeliveredTo {
			if fx.mailboxes[strings.ToLower(to)] == nil {
				c.errorf(at(p, "delivered_to", j), "unknown mailbox %q", to)
			}
		}
		c.ip(at(p, "sender_ip"), m.SenderIP)
		for j := range m.Attachments {
			m.Attachments[j].SHA256 = c.sha(at(p, "attachments", j, "sha256"), m.Attachments[j].SHA256)
		}
	}

	for i := range fx.Files {
		f := &fx.Files[i]
		p := []any{"files", i}
		if !c.required(at(p, "sha256"), f.SHA256) {
			continue
		}
		f.SHA256 = c.sha(at(p, "sha256"), f.SHA256)
		if _, dup := fx.files[f.SHA256]; dup {
			c.errorf(p, "file %s is defined twice", f.SHA256)
		}
		fx.files[f.SHA256] = f
		c.oneOf(at(p, "verdict"), f.Verdict, verdicts)
		c.percent(at(p, "score"), f.Score)
		if f.FirstSeen != "" {
			if _, err := time.Parse(time.RFC3339, f.FirstSeen); err != nil {
				c.errorf(at(p, "first_seen"), "%q is not an RFC 3339 time", f.FirstSeen)
			}
		}
		if f.Sandbox != nil {
			c.percent(at(p, "sandbox", "score"), f.Sandbox.Score)
			if f.Sandbox.Seconds != nil && *f.Sandbox.Seconds < 0 {
				c.errorf(at(p, "sandbox", "seconds"), "must not be negative")
			}
		}
	}

	for i := range fx.IPs {
		ip := &fx.IPs[i]
		p := []any{"ips", i}
		addr, err := netip.ParseAddr(ip.Address)
		if err != nil {
			c.errorf(at(p, "address"), "%q is not an IP address", ip.Address)
			continue
		}
		addr = addr.Unmap()
		if _, dup := fx.ips[addr]; dup {
			c.errorf(p, "address %s is defined twice", ip.Address)
		}
		fx.ips[addr] = ip
		c.oneOf(at(p, "verdict"), ip.Verdict, verdicts)
		c.percent(at(p, "reputation"), ip.Reputation)
	}

	slackUsers := map[string]bool{}
	for i, u := range fx.Slack.Users {
		p := []any{"slack", "users", i}
		if !c.required(at(p, "id"), u.ID) {
			continue
		}
		if slackUsers[u.ID] {
			c.errorf(p, "Slack user %q is defined twice", u.ID)
		}
		slackUsers[u.ID] = true
		if u.User != "" && fx.user(u.User) == nil {
			c.errorf(at(p, "user"), "unknown user %q", u.User)
		}
	}
	for i := range fx.Slack.Groups {
		g := &fx.Slack.Groups[i]
		p := []any{"slack", "groups", i}
		if !c.required(at(p, "id"), g.ID) {
			continue
		}
		if _, dup := fx.groups[g.ID]; dup {
			c.errorf(p, "Slack group %q is defined twice", g.ID)
		}
		fx.groups[g.ID] = g
		for j, m := range g.Members {
			if !slackUsers[m] {
				c.errorf(at(p, "members", j), "unknown Slack user %q", m)
			}
		}
	}

	for action, f := range fx.Faults {
		p := []any{"faults", action}
		if a, ok := actions.Lookup(action); !ok || a.Manual {
			c.errorf(p, "unknown action %q", action)
		}
		if f.FailFirst < 0 {
			c.errorf(at(p, "fail_first"), "must not be negative")
		}
		if f.Type != "" {
			c.oneOf(at(p, "type"), f.Type, append([]string{provider.ErrUnavailable, provider.ErrRateLimited}, actions.NonRetryable...))
		}
	}

	if len(c.errs) > 0 {
		return fmt.Errorf("load lab fixture: %w", errors.Join(c.errs...))
	}
	return nil
}

// Source names the file the fixture came from.
func (fx *Fixture) Source() string { return fx.source }

// tick is the wall time of one simulated second.
func (fx *Fixture) tick() time.Duration {
	if fx.Timing.Tick == nil {
		return time.Second
	}
	return *fx.Timing.Tick
}

// host finds a host by short name, FQDN or IP address, ignoring case.
func (fx *Fixture) host(name string) *Host {
	return fx.hosts[strings.ToLower(strings.TrimSpace(name))]
}

// user finds an account by name, UPN, mailbox or DOMAIN\name, ignoring case.
func (fx *Fixture) user(name string) *User {
	name = strings.ToLower(strings.TrimSpace(name))
	if i := strings.LastIndexByte(name, '\\'); i >= 0 {
		if fx.Domain != "" && !strings.EqualFold(name[:i], fx.Domain) {
			return nil
		}
		name = name[i+1:]
	}
	return fx.users[name]
}

func (fx *Fixture) message(id string) *Message { return fx.messages[messageKey(id)] }

func (fx *Fixture) file(sha string) *File { return fx.files[strings.ToLower(strings.TrimSpace(sha))] }

func (fx *Fixture) ip(addr netip.Addr) *IP { return fx.ips[addr.Unmap()] }

// messageKey compares Message-IDs with or without their angle brackets.
func messageKey(id string) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(id), "<"), ">")
}
