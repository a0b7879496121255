package lab

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/parry-soc/parry/activities/provider"
)

// Everything the lab captures is generated from the fixture, the idempotency key and what the effect
// recorded (when, and the host's state at that moment), so a retried capture is byte-identical to the
// first and hashes the same.

// capture is the recorded effect of a capture: enough to regenerate its bytes.
type capture struct {
	At   time.Time `json:"at"`
	Host HostState `json:"host"` // the host's state when captured
}

// memoryImageSize keeps simulated images small: the point is the hash and the plumbing, not the bytes.
const memoryImageSize = 1 << 20

// LogKinds are the logs CollectLogs exports.
var LogKinds = []string{"security", "powershell", "web", "rdp", "taskscheduler", "sysmon"}

func (l *Lab) captureHost(ctx context.Context, action, key, host string, seconds int, resume provider.Progress,
	report provider.ProgressFunc) (*Host, capture, error) {
	h, err := l.findHost(host)
	if err != nil {
		return nil, capture{}, err
	}
	c, err := long(ctx, l, action, key, h.Name, seconds, resume, report, func(st *State, now time.Time) (capture, error) {
		return capture{At: now, Host: snapshot(st.Host(h.Name))}, nil
	})
	return h, c, err
}

// snapshot deep-copies a host's state, so the recorded capture does not share slices with the live state.
func snapshot(hs HostState) HostState {
	c := hs
	c.KilledPIDs = slices.Clone(hs.KilledPIDs)
	c.RemovedPersistence = slices.Clone(hs.RemovedPersistence)
	c.DisabledAccounts = slices.Clone(hs.DisabledAccounts)
	c.Quarantined = make(map[string][]string, len(hs.Quarantined))
	for k, v := range hs.Quarantined {
		c.Quarantined[k] = slices.Clone(v)
	}
	return c
}

