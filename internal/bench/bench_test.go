package bench

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/parry-soc/parry/activities"
	"github.com/parry-soc/parry/alerts"
	"github.com/parry-soc/parry/approval"
	"github.com/parry-soc/parry/internal/audit"
	"github.com/parry-soc/parry/internal/cluster"
	"github.com/parry-soc/parry/internal/devserver"
	"github.com/parry-soc/parry/internal/runs"
	"github.com/parry-soc/parry/notify"
	"github.com/parry-soc/parry/playbooks"
	"github.com/parry-soc/parry/workflows"
)

// env is the embedded server and one worker, shared by every benchmark of a `go test -bench` run.
type env struct {
	dir      string
	client   client.Client
	priv     ed25519.PrivateKey
	starter  runs.Starter
	library  []*playbooks.Playbook
	overhead *playbooks.Playbook
	sample   alerts.Alert
	seq      atomic.Int64
}

var (
	setupOnce sync.Once
	shared    *env
	setupErr  error
	closers   []func()
)

func TestMain(m *testing.M) {
	code := m.Run()
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
	os.Exit(code)
}

// approver answers approvals and manual tasks the moment the run announces them, the way a responder
// clicking in Slack would, but without a person's delay: it is the run's notifier.
type approver struct {
	client client.Client
	priv   ed25519.PrivateKey
}

func (a *approver) Notify(ctx context.Context, e notify.Event) (notify.Posted, error) {
	switch {
	case e.Kind == notify.ApprovalRequested && e.Approval != nil:
		go a.send(e.Run.ID, e.Approval.ID, approval.Approve)
	case e.Kind == notify.TaskRequested:
		go a.send(e.Run.ID, e.Step, approval.Done)
	}
	return notify.Posted{}, nil
}

func (a *approver) Escalate(context.Context, notify.Escalation) error { return nil }

func (a *approver) send(runID, subject, verb string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st := approval.Statement{Run: runID, Subject: subject, Verb: verb, Actor: approval.Actor{Kind: approval.ActorOperator, ID: "bench"}, IssuedAt: time.Now()}
	as, err := approval.Sign(a.priv, st)
	if err != nil {
		return
	}
	_, _ = runs.Send(ctx, a.client, as)
}

func setup(b *testing.B) *env {
	b.Helper()
	setupOnce.Do(func() { shared, setupErr = newEnv() })
	if setupErr != nil {
		b.Fatal(setupErr)
	}
	return shared
}

func newEnv() (*env, error) {
	dir, err := os.MkdirTemp("", "parry-bench-")
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() { os.RemoveAll(dir) })
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	srv, err := devserver.Start(ctx, devserver.Config{Dir: dir, Address: "127.0.0.1:0", DisableUI: true, SearchAttributes: workflows.SearchAttributeTypes(), Logger: quiet})
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() { srv.Close() })
	c, err := cluster.Dial(ctx, cluster.Config{Address: srv.Address(), Namespace: srv.Namespace()}, client.Options{Logger: tlog.NewStructuredLogger(quiet)})
	if err != nil {
		return nil, err
	}
	closers = append(closers, c.Close)

	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	library, err := playbooks.Library()
	if err != nil {
		return nil, err
	}
	overhead, err := playbooks.Load("bench-overhead.yaml", []byte(overheadPlaybook))
	if err != nil {
		return nil, err
	}
	payload, err := os.ReadFile("../../alerts/testdata/parry-spearphishing-attachment.json")
	if err != nil {
		return nil, err
	}
	sample, err := alerts.Normalize(payload, "")
	if err != nil {
		return nil, err
	}
	keys := []approval.Key{{ID: approval.KeyID(pub), Kind: approval.KeyOperator, Name: "bench", PublicKey: pub, Groups: []string{"*"}}}
	return &env{dir: dir, client: c, priv: priv, starter: runs.Starter{Client: c, Keys: keys}, library: library, overhead: overhead, sample: sample}, nil
}

