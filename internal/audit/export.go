package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/parry-soc/parry/internal/codec"
	"github.com/parry-soc/parry/workflows"
)

// Exporter writes signed bundles of runs into an audit directory.
type Exporter struct {
	Client    client.Client
	Namespace string
	// Dir is where bundles go: DIR/<escaped workflow id>/.
	Dir string
	// Key signs every manifest.
	Key ed25519.PrivateKey
	// Codec decodes the run's input and result for the manifest (and, with Decrypt, every payload). Nil
	// means payloads are not encrypted.
	Codec *codec.Codec
	// Decrypt writes the history with its payloads decoded: a plaintext copy.
	Decrypt bool
	// By says who exported, for the manifest ("trigger history export", "worker on HOST").
	By string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Exported is one run exported.
type Exported struct {
	WorkflowID, RunID string
	Manifest          Manifest
	Dir               string
	// Existing is set when the audit directory already held a bundle of the closed run: it was kept.
	Existing bool
}

// Export writes the bundle of one run: a workflow id and Temporal's run id ("" for the latest run). A closed
// run that already has a bundle in Dir is not fetched again.
func (e *Exporter) Export(ctx context.Context, workflowID, runID string) (Exported, error) {
	if e.Key == nil {
		return Exported{}, errors.New("export: no signing key")
	}
	if runID == "" {
		d, err := e.Client.DescribeWorkflowExecution(ctx, workflowID, "")
		if err != nil {
			return Exported{}, fmt.Errorf("export %s: %w", workflowID, err)
		}
		runID = d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	}
	if dir, m, ok := Find(e.Dir, workflowID, runID); ok && !m.Closed.IsZero() {
		return Exported{WorkflowID: workflowID, RunID: runID, Manifest: m, Dir: dir, Existing: true}, nil
	}
	h, err := FetchRun(ctx, e.Client, workflowID, runID)
	if err != nil {
		return Exported{}, fmt.Errorf("export %s: %w", workflowID, err)
	}
	m, err := e.Describe(h, workflowID, runID)
	if err != nil {
		return Exported{}, fmt.Errorf("export %s: %w", workflowID, err)
	}
	if e.Decrypt && e.Codec != nil {
		if err := DecryptHistory(h, e.Codec); err != nil {
			return Exported{}, fmt.Errorf("export %s: decrypt: %w", workflowID, err)
		}
		m.Payloads = PayloadsDecrypted
	}
	b, err := MarshalHistory(h)
	if err != nil {
		return Exported{}, fmt.Errorf("export %s: %w", workflowID, err)
	}
	w, err := WriteBundle(e.Dir, &m, b, e.Key)
	if err != nil {
		return Exported{}, fmt.Errorf("export %s: %w", workflowID, err)
	}
	if w.Existing {
		m, _ = readManifestFile(w.Dir)
	}
	return Exported{WorkflowID: workflowID, RunID: runID, Manifest: m, Dir: w.Dir, Existing: w.Existing}, nil
}

// Describe builds a run's manifest (without its history hash and signature) from its history: the
// execution from its first and last events, the playbook and alert from its input, state and disposition
// from its result — decoded with the codec, so the manifest reads without the payload keys — or, for a run
// without a result, the disposition from its last search attribute update.
func (e *Exporter) Describe(h *historypb.History, workflowID, runID string) (Manifest, error) {
	events := h.GetEvents()
	if len(events) == 0 {
		return Manifest{}, errors.New("the history has no events")
	}
	first, last := events[0], events[len(events)-1]
	started := first.GetWorkflowExecutionStartedEventAttributes()
	if started == nil {
		return Manifest{}, errors.New("the history does not begin with WorkflowExecutionStarted")
	}
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	by := e.By
	if by == "" {
		by = "parry"
	}
	m := Manifest{
		Format:        Format,
		Namespace:     e.Namespace,
		WorkflowID:    workflowID,
		RunID:         runID,
		WorkflowType:  started.GetWorkflowType().GetName(),
		Status:        "running",
		Started:       first.GetEventTime().AsTime().UTC(),
		HistoryEvents: len(events),
		Payloads:      PayloadsAsRecorded,
		ParryVersion:  Version(),
		ExportedAt:    now().UTC(),
		ExportedBy:    by,
	}
	if status, ok := closeStatus(last.GetEventType()); ok {
		m.Status, m.Closed = status, last.GetEventTime().AsTime().UTC()
	}
	ids, err := PayloadKeyIDs(h)
	if err != nil {
		return m, err
	}
	m.PayloadKeyIDs = ids
	if m.WorkflowType != workflows.WorkflowName {
		return m, nil
	}
	dc := e.Codec.DataConverter()
	var in workflows.Input
	if err := dc.FromPayloads(started.GetInput(), &in); err != nil {
		return m, fmt.Errorf("decode the run's input (are the payload keys %s held?): %w", strings.Join(ids, ", "), err)
	}
	m.Playbook = PlaybookInfo{ID: in.Playbook.ID, Name: in.Playbook.Name, Version: in.Playbook.Version, SHA256: in.Playbook.SHA256}
	m.Alert = AlertInfo{ID: in.Alert.ID, Source: in.Alert.Source, Severity: in.Alert.Severity, Rule: in.Alert.Rule}
	m.Techniques = append([]string{}, in.Alert.Techniques...)
	if done := last.GetWorkflowExecutionCompletedEventAttributes(); done != nil {
		var res workflows.Result
		if err := dc.FromPayloads(done.GetResult(), &res); err != nil {
			return m, fmt.Errorf("decode the run's result: %w", err)
		}
		m.State, m.Disposition = res.State, res.Disposition
		return m, nil
	}
	m.Disposition = lastKeyword(h, workflows.AttrDisposition.GetName())
	return m, nil
}

// closeStatus names the status a closing event gives an execution.
func closeStatus(t enumspb.EventType) (string, bool) {
	switch t {
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
		return "completed", true
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
		return "failed", true
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
		return "timed-out", true
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
		return "canceled", true
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
		return "terminated", true
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
		return "continued-as-new", true
	}
	return "", false
}

// lastKeyword is the last value a keyword search attribute was set to in the history (search attributes
// are never encrypted).
func lastKeyword(h *historypb.History, name string) string {
	var p *commonpb.Payload
	for _, e := range h.GetEvents() {
		if a := e.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			if v, ok := a.GetSearchAttributes().GetIndexedFields()[name]; ok {
				p = v
			}
		}
		if a := e.GetUpsertWorkflowSearchAttributesEventAttributes(); a != nil {
			if v, ok := a.GetSearchAttributes().GetIndexedFields()[name]; ok {
				p = v
			}
		}
	}
	var s string
	if p != nil {
		_ = plain.FromPayload(p, &s)
	}
	return s
}

