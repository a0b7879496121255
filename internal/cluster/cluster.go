// Package cluster connects Parry to a Temporal cluster — a production
// cluster (mTLS or a Temporal Cloud API key) and the embedded dev server
// alike — and reconciles what Parry needs on it: its namespace and its custom
// search attributes.
//
// Connection settings come from the environment (see FromEnv):
//
//	TEMPORAL_ADDRESS          host:port of the frontend (default 127.0.0.1:7233)
//	TEMPORAL_NAMESPACE        namespace (default "default")
//	TEMPORAL_TLS_CERT         client certificate file (mTLS; needs TEMPORAL_TLS_KEY)
//	TEMPORAL_TLS_KEY          client private key file (mTLS; needs TEMPORAL_TLS_CERT)
//	TEMPORAL_TLS_CA           CA bundle to verify the server (optional; system roots otherwise)
//	TEMPORAL_TLS_SERVER_NAME  server name to verify (optional; SNI override)
//	TEMPORAL_API_KEY          Temporal Cloud API key (turns TLS on)
//	TEMPORAL_TLS              optional true/false: force TLS on with no other
//	                          TLS setting, or off with an API key (local proxies)
//
// TLS is on as soon as any TLS setting or an API key is given. Secrets (the
// API key) never appear in errors or logs: Config's String and LogValue
// redact them.
package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"

	"go.temporal.io/sdk/client"
)

// Defaults used when the environment leaves a setting empty.
const (
	DefaultAddress   = "127.0.0.1:7233"
	DefaultNamespace = "default"
)

// Environment variable names read by FromEnv.
const (
	EnvAddress       = "TEMPORAL_ADDRESS"
	EnvNamespace     = "TEMPORAL_NAMESPACE"
	EnvTLSCert       = "TEMPORAL_TLS_CERT"
	EnvTLSKey        = "TEMPORAL_TLS_KEY"
	EnvTLSCA         = "TEMPORAL_TLS_CA"
	EnvTLSServerName = "TEMPORAL_TLS_SERVER_NAME"
	EnvAPIKey        = "TEMPORAL_API_KEY"
	EnvTLS           = "TEMPORAL_TLS"
)

// Config says how to reach a Temporal cluster.
type Config struct {
	// Address is the frontend's host:port.
	Address string
	// Namespace is the namespace clients are bound to.
	Namespace string
	// TLSCertFile and TLSKeyFile are the client certificate and key for
	// mTLS; both or neither.
	TLSCertFile string
	TLSKeyFile  string
	// TLSCAFile is a PEM bundle of CAs that verify the server; empty means
	// the system roots.
	TLSCAFile string
	// TLSServerName overrides the name the server certificate is verified
	// against.
	TLSServerName string
	// APIKey is a Temporal Cloud API key, sent as a bearer token. It turns
	// TLS on unless TLS is explicitly false.
	APIKey string
	// TLS forces TLS on (true) or off (false); nil decides from the other
	// settings.
	TLS *bool
}

// FromEnv reads a Config from the environment through getenv (os.Getenv in
// production, a map lookup in tests). It checks that the settings fit
// together but reads no file: Dial does that.
func FromEnv(getenv func(string) string) (Config, error) {
	get := func(name string) string { return strings.TrimSpace(getenv(name)) }
	cfg := Config{
		Address:       get(EnvAddress),
		Namespace:     get(EnvNamespace),
		TLSCertFile:   get(EnvTLSCert),
		TLSKeyFile:    get(EnvTLSKey),
		TLSCAFile:     get(EnvTLSCA),
		TLSServerName: get(EnvTLSServerName),
		APIKey:        get(EnvAPIKey),
	}
	if v := get(EnvTLS); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Config{}, fmt.Errorf("read %s: %q is not a boolean (use true or false)", EnvTLS, v)
		}
		cfg.TLS = &b
	}
	if cfg.Address == "" {
		cfg.Address = DefaultAddress
	}
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("read temporal settings from the environment: %w", err)
	}
	return cfg, nil
}

