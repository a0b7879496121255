package workflows_test

import (
	"path/filepath"
	"testing"

	"github.com/parry-soc/parry/internal/audit"
)

// TestCommittedHistoriesReplay replays every history in testdata/histories against the current interpreter,
// as `trigger replay` does: the SDK's command check and the input check, which recomputes every activity's
// input and compares it with the recorded one. A change that alters the commands an old run issued, or what
// an activity was asked to do, fails here: guard it with workflow.GetVersion. docs/histories.md says how to
// record new ones.
func TestCommittedHistoriesReplay(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 14 {
		t.Fatalf("found %d committed histories, want every library playbook and the approval, breach, failure and rollback scenarios", len(files))
	}
	r := audit.NewReplayer(audit.ReplayOptions{})
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if err := r.Replay(readHistory(t, f)); err != nil {
				t.Errorf("replay %s: %v", f, err)
			}
		})
	}
}
