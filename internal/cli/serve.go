package cli

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/slack-go/slack"
	"go.temporal.io/sdk/client"

	"github.com/parry-soc/parry/internal/codec"
	"github.com/parry-soc/parry/internal/frontdoor"
	"github.com/parry-soc/parry/internal/oidc"
)

// serveCommand runs the front door: the alert intake (POST /v1/alerts, with PARRY_INTAKE_TOKEN or
// PARRY_INTAKE_HMAC_SECRET, or from loopback callers with --dev), Slack's interactivity endpoint on --listen
// and, with SLACK_APP_TOKEN, Socket Mode, until interrupted or ctx ends. With payload keys
// (PARRY_PAYLOAD_KEYS) it also serves the payload codec endpoints for the Temporal Web UI (see
// codecEndpoints). It serves whichever of these is configured and says why the others are off.
func serveCommand(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "trigger serve")
	listen := fs.String("listen", "127.0.0.1:8080", "address to serve HTTP on")
	dev := fs.Bool("dev", false, "talk to the embedded dev server, sign with the dev front door key (created on first use) and, without PARRY_INTAKE_TOKEN or PARRY_INTAKE_HMAC_SECRET, take alerts from loopback callers without credentials")
	grace := fs.Duration("grace", 20*time.Second, "on shutdown, how long to wait for requests and clicks still being sent")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return exitCode(2, errors.New("usage: trigger serve [--listen ADDR] [--dev] [--grace DURATION]"))
	}
	secret, appToken, botToken := env.Getenv("SLACK_SIGNING_SECRET"), env.Getenv("SLACK_APP_TOKEN"), env.Getenv("SLACK_BOT_TOKEN")
	slackOn := secret != "" || appToken != ""
	codecCfg, codecWhy, err := codecEndpoints(env, *dev)
	if err != nil {
		return exitCode(2, err)
	}
	intakeToken, intakeSecret := env.Getenv("PARRY_INTAKE_TOKEN"), env.Getenv("PARRY_INTAKE_HMAC_SECRET")
	intakeOn := intakeToken != "" || intakeSecret != "" || *dev
	maxStarts, err := intakeMaxStarts(env)
	if err != nil {
		return exitCode(2, err)
	}
	if !slackOn && codecCfg == nil && !intakeOn {
		return exitCode(2, errors.New("nothing to serve: set PARRY_INTAKE_TOKEN or PARRY_INTAKE_HMAC_SECRET to take alerts on /v1/alerts; "+
			"SLACK_SIGNING_SECRET (your Slack app's signing secret, api.slack.com/apps → Basic Information → App Credentials) so clicks posted to "+
			"/slack/interactions can be verified, or SLACK_APP_TOKEN to receive them over Socket Mode; "+
			"or, to serve only the payload codec endpoints, PARRY_PAYLOAD_KEYS and PARRY_CODEC_OIDC_ISSUER; or use --dev"))
	}
	retry, err := retryPolicy(env)
	if err != nil {
		return exitCode(2, err)
	}
	var key ed25519.PrivateKey
	if slackOn {
		if key, err = frontdoor.LoadKey(env.Getenv("PARRY_FRONTDOOR_KEY"), *dev, home(env)); err != nil {
			return exitCode(2, err)
		}
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	sess, err := connect(ctx, env, *dev)
	if err != nil {
		return err
	}
	defer sess.Close()
	log := sess.logger
	var handler *frontdoor.Handler
	var sm *frontdoor.SocketMode
	if slackOn {
		if botToken == "" {
			log.Warn("SLACK_BOT_TOKEN is not set: the deny and close forms cannot open and clickers cannot be told why a click was refused")
			fmt.Fprintln(env.Stderr, "warning: SLACK_BOT_TOKEN is not set: Deny and Close cannot open their forms, refusals cannot be explained")
		}
		var api *slack.Client
		api, sm = slackClients(botToken, appToken, env.Getenv("SLACK_API_URL"), log)
		handler, err = frontdoor.NewHandler(frontdoor.HandlerConfig{Slack: api, Runs: frontdoor.Runs{Client: sess.client}, Key: key, Retry: retry, Logger: log})
		if err != nil {
			return err
		}
	}
	var interactions frontdoor.Interactions
	if handler != nil {
		interactions = handler
	}
	srv := frontdoor.New(frontdoor.Config{SigningSecret: secret, Interactions: interactions, Logger: log})
	var intake *frontdoor.Intake
	if intakeOn {
		if intake, err = newIntake(env, sess, *dev, intakeToken, intakeSecret, maxStarts); err != nil {
			return err
		}
		intake.Register(srv)
	} else {
		why := "alert intake is off: set PARRY_INTAKE_TOKEN (senders send Authorization: Bearer <token>) or PARRY_INTAKE_HMAC_SECRET (senders sign requests) to take alerts on " + frontdoor.IntakePath
		log.Warn(why)
		fmt.Fprintln(env.Stderr, "note: "+why)
	}
	if codecCfg != nil {
		codecCfg.Codec, codecCfg.Namespace, codecCfg.Logger = sess.codec, sess.namespace, log
		h, err := frontdoor.NewCodec(*codecCfg)
		if err != nil {
			return exitCode(2, err)
		}
		h.Register(srv)
	} else if codecWhy != "" {
		log.Warn(codecWhy)
		fmt.Fprintln(env.Stderr, "note: "+codecWhy)
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return exitCode(2, fmt.Errorf("listen on %s: %w (pick another address with --listen)", *listen, err))
	}
	routes := "GET /healthz"
	if secret != "" {
		routes = "POST /slack/interactions, " + routes
	}
	if intake != nil {
		routes = "POST " + frontdoor.IntakePath + "[/{source}], GET " + frontdoor.RunsPath + "/{id}, GET " + frontdoor.StatsPath + ", " + routes
	}
	if codecCfg != nil {
		routes = "POST " + frontdoor.CodecPath + "/encode, POST " + frontdoor.CodecPath + "/decode, " + routes
	}
	fmt.Fprintf(env.Stdout, "front door listening on http://%s (%s)\n", ln.Addr(), routes)
	if intake != nil {
		fmt.Fprintf(env.Stdout, "alert intake: http://%s%s (%s)\n", ln.Addr(), frontdoor.IntakePath, intake.Auth())
	}
	if codecCfg != nil {
		codecURL := "http://" + ln.Addr().String() + frontdoor.CodecPath
		if *dev {
			fmt.Fprintf(env.Stdout, "payload codec for the Web UI: %s (loopback callers only; origins %s)\n", codecURL, strings.Join(codecCfg.Origins, ", "))
		} else {
			fmt.Fprintf(env.Stdout, "payload codec for the Web UI: https://<this front door>%s behind your TLS proxy (here %s), with \"Pass access token\" on; "+
				"tokens from %s; origins %s\n", frontdoor.CodecPath, codecURL, env.Getenv("PARRY_CODEC_OIDC_ISSUER"), strings.Join(codecCfg.Origins, ", "))
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	smDone := make(chan error, 1)
	if sm != nil {
		sm.Interactions = handler
		fmt.Fprintln(env.Stdout, "Slack Socket Mode: on (SLACK_APP_TOKEN)")
		go func() {
			err := sm.Run(ctx)
			if err != nil {
				log.Error("slack socket mode stopped", "error", err)
				cancel()
			}
			smDone <- err
		}()
	} else {
		smDone <- nil
	}

	serveErr := srv.Serve(ctx, ln, *grace)
	cancel()
	smErr := <-smDone
	// Clicks acknowledged to Slack may still be waiting for a worker: give them the grace period too.
	hctx, hcancel := context.WithTimeout(context.Background(), *grace)
	defer hcancel()
	var drainErr error
	if handler != nil {
		drainErr = handler.Shutdown(hctx)
	}
	fmt.Fprintln(env.Stdout, "front door stopped")
	return errors.Join(serveErr, smErr, drainErr)
}

// newIntake builds the alert intake: the playbook library (with PARRY_PLAYBOOKS), a starter pinning the
// same keys `trigger run` pins, and the credentials senders must present.
func newIntake(env Env, sess *session, dev bool, token, hmacSecret string, maxStarts int) (*frontdoor.Intake, error) {
	library, err := loadLibrary(env)
	if err != nil {
		return nil, err
	}
	keys, err := trustedKeys(env, dev)
	if err != nil {
		return nil, exitCode(2, err)
	}
	if len(keys) == 0 {
		sess.logger.Warn("runs started by the alert intake pin no keys: nobody can approve their steps; set PARRY_OPERATORS or PARRY_FRONTDOOR_KEY")
		fmt.Fprintln(env.Stderr, "warning: runs started by the alert intake pin no keys: nobody can approve their steps (set PARRY_OPERATORS or PARRY_FRONTDOOR_KEY)")
	}
	starter, err := newStarter(env, sess.client, keys)
	if err != nil {
		return nil, err
	}
	in, err := frontdoor.NewIntake(frontdoor.IntakeConfig{
		Token: token, HMACSecret: hmacSecret, Dev: dev, Library: library,
		Starter: starter, Runs: frontdoor.TemporalRuns{Client: sess.client},
		Exists:    existsCheck(env, sess.client),
		MaxStarts: maxStarts, Logger: sess.logger,
	})
	if err != nil {
		return nil, exitCode(2, err)
	}
	return in, nil
}

// existsCheck is the intake's pre-check for repeats (off with PARRY_INTAKE_PRECHECK=off, to measure).
func existsCheck(env Env, c client.Client) func(context.Context, string) (bool, error) {
	if env.Getenv("PARRY_INTAKE_PRECHECK") == "off" {
		return nil
	}
	return frontdoor.TemporalRuns{Client: c}.Exists
}

// intakeMaxStarts reads PARRY_INTAKE_MAX_STARTS, the bound on starts in flight (0: the default).
func intakeMaxStarts(env Env) (int, error) {
	v := strings.TrimSpace(env.Getenv("PARRY_INTAKE_MAX_STARTS"))
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("PARRY_INTAKE_MAX_STARTS %q: want a positive number of starts in flight (default %d)", v, frontdoor.DefaultMaxStarts)
	}
	return n, nil
}

// slackClients makes the Web API client the handler calls and, with an app token, the Socket Mode client,
// which embeds that same Web API client.
func slackClients(botToken, appToken, apiURL string, log *slog.Logger) (*slack.Client, *frontdoor.SocketMode) {
	if appToken != "" {
		client := frontdoor.NewSocketModeClient(botToken, appToken, apiURL)
		return &client.Client, &frontdoor.SocketMode{Client: client, Logger: log}
	}
	var opts []slack.Option
	if apiURL != "" {
		opts = append(opts, slack.OptionAPIURL(apiURL))
	}
	return slack.New(botToken, opts...), nil
}

// retryPolicy reads how clicks are retried while no worker answers: PARRY_FRONTDOOR_RETRY bounds the whole
// (default 15m), PARRY_FRONTDOOR_ATTEMPT one attempt (default 10s).
func retryPolicy(env Env) (frontdoor.Retry, error) {
	retry := frontdoor.DefaultRetry
	for _, v := range []struct {
		name string
		d    *time.Duration
	}{{"PARRY_FRONTDOOR_RETRY", &retry.Total}, {"PARRY_FRONTDOOR_ATTEMPT", &retry.Attempt}} {
		s := env.Getenv(v.name)
		if s == "" {
			continue
		}
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return retry, fmt.Errorf("%s %q: want a positive duration such as 15m or 10s", v.name, s)
		}
		*v.d = d
	}
	return retry, nil
}

