package alerts

import "testing"

func TestHostKey(t *testing.T) {
	for _, tt := range []struct {
		name string
		a    Alert
		want string
	}{
		{"fqdn is cut to the short name", Alert{Host: "WS-0042.corp.example.com", User: "alice"}, "ws-0042"},
		{"short name lowercased", Alert{Host: "WS-0042"}, "ws-0042"},
		{"ipv4 kept whole", Alert{Host: "192.0.2.42"}, "192.0.2.42"},
		{"ipv6 kept whole", Alert{Host: "2001:DB8::1"}, "2001:db8::1"},
		{"leading dot kept", Alert{Host: ".hidden"}, ".hidden"},
		{"user when there is no host", Alert{User: "Alice@Example.com"}, "alice@example.com"},
		{"neither", Alert{}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.HostKey(); got != tt.want {
				t.Errorf("HostKey() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSeverityRank(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int
	}{
		{"low", 1}, {"medium", 2}, {"high", 3}, {"critical", 4}, {"", 0}, {"informational", 0}, {"HIGH", 0},
	} {
		if got := SeverityRank(tt.in); got != tt.want {
			t.Errorf("SeverityRank(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}
