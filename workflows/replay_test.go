package workflows_test

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/parry-soc/parry/internal/audit"
	"github.com/parry-soc/parry/workflows"
)

// TestCommittedHistoriesReplay replays every history in testdata/histories against the current interpreter.
// A change that alters the commands an old run issued fails here: guard it with workflow.GetVersion.
// docs/histories.md says how to record new ones.
func TestCommittedHistoriesReplay(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 14 {
		t.Fatalf("found %d committed histories, want every library playbook and the approval, breach, failure and rollback scenarios", len(files))
	}
	logger := tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			fh, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			h, err := audit.ReadHistory(fh)
			if err != nil {
				t.Fatal(err)
			}
			r := worker.NewWorkflowReplayer()
			workflows.Register(r)
			if err := audit.Replay(r, logger, h); err != nil {
				t.Errorf("replay %s: %v", f, err)
			}
		})
	}
}
