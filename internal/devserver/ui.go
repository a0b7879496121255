package devserver

import (
	"context"
	"fmt"
	"net/http"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"
)

// uiReadyTimeout bounds the wait for the UI's /healthz; the embedded assets
// are served from memory, so it normally answers within milliseconds.
const uiReadyTimeout = 10 * time.Second

// startUI runs the Temporal Web UI in-process on addr (a concrete, free
// host:port) and waits until it answers.
func startUI(ctx context.Context, addr, frontend, namespace, codec string) (_ *uiserver.Server, err error) {
	host, port, err := splitAddr(addr)
	if err != nil {
		return nil, err
	}
	cfg := &uiconfig.Config{
		TemporalGRPCAddress: frontend,
		Host:                host,
		Port:                port,
		EnableUI:            true,
		DefaultNamespace:    namespace,
		// Plain HTTP on loopback: a Secure cookie would never be sent back.
		CORS: uiconfig.CORS{CookieInsecure: true},
		// Echo writes its banner and access log to stdout, which belongs to
		// the CLI.
		HideLogs: true,
	}
	// The dev UI is plain HTTP on loopback and the dev codec endpoint answers
	// loopback callers only, so no access token is passed.
	cfg.Codec.Endpoint = codec
	// NewServer panics on a bad config or missing assets rather than
	// returning an error.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("start web ui: %v", r)
		}
	}()
	ui := uiserver.NewServer(uioptions.WithConfigProvider(cfg))
	go func() { _ = ui.Start() }()

	if err := waitHTTP(ctx, "http://"+addr+"/healthz"); err != nil {
		ui.Stop()
		return nil, fmt.Errorf("start web ui on %s: %w", addr, err)
	}
	return ui, nil
}

// waitHTTP polls url until it answers 200.
func waitHTTP(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, uiReadyTimeout)
	defer cancel()
	hc := &http.Client{Timeout: time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no answer from %s: %w (last error: %v)", url, ctx.Err(), err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
