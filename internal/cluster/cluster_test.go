package cluster

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func boolPtr(b bool) *bool { return &b }

func TestFromEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		vars    map[string]string
		want    Config
		wantTLS bool
	}{
		{
			name: "defaults",
			vars: nil,
			want: Config{Address: DefaultAddress, Namespace: DefaultNamespace},
		},
		{
			name: "address and namespace",
			vars: map[string]string{EnvAddress: " temporal.internal:7233 ", EnvNamespace: "soc"},
			want: Config{Address: "temporal.internal:7233", Namespace: "soc"},
		},
		{
			name:    "mtls",
			vars:    map[string]string{EnvTLSCert: "c.pem", EnvTLSKey: "k.pem"},
			want:    Config{Address: DefaultAddress, Namespace: DefaultNamespace, TLSCertFile: "c.pem", TLSKeyFile: "k.pem"},
			wantTLS: true,
		},
		{
			name: "mtls with ca and server name",
			vars: map[string]string{EnvTLSCert: "c.pem", EnvTLSKey: "k.pem", EnvTLSCA: "ca.pem", EnvTLSServerName: "tmprl"},
			want: Config{Address: DefaultAddress, Namespace: DefaultNamespace, TLSCertFile: "c.pem", TLSKeyFile: "k.pem",
				TLSCAFile: "ca.pem", TLSServerName: "tmprl"},
			wantTLS: true,
		},
		{
			name:    "server tls with a private ca only",
			vars:    map[string]string{EnvTLSCA: "ca.pem"},
			want:    Config{Address: DefaultAddress, Namespace: DefaultNamespace, TLSCAFile: "ca.pem"},
			wantTLS: true,
		},
		{
			name:    "cloud api key",
			vars:    map[string]string{EnvAddress: "eu-west-1.aws.api.temporal.io:7233", EnvNamespace: "soc.a1b2c", EnvAPIKey: "secret"},
			want:    Config{Address: "eu-west-1.aws.api.temporal.io:7233", Namespace: "soc.a1b2c", APIKey: "secret"},
			wantTLS: true,
		},
		{
			name: "api key with tls forced off",
			vars: map[string]string{EnvAPIKey: "secret", EnvTLS: "false"},
			want: Config{Address: DefaultAddress, Namespace: DefaultNamespace, APIKey: "secret", TLS: boolPtr(false)},
		},
		{
			name:    "tls forced on",
			vars:    map[string]string{EnvTLS: "true"},
			want:    Config{Address: DefaultAddress, Namespace: DefaultNamespace, TLS: boolPtr(true)},
			wantTLS: true,
		},
		{
			name: "grpc target syntax",
			vars: map[string]string{EnvAddress: "dns:///temporal.internal:7233"},
			want: Config{Address: "dns:///temporal.internal:7233", Namespace: DefaultNamespace},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromEnv(env(tt.vars))
			if err != nil {
				t.Fatalf("FromEnv: %v", err)
			}
			if got.String() != tt.want.String() || got.APIKey != tt.want.APIKey || !sameBool(got.TLS, tt.want.TLS) {
				t.Errorf("FromEnv = %s (tls %v), want %s (tls %v)", got, got.TLS, tt.want, tt.want.TLS)
			}
			if got.TLSEnabled() != tt.wantTLS {
				t.Errorf("TLSEnabled() = %t, want %t", got.TLSEnabled(), tt.wantTLS)
			}
		})
	}
}