// Progress is how far a bulk export has got.
type Progress struct {
	Done     int // exported or already there
	Existing int // of Done, already in the audit directory
	Failed   int
	Total    int // from the visibility count; -1 when unknown
	Elapsed  time.Duration
}

// Rate is runs per second so far.
func (p Progress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Done+p.Failed) / p.Elapsed.Seconds()
}

// ExportQuery exports every run a visibility query lists, page by page, with workers exports at a time.
// each is called (one at a time) for every run with its outcome, progress after each. It fails only when
// listing fails; runs that fail to export are counted and passed to each.
func (e *Exporter) ExportQuery(ctx context.Context, query string, workers int, each func(Exported, error, Progress)) (Progress, error) {
	start := time.Now()
	p := Progress{Total: -1}
	if n, err := e.Client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: e.Namespace, Query: query}); err == nil {
		p.Total = int(n.GetCount())
	}
	workers = max(workers, 1)
	runs := make(chan *workflowpb.WorkflowExecutionInfo)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for info := range runs {
				x, err := e.Export(ctx, info.GetExecution().GetWorkflowId(), info.GetExecution().GetRunId())
				if err != nil {
					x = Exported{WorkflowID: info.GetExecution().GetWorkflowId(), RunID: info.GetExecution().GetRunId()}
				}
				mu.Lock()
				switch {
				case err != nil:
					p.Failed++
				case x.Existing:
					p.Done++
					p.Existing++
				default:
					p.Done++
				}
				p.Elapsed = time.Since(start)
				if each != nil {
					each(x, err, p)
				}
				mu.Unlock()
			}
		}()
	}
	listErr := List(ctx, e.Client, e.Namespace, query, func(info *workflowpb.WorkflowExecutionInfo) bool {
		select {
		case runs <- info:
			return true
		case <-ctx.Done():
			return false
		}
	})
	close(runs)
	wg.Wait()
	p.Elapsed = time.Since(start)
	if listErr == nil {
		listErr = ctx.Err()
	}
	return p, listErr
}

// listPage is how many executions one visibility request returns.
const listPage = 100

// List streams the executions a visibility query matches, page by page, until yield returns false.
func List(ctx context.Context, c client.Client, namespace, query string, yield func(*workflowpb.WorkflowExecutionInfo) bool) error {
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: namespace, PageSize: listPage, NextPageToken: token, Query: query,
		})
		if err != nil {
			return fmt.Errorf("list runs (%s): %w", query, err)
		}
		for _, info := range resp.GetExecutions() {
			if !yield(info) {
				return nil
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return nil
		}
	}
}