// MemoryDump captures a stand-in for a host's physical memory: a banner, the processes that were running,
// and deterministic filler. It takes timing.memory_dump_seconds.
func (l *Lab) MemoryDump(ctx context.Context, key, host string, resume provider.Progress, report provider.ProgressFunc) (provider.Capture, error) {
	h, c, err := l.captureHost(ctx, "evidence.memory_dump", key, host, l.fx.Timing.MemoryDumpSeconds, resume, report)
	if err != nil {
		return provider.Capture{}, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\nsimulated memory image\nos: %s\nkey: %s\n\nprocesses:\n", banner(h.Name, c.At), h.OS, key)
	for _, p := range h.Processes {
		if !slices.Contains(c.Host.KilledPIDs, p.PID) {
			fmt.Fprintf(&b, "%6d %-16s %-14s %s %s\n", p.PID, p.Name, p.User, p.ImageSHA256, p.Command)
		}
	}
	b.WriteString("\n")
	fill(&b, key+"\x00"+h.Name, memoryImageSize)
	return body(b.Bytes()), nil
}

// NetworkCapture captures a host's traffic as a pcap file: DNS lookups and HTTPS-port traffic to the
// indicators of the malware on it, unless the host was isolated or the malware gone. Whatever duration is
// asked, the capture takes timing.network_capture_seconds; the packets span the asked duration.
func (l *Lab) NetworkCapture(ctx context.Context, key, host string, d time.Duration, resume provider.Progress, report provider.ProgressFunc) (provider.Capture, error) {
	h, c, err := l.captureHost(ctx, "evidence.network_capture", key, host, l.fx.Timing.NetworkCaptureSeconds, resume, report)
	if err != nil {
		return provider.Capture{}, err
	}
	return body(l.pcap(h, c, d)), nil
}

// CollectTriage collects a triage package (a zip of processes, autoruns, files and accounts as the host
// had them). It takes timing.triage_seconds.
func (l *Lab) CollectTriage(ctx context.Context, key, host string, resume provider.Progress, report provider.ProgressFunc) (provider.Capture, error) {
	h, c, err := l.captureHost(ctx, "evidence.collect_triage", key, host, l.fx.Timing.TriageSeconds, resume, report)
	if err != nil {
		return provider.Capture{}, err
	}
	data, err := triage(h, c, key)
	if err != nil {
		return provider.Capture{}, fmt.Errorf("build triage package of %s: %w", h.Name, err)
	}
	return body(data), nil
}

// CollectLogs exports one log of a host as JSON lines, one event per line, spread over the since window.
// It takes timing.logs_seconds.
func (l *Lab) CollectLogs(ctx context.Context, key, host, log string, since time.Duration, resume provider.Progress, report provider.ProgressFunc) (provider.LogCapture, error) {
	if !slices.Contains(LogKinds, log) {
		return provider.LogCapture{}, provider.InvalidInput("unknown log %q (want one of %s)", log, strings.Join(LogKinds, ", "))
	}
	h, c, err := l.captureHost(ctx, "evidence.collect_logs", key, host, l.fx.Timing.LogsSeconds, resume, report)
	if err != nil {
		return provider.LogCapture{}, err
	}
	data, n := logEvents(l.fx, h, c, log, since)
	return provider.LogCapture{Capture: body(data), Events: n}, nil
}

// EmailHeaders preserves a message's headers as the fixture gives them (each carries an X-Parry-Lab
// header saying the message is simulated).
func (l *Lab) EmailHeaders(_ context.Context, key, messageID string) (provider.HeaderCapture, error) {
	m, err := l.findMessage(messageID)
	if err != nil {
		return provider.HeaderCapture{}, err
	}
	_, err = effect(l, "evidence.email_headers", key, messageKey(m.MessageID), func(*State, time.Time) (bool, error) {
		return true, nil
	})
	if err != nil {
		return provider.HeaderCapture{}, err
	}
	return provider.HeaderCapture{Capture: body([]byte(m.Headers)), SenderIP: m.SenderIP}, nil
}

func body(b []byte) provider.Capture { return provider.Capture{Body: io.NopCloser(bytes.NewReader(b))} }

// fill appends n-len(b) bytes of SHA-256 counter-mode output seeded by seed.
func fill(b *bytes.Buffer, seed string, n int) {
	var ctr [8]byte
	for i := uint64(0); b.Len() < n; i++ {
		binary.BigEndian.PutUint64(ctr[:], i)
		sum := sha256.Sum256(append([]byte(seed), ctr[:]...))
		b.Write(sum[:min(len(sum), n-b.Len())])
	}
}

// beaconing returns the indicators a host's malware talks to, or nil when the host is isolated or none of
// its malware is left.
func (l *Lab) beaconing(h *Host, hs HostState) []string {
	if hs.Isolated {
		return nil
	}
	var iocs []string
	for _, f := range h.Files {
		if slices.Contains(hs.Quarantined[f.SHA256], f.Path) {
			continue
		}
		if k := l.fx.file(f.SHA256); k != nil && k.Verdict == provider.Malicious && k.Sandbox != nil {
			for _, ioc := range k.Sandbox.IOCs {
				if !slices.Contains(iocs, ioc) {
					iocs = append(iocs, ioc)
				}
			}
		}
	}
	return iocs
}

func (l *Lab) pcap(h *Host, c capture, d time.Duration) []byte {
	src, err := netip.ParseAddr(h.IP)
	if err != nil || !src.Is4() {
		src = netip.MustParseAddr("192.0.2.1")
	}
	dns := netip.MustParseAddr("192.0.2.10")
	if dc := l.dnsServer(); dc.IsValid() {
		dns = dc
	}
	type pkt struct {
		dst     netip.Addr
		port    uint16
		payload []byte
	}
	// The first packet names the capture for what it is, so nobody mistakes it for real traffic.
	pkts := []pkt{{dns, 53, dnsQuery(1, "parry-lab-simulation.invalid")}}
	for i, ioc := range l.beaconing(h, c.Host) {
		if addr, err := netip.ParseAddr(ioc); err == nil && addr.Is4() {
			for j := 0; j < 3; j++ {
				pkts = append(pkts, pkt{addr, 443, []byte(banner(h.Name, c.At) + " - beacon")})
			}
			continue
		}
		pkts = append(pkts, pkt{dns, 53, dnsQuery(uint16(i+2), ioc)})
	}
	if d <= 0 {
		d = 5 * time.Minute
	}
	var b bytes.Buffer
	le := binary.LittleEndian
	hdr := make([]byte, 24)
	le.PutUint32(hdr[0:], 0xa1b2c3d4) // microsecond timestamps
	le.PutUint16(hdr[4:], 2)
	le.PutUint16(hdr[6:], 4)
	le.PutUint32(hdr[16:], 65535)
	le.PutUint32(hdr[20:], 1) // Ethernet
	b.Write(hdr)
	start := c.At.Add(-d)
	for i, p := range pkts {
		frame := udpFrame(src, p.dst, uint16(49152+i), p.port, p.payload)
		ts := start.Add(d * time.Duration(i) / time.Duration(len(pkts)))
		rec := make([]byte, 16)
		le.PutUint32(rec[0:], uint32(ts.Unix()))
		le.PutUint32(rec[4:], uint32(ts.Nanosecond()/1000))
		le.PutUint32(rec[8:], uint32(len(frame)))
		le.PutUint32(rec[12:], uint32(len(frame)))
		b.Write(rec)
		b.Write(frame)
	}
	return b.Bytes()
}

// dnsServer is the first domain controller's address: the lab's resolver.
func (l *Lab) dnsServer() netip.Addr {
	for _, h := range l.fx.Hosts {
		if h.Role == "domain-controller" {
			if a, err := netip.ParseAddr(h.IP); err == nil && a.Is4() {
				return a
			}
		}
	}
	return netip.Addr{}
}

// udpFrame builds an Ethernet/IPv4/UDP frame (UDP checksum 0: optional over IPv4).
func udpFrame(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	be := binary.BigEndian
	f := make([]byte, 14+20+8+len(payload))
	copy(f[0:6], []byte{0x02, 0x00, 0x5e, 0x00, 0x00, 0x01})  // gateway (locally administered)
	copy(f[6:12], []byte{0x02, 0x00, 0x5e, 0x00, 0x00, 0x42}) // host
	be.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	ip[0] = 0x45
	be.PutUint16(ip[2:], uint16(20+8+len(payload)))
	ip[8] = 64 // TTL
	ip[9] = 17 // UDP
	s, d := src.As4(), dst.As4()
	copy(ip[12:16], s[:])
	copy(ip[16:20], d[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(be.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	be.PutUint16(ip[10:], ^uint16(sum))
	udp := f[34:42]
	be.PutUint16(udp[0:], sport)
	be.PutUint16(udp[2:], dport)
	be.PutUint16(udp[4:], uint16(8+len(payload)))
	copy(f[42:], payload)
	return f
}

// dnsQuery builds a standard query for an A record.
func dnsQuery(id uint16, name string) []byte {
	q := []byte{byte(id >> 8), byte(id), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}
	for _, label := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if len(label) > 63 {
			label = label[:63]
		}
		q = append(q, byte(len(label)))
		q = append(q, label...)
	}
	return append(q, 0, 0, 1, 0, 1)
}

func triage(h *Host, c capture, key string) ([]byte, error) {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	add := func(name string, write func(w io.Writer) error) error {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: c.At})
		if err != nil {
			return err
		}
		return write(w)
	}
	table := func(rows [][]string) func(io.Writer) error {
		return func(w io.Writer) error {
			cw := csv.NewWriter(w)
			if err := cw.WriteAll(rows); err != nil {
				return err
			}
			return cw.Error()
		}
	}
	processes := [][]string{{"pid", "name", "user", "image_sha256", "command"}}
	for _, p := range h.Processes {
		if !slices.Contains(c.Host.KilledPIDs, p.PID) {
			processes = append(processes, []string{fmt.Sprint(p.PID), p.Name, p.User, p.ImageSHA256, p.Command})
		}
	}
	autoruns := [][]string{{"kind", "name", "location", "command", "sha256"}}
	for _, p := range h.Persistence {
		if !slices.Contains(c.Host.RemovedPersistence, p.Kind+"/"+p.Name) {
			autoruns = append(autoruns, []string{p.Kind, p.Name, p.Location, p.Command, p.SHA256})
		}
	}
	files := [][]string{{"path", "sha256", "state"}}
	for _, f := range h.Files {
		state := "present"
		if slices.Contains(c.Host.Quarantined[f.SHA256], f.Path) {
			state = "quarantined"
		}
		files = append(files, []string{f.Path, f.SHA256, state})
	}
	accounts := [][]string{{"account", "state"}}
	for _, a := range h.LocalAccounts {
		state := "enabled"
		if slices.Contains(c.Host.DisabledAccounts, a) {
			state = "disabled"
		}
		accounts = append(accounts, []string{a, state})
	}
	readme := fmt.Sprintf("%s\n\nTriage package of %s (%s, %s, %s).\nidempotency key: %s\nisolated: %t\n",
		banner(h.Name, c.At), h.Name, h.FQDN, h.OS, h.IP, key, c.Host.Isolated)
	for _, step := range []struct {
		name  string
		write func(io.Writer) error
	}{
		{"README.txt", func(w io.Writer) error { _, err := io.WriteString(w, readme); return err }},
		{"processes.csv", table(processes)},
		{"autoruns.csv", table(autoruns)},
		{"files.csv", table(files)},
		{"local_accounts.csv", table(accounts)},
	} {
		if err := add(step.name, step.write); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

type logEvent struct {
	Time      time.Time `json:"time"`
	Host      string    `json:"host"`
	Log       string    `json:"log"`
	EventID   int       `json:"event_id,omitempty"`
	Message   string    `json:"message"`
	Simulated bool      `json:"simulated"`
}

// logEvents writes the events a host's log would hold for what the fixture says runs and persists on it.
func logEvents(fx *Fixture, h *Host, c capture, log string, since time.Duration) ([]byte, int) {
	type ev struct {
		id  int
		msg string
	}
	var evs []ev
	owner := h.Owner
	if u := fx.user(owner); u != nil && fx.Domain != "" {
		owner = fx.Domain + `\` + u.Name
	}
	switch log {
	case "security":
		evs = append(evs, ev{4624, "An account was successfully logged on: " + owner})
		for _, p := range h.Processes {
			evs = append(evs, ev{4688, fmt.Sprintf("A new process has been created: %s (pid %d) by %s: %s", p.Name, p.PID, p.User, p.Command)})
		}
		for _, p := range h.Persistence {
			if p.Kind == "scheduled_task" {
				evs = append(evs, ev{4698, "A scheduled task was created: " + p.Name})
			}
			if p.Kind == "service" {
				evs = append(evs, ev{4697, "A service was installed in the system: " + p.Name})
			}
		}
	case "sysmon":
		for _, p := range h.Processes {
			evs = append(evs, ev{1, fmt.Sprintf("Process Create: %s (pid %d) SHA256=%s", p.Name, p.PID, p.ImageSHA256)})
		}
		for _, p := range h.Persistence {
			if p.Kind == "registry_run_key" {
				evs = append(evs, ev{13, fmt.Sprintf("Registry value set: %s\\%s = %s", p.Location, p.Name, p.Command)})
			}
		}
	case "taskscheduler":
		for _, p := range h.Persistence {
			if p.Kind == "scheduled_task" {
				evs = append(evs, ev{106, "Task registered: " + p.Name})
			}
		}
	case "rdp":
		evs = append(evs, ev{1149, "Remote Desktop Services: user authentication succeeded: " + owner})
	case "web":
		if h.Role == "web-server" {
			for _, f := range h.Files {
				if strings.HasSuffix(f.Path, ".php") {
					evs = append(evs, ev{0, fmt.Sprintf(`203.0.113.77 "POST %s?c=id HTTP/1.1" 200`, webPath(f.Path))})
				}
			}
			evs = append(evs, ev{0, `198.51.100.7 "GET / HTTP/1.1" 200`})
		}
	case "powershell":
		for _, p := range h.Processes {
			if strings.EqualFold(p.Name, "powershell.exe") || strings.EqualFold(p.Name, "pwsh.exe") {
				evs = append(evs, ev{4104, fmt.Sprintf("Creating Scriptblock text (pid %d, %s): %s", p.PID, p.User, p.Command)})
			}
		}
	}
	if since <= 0 {
		since = 24 * time.Hour
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for i, e := range evs {
		at := c.At.Add(-since).Add(since * time.Duration(i+1) / time.Duration(len(evs)+1))
		_ = enc.Encode(logEvent{Time: at, Host: h.Name, Log: log, EventID: e.id, Message: e.msg, Simulated: true})
	}
	return b.Bytes(), len(evs)
}

func webPath(path string) string {
	if i := strings.Index(path, "/wp-content/"); i >= 0 {
		return path[i:]
	}
	return path
}
