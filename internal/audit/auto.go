package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	workflowpb "go.temporal.io/api/workflow/v1"

	"github.com/parry-soc/parry/workflows"
)

// Automatic export defaults.
const (
	// DefaultInterval is how often the exporter looks for closed runs: a run is in the audit store within
	// about this long of closing.
	DefaultInterval = 30 * time.Second
	// DefaultOverlap is how far before its checkpoint the exporter looks again: visibility is eventually
	// consistent, so a run that closed just before the last sweep may only be listed now.
	DefaultOverlap = 10 * time.Minute
)

// CheckpointFile, in the audit directory, records the close time up to which every closed run was exported.
const CheckpointFile = ".checkpoint.json"

// AutoExporter exports every closed playbook run into the audit store without anyone asking: it lists runs
// closed since its checkpoint (with an overlap) through visibility, and exports those without a bundle.
// Several workers may run one against the same store: bundles are written atomically and an existing bundle
// of a closed run is kept, so at worst two of them do the same work once.
type AutoExporter struct {
	Exporter *Exporter
	Interval time.Duration // default DefaultInterval
	Overlap  time.Duration // default DefaultOverlap
	Workers  int           // exports at a time (default 2)
	Logger   *slog.Logger
}

// Sweep is what one pass did.
type Sweep struct {
	Listed, Exported, Existing, Failed int
}

// Run sweeps at once and then every Interval until ctx ends.
func (a *AutoExporter) Run(ctx context.Context) {
	interval := a.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := a.Sweep(ctx); err != nil && ctx.Err() == nil {
			a.logger().Warn("audit export: sweep failed; retrying at the next one", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *AutoExporter) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return discard()
}

// Query is the visibility query of closed playbook runs, since a close time when it is not zero.
func Query(since time.Time) string {
	q := fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus != 'Running'", workflows.WorkflowName)
	if !since.IsZero() {
		q += fmt.Sprintf(" AND CloseTime >= '%s'", since.UTC().Format(time.RFC3339Nano))
	}
	return q
}

// Sweep exports the closed runs that have no bundle yet, and moves the checkpoint forward when every one of
// them was exported.
func (a *AutoExporter) Sweep(ctx context.Context) (Sweep, error) {
	var s Sweep
	e := a.Exporter
	cp, err := readCheckpoint(e.Dir)
	if err != nil {
		return s, err
	}
	overlap := a.Overlap
	if overlap <= 0 {
		overlap = DefaultOverlap
	}
	since := time.Time{}
	if !cp.IsZero() {
		since = cp.Add(-overlap)
	}
	var latest time.Time
	var pending []*workflowpb.WorkflowExecutionInfo
	err = List(ctx, e.Client, e.Namespace, Query(since), func(info *workflowpb.WorkflowExecutionInfo) bool {
		s.Listed++
		if t := info.GetCloseTime().AsTime(); t.After(latest) {
			latest = t
		}
		if _, m, ok := Find(e.Dir, info.GetExecution().GetWorkflowId(), info.GetExecution().GetRunId()); ok && !m.Closed.IsZero() {
			s.Existing++
			return true
		}
		pending = append(pending, info)
		return true
	})
	if err != nil {
		return s, err
	}
	workers := a.Workers
	if workers <= 0 {
		workers = 2
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, workers)
	for _, info := range pending {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			run := info.GetExecution()
			x, err := e.Export(ctx, run.GetWorkflowId(), run.GetRunId())
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				s.Failed++
				a.logger().Warn("audit export: run not exported; retrying at the next sweep", "run", run.GetWorkflowId(), "error", err)
			case x.Existing:
				s.Existing++ // another exporter wrote it meanwhile
			default:
				s.Exported++
				a.logger().Info("audit export: signed bundle written", "run", x.WorkflowID, "dir", x.Dir, "status", x.Manifest.Status)
			}
		}()
	}
	wg.Wait()
	if s.Failed == 0 && latest.After(cp) {
		if err := writeCheckpoint(e.Dir, latest); err != nil {
			return s, err
		}
	}
	if s.Failed > 0 {
		return s, fmt.Errorf("%d of %d closed runs not exported", s.Failed, len(pending))
	}
	return s, nil
}

type checkpoint struct {
	CloseTime time.Time `json:"close_time"`
}

func readCheckpoint(dir string) (time.Time, error) {
	b, err := os.ReadFile(filepath.Join(dir, CheckpointFile))
	if errors.Is(err, fs.ErrNotExist) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read audit checkpoint: %w", err)
	}
	var c checkpoint
	if err := json.Unmarshal(b, &c); err != nil {
		// A damaged checkpoint only costs a full sweep.
		return time.Time{}, nil
	}
	return c.CloseTime, nil
}

func writeCheckpoint(dir string, t time.Time) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write audit checkpoint: %w", err)
	}
	b, _ := json.Marshal(checkpoint{CloseTime: t.UTC()})
	f, err := os.CreateTemp(dir, ".checkpoint-*")
	if err != nil {
		return fmt.Errorf("write audit checkpoint: %w", err)
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(dir, CheckpointFile))
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write audit checkpoint: %w", err)
	}
	return nil
}
