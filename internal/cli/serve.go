package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/slack-go/slack"

	"github.com/parry-soc/parry/internal/frontdoor"
)

// serveCommand runs the front door: Slack's interactivity endpoint on --listen and, with SLACK_APP_TOKEN,
// Socket Mode, until interrupted or ctx ends.
func serveCommand(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "trigger serve")
	listen := fs.String("listen", "127.0.0.1:8080", "address to serve HTTP on")
	dev := fs.Bool("dev", false, "talk to the embedded dev server and sign with the dev front door key (created on first use)")
	grace := fs.Duration("grace", 20*time.Second, "on shutdown, how long to wait for requests and clicks still being sent")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return exitCode(2, errors.New("usage: trigger serve [--listen ADDR] [--dev] [--grace DURATION]"))
	}
	secret, appToken, botToken := env.Getenv("SLACK_SIGNING_SECRET"), env.Getenv("SLACK_APP_TOKEN"), env.Getenv("SLACK_BOT_TOKEN")
	if secret == "" && appToken == "" {
		return exitCode(2, errors.New("SLACK_SIGNING_SECRET is not set: set it to your Slack app's signing secret "+
			"(api.slack.com/apps → Basic Information → App Credentials) so clicks posted to /slack/interactions can be verified, "+
			"or set SLACK_APP_TOKEN to receive them over Socket Mode"))
	}
	retry, err := retryPolicy(env)
	if err != nil {
		return exitCode(2, err)
	}
	key, err := frontdoor.LoadKey(env.Getenv("PARRY_FRONTDOOR_KEY"), *dev, home(env))
	if err != nil {
		return exitCode(2, err)
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	sess, err := connect(ctx, env, *dev)
	if err != nil {
		return err
	}
	defer sess.Close()
	log := sess.logger
	if botToken == "" {
		log.Warn("SLACK_BOT_TOKEN is not set: the deny and close forms cannot open and clickers cannot be told why a click was refused")
		fmt.Fprintln(env.Stderr, "warning: SLACK_BOT_TOKEN is not set: Deny and Close cannot open their forms, refusals cannot be explained")
	}
	api, sm := slackClients(botToken, appToken, env.Getenv("SLACK_API_URL"), log)
	handler, err := frontdoor.NewHandler(frontdoor.HandlerConfig{Slack: api, Runs: frontdoor.Runs{Client: sess.client}, Key: key, Retry: retry, Logger: log})
	if err != nil {
		return err
	}
	srv := frontdoor.New(frontdoor.Config{SigningSecret: secret, Interactions: handler, Logger: log})

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return exitCode(2, fmt.Errorf("listen on %s: %w (pick another address with --listen)", *listen, err))
	}
	routes := "GET /healthz"
	if secret != "" {
		routes = "POST /slack/interactions, " + routes
	}
	fmt.Fprintf(env.Stdout, "front door listening on http://%s (%s)\n", ln.Addr(), routes)

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
	drainErr := handler.Shutdown(hctx)
	fmt.Fprintln(env.Stdout, "front door stopped")
	return errors.Join(serveErr, smErr, drainErr)
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