// codecEndpoints reads how the payload codec endpoints are served. With no payload keys
// (PARRY_PAYLOAD_KEYS) there are none. In dev they answer loopback callers without a token; otherwise they
// need an OIDC issuer whose access tokens they verify: PARRY_CODEC_OIDC_ISSUER (keys found by discovery),
// PARRY_CODEC_JWKS_URL (the keys' URL, skipping discovery), PARRY_CODEC_OIDC_AUDIENCE (the aud tokens must
// carry), PARRY_CODEC_OIDC_REQUIRE (claim=value,… each token must hold, e.g. groups=soc-responders).
// PARRY_CODEC_CORS_ORIGINS lists the Web UI origins allowed (default the dev UI's). A nil config with a
// reason says why the endpoints are off.
func codecEndpoints(env Env, dev bool) (*frontdoor.CodecConfig, string, error) {
	issuer := strings.TrimSpace(env.Getenv("PARRY_CODEC_OIDC_ISSUER"))
	jwks := strings.TrimSpace(env.Getenv("PARRY_CODEC_JWKS_URL"))
	if env.Getenv(codec.EnvKeys) == "" {
		if issuer != "" || jwks != "" {
			return nil, "PARRY_CODEC_OIDC_ISSUER is set but PARRY_PAYLOAD_KEYS is not: payloads are not encrypted, so there are no codec endpoints", nil
		}
		return nil, "", nil
	}
	if _, err := codec.FromEnv(env.Getenv); err != nil {
		return nil, "", err
	}
	cfg := &frontdoor.CodecConfig{Dev: dev}
	for _, o := range strings.Split(env.Getenv("PARRY_CODEC_CORS_ORIGINS"), ",") {
		if o = strings.TrimSuffix(strings.TrimSpace(o), "/"); o != "" {
			cfg.Origins = append(cfg.Origins, o)
		}
	}
	if len(cfg.Origins) == 0 {
		cfg.Origins = frontdoor.DefaultCodecOrigins
	}
	if dev {
		return cfg, "", nil
	}
	if issuer == "" {
		if jwks != "" {
			return nil, "", errors.New("PARRY_CODEC_JWKS_URL is set but PARRY_CODEC_OIDC_ISSUER is not: tokens' iss is checked against the issuer, so both are needed")
		}
		return nil, "codec endpoints are off: set PARRY_CODEC_OIDC_ISSUER (and PARRY_CODEC_OIDC_AUDIENCE) so the Web UI's signed-in users can decode payloads; see docs/keys.md", nil
	}
	ocfg := oidc.Config{Issuer: issuer, JWKSURL: jwks, Audience: strings.TrimSpace(env.Getenv("PARRY_CODEC_OIDC_AUDIENCE"))}
	if req := strings.TrimSpace(env.Getenv("PARRY_CODEC_OIDC_REQUIRE")); req != "" {
		ocfg.Require = map[string]string{}
		for _, kv := range strings.Split(req, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok || k == "" || v == "" {
				return nil, "", fmt.Errorf("PARRY_CODEC_OIDC_REQUIRE %q: want claim=value entries separated by commas (e.g. groups=soc-responders)", kv)
			}
			ocfg.Require[k] = v
		}
	}
	v, err := oidc.NewVerifier(ocfg)
	if err != nil {
		return nil, "", fmt.Errorf("PARRY_CODEC_OIDC_ISSUER: %w", err)
	}
	cfg.Tokens = v
	return cfg, "", nil
}
