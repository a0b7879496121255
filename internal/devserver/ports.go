package devserver

import (
	"fmt"
	"net"
	"strconv"
)

// splitAddr parses host:port for a listener. An empty host or "localhost"
// means 127.0.0.1: the server binds to IPs only (a name would make it exit).
func splitAddr(addr string) (host string, port int, err error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("parse address %q: %w", addr, err)
	}
	if h == "" || h == "localhost" {
		h = "127.0.0.1"
	}
	if net.ParseIP(h) == nil {
		return "", 0, fmt.Errorf("parse address %q: host must be an IP address", addr)
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("parse address %q: bad port %q", addr, p)
	}
	return h, port, nil
}

// listenAddr resolves addr to a concrete host:port: port 0 picks a free
// port, any other port is checked to be free now. The server and the UI
// exit the process when they cannot bind (the Temporal logger's Fatal, echo's
// Fatal), so a busy port must be caught here and returned as an error.
func listenAddr(addr string) (string, error) {
	host, port, err := splitAddr(addr)
	if err != nil {
		return "", err
	}
	if port == 0 {
		port, err = freePort(host)
		if err != nil {
			return "", err
		}
		return net.JoinHostPort(host, strconv.Itoa(port)), nil
	}
	hp := net.JoinHostPort(host, strconv.Itoa(port))
	l, err := net.Listen("tcp", hp)
	if err != nil {
		return "", fmt.Errorf("address %s is not free: %w", hp, err)
	}
	_ = l.Close()
	return hp, nil
}

// freePort returns a port that is free on host and that the kernel will not
// hand out again for a while. The listener is closed before the server binds
// the port, so the port is parked in TIME_WAIT first: a server-side close of
// an accepted connection keeps it out of the ephemeral pool (60 s on Linux)
// while an explicit bind with SO_REUSEADDR, as Go's listeners do, still
// works. That matters when several test processes pick ports in parallel.
func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("pick a free port on %s: %w", host, err)
	}
	defer l.Close()
	addr := l.Addr().(*net.TCPAddr)
	c, err := net.DialTCP("tcp", nil, addr)
	if err != nil {
		return 0, fmt.Errorf("pick a free port on %s: %w", host, err)
	}
	defer c.Close()
	sc, err := l.Accept()
	if err != nil {
		return 0, fmt.Errorf("pick a free port on %s: %w", host, err)
	}
	_ = sc.Close()
	return addr.Port, nil
}
