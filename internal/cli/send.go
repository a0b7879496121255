package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/parry-soc/parry/internal/frontdoor"
)

func init() {
	register(command{"send", "send ALERT.json --to URL [--source S] [--json] [--timeout 1m]", sendCommand})
}

// sendCommand posts an alert to a front door's intake (`trigger serve`), signed with PARRY_INTAKE_HMAC_SECRET
// or carrying PARRY_INTAKE_TOKEN, and prints what the front door answered. A 503 (the front door busy, or
// Temporal unreachable) and a lost connection are retried until --timeout: the same alert starts at most one
// run, so a retry never doubles anything. A refusal (4xx) exits 2, like `trigger run`.
func sendCommand(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "trigger send")
	to := fs.String("to", "", "the front door's URL (http://host:8080, or its full intake URL)")
	source := fs.String("source", "", "the alert's format (parry, defender, …); default: the front door detects it")
	asJSON := fs.Bool("json", false, "print the front door's answer as JSON")
	timeout := fs.Duration("timeout", time.Minute, "how long to keep retrying while the front door answers 503 or cannot be reached")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *to == "" {
		return exitCode(2, errors.New("usage: trigger send ALERT.json --to URL [--source S] [--json] (ALERT - reads standard input)"))
	}
	target, err := intakeURL(*to, *source)
	if err != nil {
		return exitCode(2, err)
	}
	var body []byte
	if pos[0] == "-" {
		body, err = io.ReadAll(env.Stdin)
	} else {
		body, err = os.ReadFile(pos[0])
	}
	if err != nil {
		return exitCode(2, fmt.Errorf("read alert: %w", err))
	}
	token, secret := env.Getenv("PARRY_INTAKE_TOKEN"), env.Getenv("PARRY_INTAKE_HMAC_SECRET")
	if token == "" && secret == "" && !isLoopbackURL(target) {
		fmt.Fprintln(env.Stderr, "note: neither PARRY_INTAKE_TOKEN nor PARRY_INTAKE_HMAC_SECRET is set: sending without credentials, which only a --dev front door on loopback takes")
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	status, answer, err := postAlert(ctx, target, body, token, secret)
	if err != nil {
		return err
	}
	if *asJSON {
		env.Stdout.Write(answer)
		if !bytes.HasSuffix(answer, []byte("\n")) {
			fmt.Fprintln(env.Stdout)
		}
	}
	switch {
	case status == http.StatusAccepted || status == http.StatusOK:
		var a frontdoor.AlertAccepted
		if err := json.Unmarshal(answer, &a); err != nil {
			return fmt.Errorf("front door answered %d with %q: %w", status, answer, err)
		}
		if !*asJSON {
			statusURL := a.StatusURL
			if u, err := url.Parse(target); err == nil {
				if ref, err := u.Parse(a.StatusURL); err == nil {
					statusURL = ref.String()
				}
			}
			if a.Duplicate {
				fmt.Fprintf(env.Stdout, "Duplicate: this alert already has run %s (playbook %s); status %s\n", a.RunID, a.Playbook, statusURL)
			} else {
				fmt.Fprintf(env.Stdout, "Accepted: started run %s (playbook %s); status %s\n", a.RunID, a.Playbook, statusURL)
			}
			if a.Incident != "" {
				fmt.Fprintf(env.Stdout, "Incident: %s\n", a.Incident)
			}
		}
		return nil
	}
	var refusal frontdoor.IntakeError
	msg := strings.TrimSpace(string(answer))
	if json.Unmarshal(answer, &refusal) == nil && refusal.Error != "" {
		msg = refusal.Error
	}
	err = fmt.Errorf("front door refused the alert (%d %s): %s", status, http.StatusText(status), msg)
	if status >= 400 && status < 500 {
		return exitCode(2, err)
	}
	return err
}

// intakeURL is the URL to post to: a bare front door URL gets the intake path, and --source its format.
func intakeURL(to, source string) (string, error) {
	u, err := url.Parse(to)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("--to %q: want the front door's URL, such as http://127.0.0.1:8080", to)
	}
	path := strings.TrimSuffix(u.Path, "/")
	if !strings.HasSuffix(path, frontdoor.IntakePath) && !strings.Contains(path, frontdoor.IntakePath+"/") {
		path += frontdoor.IntakePath
	}
	if source != "" {
		if strings.Contains(path, frontdoor.IntakePath+"/") {
			return "", fmt.Errorf("--to %q already names a source; leave --source out", to)
		}
		path += "/" + url.PathEscape(strings.ToLower(source))
	}
	u.Path = path
	return u.String(), nil
}

func isLoopbackURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	h := u.Hostname()
	return h == "localhost" || strings.HasPrefix(h, "127.") || h == "::1"
}

// postAlert posts body, signed afresh for each attempt, retrying a 503 (after its Retry-After) and a failed
// connection until ctx ends. It returns the last answer's status and body.
func postAlert(ctx context.Context, target string, body []byte, token, secret string) (int, []byte, error) {
	client := &http.Client{Timeout: 30 * time.Second}
	backoff := 200 * time.Millisecond
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		// A signature proves the sender without sending the secret; the token is sent only when there is none.
		if secret != "" {
			ts, sig := frontdoor.SignIntake(secret, time.Now(), body)
			req.Header.Set(frontdoor.HeaderIntakeTimestamp, ts)
			req.Header.Set(frontdoor.HeaderIntakeSignature, sig)
		} else if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		wait := backoff
		if err == nil {
			answer, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable && rerr == nil {
				return resp.StatusCode, answer, nil
			}
			if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s > 0 {
				wait = time.Duration(s) * time.Second
			}
			err = fmt.Errorf("%d %s: %s", resp.StatusCode, http.StatusText(resp.StatusCode), strings.TrimSpace(string(answer)))
		}
		select {
		case <-ctx.Done():
			return 0, nil, fmt.Errorf("post the alert to %s: gave up retrying: %w", target, err)
		case <-time.After(wait):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}