func sameBool(a, b *bool) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func TestFromEnvErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		vars map[string]string
		want []string // substrings of the error
	}{
		{"cert without key", map[string]string{EnvTLSCert: "c.pem"}, []string{EnvTLSCert, EnvTLSKey, "both"}},
		{"key without cert", map[string]string{EnvTLSKey: "k.pem"}, []string{EnvTLSKey, EnvTLSCert, "both"}},
		{"tls off with a cert", map[string]string{EnvTLS: "false", EnvTLSCert: "c.pem", EnvTLSKey: "k.pem"}, []string{EnvTLS + "=false", EnvTLSCert, EnvTLSKey}},
		{"tls off with a ca", map[string]string{EnvTLS: "0", EnvTLSCA: "ca.pem"}, []string{EnvTLSCA}},
		{"tls not a boolean", map[string]string{EnvTLS: "yes please"}, []string{EnvTLS, "boolean"}},
		{"address without port", map[string]string{EnvAddress: "temporal.internal"}, []string{EnvAddress, "host:port"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromEnv(env(tt.vars))
			if err == nil {
				t.Fatal("FromEnv succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestSecretsAreRedacted(t *testing.T) {
	t.Parallel()
	cfg, err := FromEnv(env(map[string]string{EnvAPIKey: "very-secret-key"}))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("connecting", "temporal", cfg)
	for name, out := range map[string]string{
		"String":   cfg.String(),
		"%v":       fmt.Sprintf("%v", cfg),
		"%+v":      fmt.Sprintf("%+v", cfg),
		"%#v":      fmt.Sprintf("%#v", cfg),
		"LogValue": buf.String(),
	} {
		if strings.Contains(out, "very-secret-key") {
			t.Errorf("%s leaks the API key: %s", name, out)
		}
		if !strings.Contains(out, "redacted") {
			t.Errorf("%s does not say the key is redacted: %s", name, out)
		}
	}
}

// writeCert writes a self-signed certificate and its key as PEM files.
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "parry-test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

type testInterceptor struct {
	interceptor.ClientInterceptorBase
}

func TestClientOptions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	logger := sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	dc := converter.GetDefaultDataConverter()
	icpt := &testInterceptor{}
	base := client.Options{Logger: logger, DataConverter: dc, Interceptors: []interceptor.ClientInterceptor{icpt}}

	cfg := Config{
		Address:       "temporal.internal:7233",
		Namespace:     "soc",
		TLSCertFile:   cert,
		TLSKeyFile:    key,
		TLSCAFile:     cert, // self-signed: its own CA
		TLSServerName: "tmprl",
		APIKey:        "secret",
	}
	got, err := cfg.ClientOptions(base)
	if err != nil {
		t.Fatalf("ClientOptions: %v", err)
	}
	if got.HostPort != cfg.Address || got.Namespace != cfg.Namespace {
		t.Errorf("HostPort, Namespace = %q, %q, want %q, %q", got.HostPort, got.Namespace, cfg.Address, cfg.Namespace)
	}
	tc := got.ConnectionOptions.TLS
	if tc == nil {
		t.Fatal("TLS is nil, want mTLS")
	}
	if len(tc.Certificates) != 1 || tc.RootCAs == nil || tc.ServerName != "tmprl" {
		t.Errorf("TLS has %d certificates, RootCAs %v, ServerName %q; want 1, a pool, tmprl", len(tc.Certificates), tc.RootCAs != nil, tc.ServerName)
	}
	if got.Credentials == nil {
		t.Error("Credentials is nil, want the API key")
	}
	if got.Logger != logger || got.DataConverter != dc || len(got.Interceptors) != 1 || got.Interceptors[0] != icpt {
		t.Error("ClientOptions dropped the caller's Logger, DataConverter or Interceptors")
	}

	// Plain: no TLS, no credentials, the caller's own TLS is kept.
	got, err = Config{}.ClientOptions(client.Options{HostPort: "other:7233"})
	if err != nil {
		t.Fatalf("ClientOptions: %v", err)
	}
	if got.HostPort != "other:7233" || got.Namespace != DefaultNamespace || got.ConnectionOptions.TLS != nil || got.Credentials != nil {
		t.Errorf("empty Config: HostPort %q, Namespace %q, TLS %v, Credentials %v", got.HostPort, got.Namespace, got.ConnectionOptions.TLS, got.Credentials)
	}

	// An API key with TLS forced off (a local proxy).
	got, err = Config{APIKey: "secret", TLS: boolPtr(false)}.ClientOptions(client.Options{})
	if err != nil {
		t.Fatalf("ClientOptions: %v", err)
	}
	if !got.ConnectionOptions.TLSDisabled || got.ConnectionOptions.TLS != nil {
		t.Errorf("TLS forced off: TLSDisabled %t, TLS %v", got.ConnectionOptions.TLSDisabled, got.ConnectionOptions.TLS)
	}
}

func TestTLSConfigFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"missing cert", Config{TLSCertFile: filepath.Join(dir, "nope.pem"), TLSKeyFile: key}, "load client certificate"},
		{"key is not a key", Config{TLSCertFile: cert, TLSKeyFile: cert}, "load client certificate"},
		{"missing ca", Config{TLSCAFile: filepath.Join(dir, "nope.pem")}, "read CA bundle"},
		{"ca without certificates", Config{TLSCAFile: notPEM}, "no PEM certificate"},
		{"half mtls", Config{TLSCertFile: cert}, EnvTLSKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.cfg.TLSConfig()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("TLSConfig() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestDialUnreachable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := Dial(ctx, Config{Address: "127.0.0.1:1", APIKey: "very-secret-key", TLS: boolPtr(false)},
		client.Options{Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err == nil {
		t.Fatal("Dial succeeded against a closed port")
	}
	if !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("error %q does not name the address", err)
	}
	if strings.Contains(err.Error(), "very-secret-key") {
		t.Errorf("error leaks the API key: %v", err)
	}
}
