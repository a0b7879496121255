package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/parry-soc/parry/internal/cli"
	"github.com/parry-soc/parry/internal/cluster"
	"github.com/parry-soc/parry/internal/devserver"
	"github.com/parry-soc/parry/internal/frontdoor"
	"github.com/parry-soc/parry/workflows"
)

// intakePlaybook needs no input and no provider: its runs start, tell the notifier, and wait for a person,
// so the benchmark measures the intake and Temporal, not a response.
const intakePlaybook = `apiVersion: parry/v1
kind: Playbook
id: bench-intake
name: "Bench: intake"
version: 1
techniques: [T1204.002]
severity: medium
phases:
  - id: triage
    steps:
      - {id: look, action: manual.task, with: {text: "Look at the host"}}
`

const benchIntakeToken = "bench-intake-token-0123456789abcdef"

// intakeSenders is how many requests the benchmark keeps in flight by default: a SIEM forwarding a burst
// over a pool of connections.
const intakeSenders = 100

// syncBuffer is a buffer safe to write from the command's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// intakeEnv is a fresh embedded server with a worker and `trigger serve` in front of it.
type intakeEnv struct {
	base   string
	client client.Client
}

func newIntakeEnv(b *testing.B, maxStarts int, precheck bool) *intakeEnv {
	b.Helper()
	dir := b.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := devserver.Start(ctx, devserver.Config{Dir: dir, Address: "127.0.0.1:0", DisableUI: true, SearchAttributes: workflows.SearchAttributeTypes(), Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	c, err := cluster.Dial(ctx, cluster.Config{Address: srv.Address(), Namespace: srv.Namespace()}, client.Options{Logger: tlog.NewStructuredLogger(quiet)})
	if err != nil {
		b.Fatal(err)
	}
	pbDir := filepath.Join(dir, "playbooks")
	if err := os.MkdirAll(pbDir, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pbDir, "bench-intake.yaml"), []byte(intakePlaybook), 0o644); err != nil {
		b.Fatal(err)
	}
	vars := map[string]string{
		"TEMPORAL_ADDRESS": srv.Address(), "PARRY_HOME": dir, "PARRY_PLAYBOOKS": pbDir, "PARRY_INTAKE_TOKEN": benchIntakeToken,
		"PARRY_LAB_STATE": filepath.Join(dir, "lab-state.json"), "PARRY_EVIDENCE_DIR": filepath.Join(dir, "evidence"),
	}
	if maxStarts > 0 {
		vars["PARRY_INTAKE_MAX_STARTS"] = strconv.Itoa(maxStarts)
	}
	if !precheck {
		vars["PARRY_INTAKE_PRECHECK"] = "off"
	}
	env := func(stdout io.Writer) cli.Env {
		return cli.Env{Stdin: strings.NewReader(""), Stdout: stdout, Stderr: io.Discard, Getenv: func(k string) string { return vars[k] }}
	}
	var wg sync.WaitGroup
	wg.Go(func() { cli.Worker(ctx, env(io.Discard), nil) })
	var stdout syncBuffer
	served := make(chan error, 1)
	wg.Go(func() { served <- cli.Trigger(ctx, env(&stdout), []string{"serve", "--listen", "127.0.0.1:0"}) })
	b.Cleanup(func() {
		cancel()
		wg.Wait()
		c.Close()
		srv.Close()
	})
	const prefix = "front door listening on http://"
	for deadline := time.Now().Add(time.Minute); ; {
		if _, rest, ok := strings.Cut(stdout.String(), prefix); ok {
			return &intakeEnv{base: "http://" + strings.Fields(rest)[0], client: c}
		}
		select {
		case err := <-served:
			b.Fatalf("trigger serve ended: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.Fatal("trigger serve did not start")
		}
	}
}

// intakeResult is one benchmark round's outcome.
type intakeResult struct {
	latencies []time.Duration
	accepted  map[string]int // alert id → 202s
	answered  int
	retried   int // 503s retried
	wrong     []string
}

// send posts the alerts with senders requests in flight, retrying 503 after its Retry-After like a
// well-behaved sender; a request's latency runs from its first attempt to its answer.
func (e *intakeEnv) send(b *testing.B, ids []string, senders int) (intakeResult, time.Duration) {
	b.Helper()
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders}, Timeout: time.Minute}
	res := intakeResult{accepted: map[string]int{}}
	var mu sync.Mutex
	jobs := make(chan string)
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for id := range jobs {
				body, _ := json.Marshal(map[string]any{"source": "parry", "id": id, "title": "bench " + id, "severity": "medium",
					"techniques": []string{"T1204.002"}, "host": "bench-host-" + id})
				start := time.Now()
				var status int
				var ans frontdoor.AlertAccepted
				retries := 0
				for {
					req, _ := http.NewRequest(http.MethodPost, e.base+frontdoor.IntakePath, bytes.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+benchIntakeToken)
					resp, err := httpc.Do(req)
					if err != nil {
						mu.Lock()
						res.wrong = append(res.wrong, id+": "+err.Error())
						mu.Unlock()
						break
					}
					raw, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					status = resp.StatusCode
					if status == http.StatusServiceUnavailable {
						retries++
						time.Sleep(time.Second)
						continue
					}
					if err := json.Unmarshal(raw, &ans); err != nil || (status != http.StatusAccepted && status != http.StatusOK) {
						mu.Lock()
						res.wrong = append(res.wrong, fmt.Sprintf("%s: %d %s", id, status, raw))
						mu.Unlock()
					}
					break
				}
				took := time.Since(start)
				mu.Lock()
				res.latencies = append(res.latencies, took)
				res.retried += retries
				res.answered++
				if status == http.StatusAccepted {
					res.accepted[id]++
				}
				if ans.RunID != workflows.RunID("parry", id) {
					res.wrong = append(res.wrong, fmt.Sprintf("%s answered run %q", id, ans.RunID))
				}
				mu.Unlock()
			}
		})
	}
	start := time.Now()
	for _, id := range ids {
		jobs <- id
	}
	close(jobs)
	wg.Wait()
	return res, time.Since(start)
}