// Validate reports settings that cannot work together, naming the
// environment variables so the operator knows what to fix.
func (c Config) Validate() error {
	if c.Address != "" && !strings.Contains(c.Address, "://") {
		if _, _, err := net.SplitHostPort(c.Address); err != nil {
			return fmt.Errorf("%s %q is not host:port: %w", EnvAddress, c.Address, err)
		}
	}
	switch {
	case c.TLSCertFile != "" && c.TLSKeyFile == "":
		return fmt.Errorf("%s is set but %s is not: mTLS needs both the certificate and its key", EnvTLSCert, EnvTLSKey)
	case c.TLSKeyFile != "" && c.TLSCertFile == "":
		return fmt.Errorf("%s is set but %s is not: mTLS needs both the certificate and its key", EnvTLSKey, EnvTLSCert)
	}
	if c.TLS != nil && !*c.TLS {
		var set []string
		for _, s := range []struct{ name, value string }{
			{EnvTLSCert, c.TLSCertFile},
			{EnvTLSKey, c.TLSKeyFile},
			{EnvTLSCA, c.TLSCAFile},
			{EnvTLSServerName, c.TLSServerName},
		} {
			if s.value != "" {
				set = append(set, s.name)
			}
		}
		if len(set) > 0 {
			return fmt.Errorf("%s=false contradicts %s", EnvTLS, strings.Join(set, ", "))
		}
	}
	return nil
}

// TLSEnabled reports whether connections use TLS.
func (c Config) TLSEnabled() bool {
	if c.TLS != nil {
		return *c.TLS
	}
	return c.TLSCertFile != "" || c.TLSCAFile != "" || c.TLSServerName != "" || c.APIKey != ""
}

// TLSConfig loads the certificate files and returns the client TLS
// configuration, or nil when TLS is off.
func (c Config) TLSConfig() (*tls.Config, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if !c.TLSEnabled() {
		return nil, nil
	}
	tc := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: c.TLSServerName,
	}
	if c.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate %s and key %s: %w", c.TLSCertFile, c.TLSKeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if c.TLSCAFile != "" {
		pem, err := os.ReadFile(c.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA bundle: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("read CA bundle %s: no PEM certificate found", c.TLSCAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// String describes the configuration with the API key redacted.
func (c Config) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "address=%s namespace=%s tls=%t", c.Address, c.Namespace, c.TLSEnabled())
	if c.TLSCertFile != "" {
		fmt.Fprintf(&b, " cert=%s key=%s", c.TLSCertFile, c.TLSKeyFile)
	}
	if c.TLSCAFile != "" {
		fmt.Fprintf(&b, " ca=%s", c.TLSCAFile)
	}
	if c.TLSServerName != "" {
		fmt.Fprintf(&b, " server_name=%s", c.TLSServerName)
	}
	if c.APIKey != "" {
		b.WriteString(" api_key=<redacted>")
	}
	return b.String()
}

// GoString keeps the API key out of %#v.
func (c Config) GoString() string { return "cluster.Config{" + c.String() + "}" }

// LogValue keeps the API key out of slog output.
func (c Config) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("address", c.Address),
		slog.String("namespace", c.Namespace),
		slog.Bool("tls", c.TLSEnabled()),
	}
	if c.TLSCertFile != "" {
		attrs = append(attrs, slog.String("cert", c.TLSCertFile), slog.String("key", c.TLSKeyFile))
	}
	if c.TLSCAFile != "" {
		attrs = append(attrs, slog.String("ca", c.TLSCAFile))
	}
	if c.TLSServerName != "" {
		attrs = append(attrs, slog.String("server_name", c.TLSServerName))
	}
	if c.APIKey != "" {
		attrs = append(attrs, slog.String("api_key", "<redacted>"))
	}
	return slog.GroupValue(attrs...)
}

// ClientOptions fills the connection part of opts — HostPort, Namespace,
// ConnectionOptions.TLS and Credentials — from the configuration and keeps
// everything else the caller set (Logger, DataConverter, Interceptors…).
// Empty Address or Namespace keep the caller's value, then the default.
func (c Config) ClientOptions(opts client.Options) (client.Options, error) {
	tc, err := c.TLSConfig()
	if err != nil {
		return client.Options{}, err
	}
	opts.HostPort = firstNonEmpty(c.Address, opts.HostPort, DefaultAddress)
	opts.Namespace = firstNonEmpty(c.Namespace, opts.Namespace, DefaultNamespace)
	if tc != nil {
		opts.ConnectionOptions.TLS = tc
		opts.ConnectionOptions.TLSDisabled = false
	}
	if c.TLS != nil && !*c.TLS {
		opts.ConnectionOptions.TLS = nil
		opts.ConnectionOptions.TLSDisabled = true
	}
	if c.APIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(c.APIKey)
	}
	return opts, nil
}

// Dial connects to the cluster. It fills opts as ClientOptions does and
// fails fast when the frontend does not answer before ctx ends.
func Dial(ctx context.Context, cfg Config, opts client.Options) (client.Client, error) {
	opts, err := cfg.ClientOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("prepare temporal connection: %w", err)
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("connect to temporal at %s (namespace %s): %w", opts.HostPort, opts.Namespace, redact(err, cfg.APIKey))
	}
	return c, nil
}

// redact guards against an error that echoes the API key back.
func redact(err error, secret string) error {
	if secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "<redacted>"))
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