// startWorker runs a worker for one benchmark with a fresh lab state file: the lab rewrites its whole state
// under a lock for every side effect, so a file grown by earlier benchmarks would slow later ones.
func (e *env) startWorker(b *testing.B) {
	b.Helper()
	dir, err := os.MkdirTemp(e.dir, "lab-")
	if err != nil {
		b.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	acts, err := activities.New(activities.Config{
		LabState: filepath.Join(dir, "lab-state.json"), EvidenceDir: filepath.Join(dir, "evidence"),
		// One simulated second per millisecond: the benchmark measures Parry and Temporal, not the
		// simulator's pretend capture times.
		LabTick: time.Millisecond,
		Logger:  quiet, Notifier: &approver{client: e.client, priv: e.priv},
	})
	if err != nil {
		b.Fatal(err)
	}
	w := worker.New(e.client, workflows.TaskQueue, worker.Options{MaxConcurrentWorkflowTaskPollers: 10, MaxConcurrentActivityTaskPollers: 10, DisableRegistrationAliasing: true})
	workflows.Register(w)
	w.RegisterWorkflowWithOptions(handWritten, workflow.RegisterOptions{Name: "HandWritten"})
	acts.Register(w)
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(w.Stop)
}

// sample is one run's measurements.
type sample struct {
	wall        time.Duration // start request → workflow result
	containment time.Duration // start request → isolate-host activity started
	events      int
}

// runPlaybook starts one run of the sample alert (with a fresh id) and waits for it.
func (e *env) runPlaybook(ctx context.Context, explicit *playbooks.Playbook) (sample, error) {
	a := e.sample
	a.ID = fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), e.seq.Add(1))
	plan, err := runs.PlanFor(a, e.library, explicit)
	if err != nil {
		return sample{}, err
	}
	start := time.Now()
	st, err := e.starter.Start(ctx, plan)
	if err != nil {
		return sample{}, err
	}
	var res workflows.Result
	if err := e.client.GetWorkflow(ctx, st.RunID, "").Get(ctx, &res); err != nil {
		return sample{}, err
	}
	if res.State != workflows.StateCompleted {
		return sample{}, fmt.Errorf("run %s ended %s: %s", st.RunID, res.State, res.Failure)
	}
	return e.measure(ctx, st.RunID, start)
}

// runHandWritten runs the hand-written workflow once and waits for it.
func (e *env) runHandWritten(ctx context.Context) (sample, error) {
	id := fmt.Sprintf("bench-hand-%d-%d", time.Now().UnixNano(), e.seq.Add(1))
	start := time.Now()
	run, err := e.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: workflows.TaskQueue}, "HandWritten", id)
	if err != nil {
		return sample{}, err
	}
	if err := run.Get(ctx, nil); err != nil {
		return sample{}, err
	}
	return e.measure(ctx, id, start)
}

func (e *env) measure(ctx context.Context, runID string, start time.Time) (sample, error) {
	s := sample{wall: time.Since(start)}
	h, err := audit.FetchHistory(ctx, e.client, runID)
	if err != nil {
		return s, err
	}
	s.events = len(h.Events)
	scheduled := map[int64]string{}
	for _, ev := range h.Events {
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			scheduled[ev.GetEventId()] = a.GetActivityId()
		}
		if ev.GetEventType() == enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED && s.containment == 0 &&
			scheduled[ev.GetActivityTaskStartedEventAttributes().GetScheduledEventId()] == "isolate-host" {
			s.containment = ev.GetEventTime().AsTime().Sub(start)
		}
	}
	return s, nil
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p*float64(len(s)-1) + 0.5)
	return s[i]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkSpearphishingRun runs the library's complete T1566.001 response (approvals answered as soon as
// they are asked, manual tasks done at once) b.N times at each concurrency, and reports runs per second and
// how long after the alert was accepted the first containment activity (isolate-host) started.
func BenchmarkSpearphishingRun(b *testing.B) {
	for _, concurrency := range []int{1, 20} {
		b.Run(fmt.Sprintf("concurrency=%d", concurrency), func(b *testing.B) {
			e := setup(b)
			e.startWorker(b)
			ctx := context.Background()
			var (
				mu          sync.Mutex
				containment []time.Duration
				failed      error
			)
			next := atomic.Int64{}
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for range concurrency {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						s, err := e.runPlaybook(ctx, nil)
						mu.Lock()
						if err != nil && failed == nil {
							failed = err
						}
						containment = append(containment, s.containment)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			if failed != nil {
				b.Fatal(failed)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "runs/s")
			b.ReportMetric(ms(percentile(containment, 0.50)), "contain-p50-ms")
			b.ReportMetric(ms(percentile(containment, 0.99)), "contain-p99-ms")
		})
	}
}

// BenchmarkInterpreterOverhead runs the same activity sequence as the interpreter (overheadPlaybook) and as
// a hand-written workflow, alternately in one benchmark, and reports both and their ratios.
func BenchmarkInterpreterOverhead(b *testing.B) {
	e := setup(b)
	e.startWorker(b)
	ctx := context.Background()
	var interp, hand []time.Duration
	var interpEvents, handEvents int
	b.ResetTimer()
	for range b.N {
		s, err := e.runPlaybook(ctx, e.overhead)
		if err != nil {
			b.Fatal(err)
		}
		interp, interpEvents = append(interp, s.wall), interpEvents+s.events
		h, err := e.runHandWritten(ctx)
		if err != nil {
			b.Fatal(err)
		}
		hand, handEvents = append(hand, h.wall), handEvents+h.events
	}
	b.StopTimer()
	ip, hp := percentile(interp, 0.5), percentile(hand, 0.5)
	b.ReportMetric(ms(ip), "interp-p50-ms")
	b.ReportMetric(ms(hp), "hand-p50-ms")
	b.ReportMetric(float64(ip)/float64(hp), "wall-ratio")
	b.ReportMetric(float64(interpEvents)/float64(b.N), "interp-events")
	b.ReportMetric(float64(handEvents)/float64(b.N), "hand-events")
	b.ReportMetric(float64(interpEvents)/float64(handEvents), "events-ratio")
}