// countRuns counts the runs of the benchmark's playbook once visibility has caught up with want.
func (e *intakeEnv) countRuns(b *testing.B, want int) int {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	query := fmt.Sprintf("WorkflowType = '%s' AND ParryPlaybook = 'bench-intake'", workflows.WorkflowName)
	var n int64
	for ctx.Err() == nil {
		resp, err := e.client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: query})
		if err != nil {
			b.Fatal(err)
		}
		if n = resp.GetCount(); n == int64(want) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	return int(n)
}

// alertMix is b.N alert ids: unique ones, each repeated, in a shuffled (but fixed) order so repeats arrive
// both at once and after their run started.
func alertMix(n, repeats int) ([]string, int) {
	unique := max(n/repeats, 1)
	ids := make([]string, 0, unique*repeats)
	prefix := fmt.Sprintf("b%d", time.Now().UnixNano())
	for i := range unique {
		for range repeats {
			ids = append(ids, fmt.Sprintf("%s-%05d", prefix, i))
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	return ids, unique
}

func runIntake(b *testing.B, repeats, senders, maxStarts int, precheck bool) {
	e := newIntakeEnv(b, maxStarts, precheck)
	ids, unique := alertMix(b.N, repeats)
	b.ResetTimer()
	res, elapsed := e.send(b, ids, senders)
	b.StopTimer()
	if len(res.wrong) > 0 {
		b.Fatalf("%d wrong answers, first %q", len(res.wrong), res.wrong[0])
	}
	// The count check: every request answered, exactly one 202 and one run per unique alert.
	if res.answered != len(ids) || len(res.accepted) != unique {
		b.Fatalf("%d of %d requests answered, %d of %d alerts accepted", res.answered, len(ids), len(res.accepted), unique)
	}
	for id, n := range res.accepted {
		if n != 1 {
			b.Fatalf("alert %s answered 202 %d times", id, n)
		}
	}
	if runs := e.countRuns(b, unique); runs != unique {
		b.Fatalf("%d runs for %d unique alerts", runs, unique)
	}
	b.ReportMetric(float64(len(ids))/elapsed.Seconds(), "alerts/s")
	b.ReportMetric(float64(unique)/elapsed.Seconds(), "runs/s")
	b.ReportMetric(ms(percentile(res.latencies, 0.50)), "p50-ms")
	b.ReportMetric(ms(percentile(res.latencies, 0.99)), "p99-ms")
	b.ReportMetric(float64(res.retried), "503s")
}

// BenchmarkIntake posts b.N alerts to `trigger serve` on a fresh embedded server with a worker running:
// with 90 % duplicates (each unique alert sent 10 times, shuffled) and all unique, 100 requests in flight
// (and 10, for the latency of a request that does not queue), and with 90 % duplicates without the
// existence pre-check (PARRY_INTAKE_PRECHECK=off). It reports alerts answered per second, runs started per
// second, the accept latency (first attempt to answer, 503 retries included) and the 503s retried, and
// checks that every request was answered with its alert's run, exactly one 202 per unique alert, and
// exactly one run per unique alert in Temporal.
//
//	go test -run '^$' -bench 'Intake$' -benchtime 5000x ./internal/bench
func BenchmarkIntake(b *testing.B) {
	for _, tt := range []struct {
		name             string
		repeats, senders int
		precheck         bool
	}{
		{"duplicates-90pct", 10, intakeSenders, true},
		{"unique", 1, intakeSenders, true},
		{"unique/senders-10", 1, 10, true},
		{"duplicates-90pct/no-precheck", 10, intakeSenders, false},
	} {
		b.Run(tt.name, func(b *testing.B) { runIntake(b, tt.repeats, tt.senders, 0, tt.precheck) })
	}
}

// BenchmarkIntakeStartBound measures all-unique alerts at several bounds on the starts in flight
// (PARRY_INTAKE_MAX_STARTS), 100 requests in flight: the figures DefaultMaxStarts was chosen from.
func BenchmarkIntakeStartBound(b *testing.B) {
	for _, n := range []int{8, 32, 64, 128, 512} {
		b.Run(fmt.Sprintf("max-starts=%d", n), func(b *testing.B) { runIntake(b, 1, intakeSenders, n, true) })
	}
}
