package audit

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"sync/atomic"
	"testing"

	historypb "go.temporal.io/api/history/v1"
)

// committedHistories are the histories the interpreter's replay test keeps (workflows/testdata/histories).
func committedHistories(tb testing.TB) []string {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "workflows", "testdata", "histories", "*.json"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no committed histories: %v", err)
	}
	return files
}

func readHistoryFile(tb testing.TB, path string) *historypb.History {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	h, err := ReadHistory(f)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// BenchmarkReplay replays the committed histories in parallel, one Replayer per goroutine, with the input
// check: one op is one history. Parsing is not measured (see BenchmarkVerify).
func BenchmarkReplay(b *testing.B) {
	var hs []*historypb.History
	for _, f := range committedHistories(b) {
		hs = append(hs, readHistoryFile(b, f))
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := NewReplayer(ReplayOptions{})
		for pb.Next() {
			h := hs[int(next.Add(1))%len(hs)]
			if err := r.Replay(h); err != nil {
				b.Error(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "histories/s")
}

// BenchmarkVerify is what `trigger replay` does per plain history file: read, parse and replay, in parallel,
// with the collector target trigger replay sets (GOGC overrides it).
func BenchmarkVerify(b *testing.B) {
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(ReplayGCPercent))
	}
	files := committedHistories(b)
	var items []Item
	for range (b.N + len(files) - 1) / len(files) {
		for _, f := range files {
			items = append(items, Item{Path: f})
		}
	}
	items = items[:b.N]
	v := &Verifier{}
	b.ReportAllocs()
	b.ResetTimer()
	v.CheckAll(items, func(r Verdict) {
		if r.Status != StatusOK {
			b.Error(r)
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "histories/s")
}
