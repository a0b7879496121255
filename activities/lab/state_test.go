package lab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The helper process: the test binary re-run with PARRY_LAB_HELPER set acts as another worker process on
// the same state file.
const (
	helperEnv   = "PARRY_LAB_HELPER"       // "hammer" or "forever"
	helperState = "PARRY_LAB_HELPER_STATE" // state file
	helperID    = "PARRY_LAB_HELPER_ID"    // worker number
)

// hammerCalls is how many calls each worker makes of each kind.
const hammerCalls = 25

var hammerHosts = []string{"WS-0042", "WS-0043", "DC-0001", "WEB-0001", "FS-0001"}

// hammer is one worker's share of the concurrency tests: every worker isolates the same hosts under the same
// keys (so they race on each key) and blocks its own addresses under its own keys.
func hammer(l *Lab, worker int) error {
	ctx := context.Background()
	for i := 0; i < hammerCalls; i++ {
		if _, err := l.IsolateHost(ctx, fmt.Sprintf("shared/%d", i), hammerHosts[i%len(hammerHosts)], ""); err != nil {
			return err
		}
		if _, err := l.BlockIP(ctx, fmt.Sprintf("worker-%d/%d", worker, i), fmt.Sprintf("10.0.%d.%d", worker, i), ""); err != nil {
			return err
		}
	}
	return nil
}

func TestLabHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("run as a helper process by other tests")
	}
	l, err := New(Config{State: os.Getenv(helperState), Tick: time.Millisecond})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	worker, _ := strconv.Atoi(os.Getenv(helperID))
	switch mode {
	case "hammer":
		if err := hammer(l, worker); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	case "forever": // until killed
		fmt.Println("ready")
		for i := 0; ; i++ {
			if _, err := l.BlockIP(context.Background(), fmt.Sprintf("forever/%d", i), fmt.Sprintf("10.1.%d.%d", i/250, i%250), ""); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
	}
	os.Exit(0)
}

func helper(t *testing.T, mode, state string, worker int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLabHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, helperState+"="+state, helperID+"="+strconv.Itoa(worker))
	cmd.Stderr = os.Stderr
	return cmd
}

func TestConcurrentWorkersNeverLoseAnUpdate(t *testing.T) {
	state := filepath.Join(t.TempDir(), "lab-state.json")
	const processes, goroutines = 2, 2

	var cmds []*exec.Cmd
	for p := 0; p < processes; p++ {
		cmd := helper(t, "hammer", state, p)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	// Two goroutines of this process, each with a Lab of its own, so that they meet only at the flock.
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(worker int) {
			defer wg.Done()
			l, err := New(Config{State: state, Tick: time.Millisecond})
			if err == nil {
				err = hammer(l, worker)
			}
			errs <- err
		}(processes + g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("goroutine: %v", err)
		}
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper process %d: %v", i, err)
		}
	}

	st, err := ReadState(state)
	if err != nil {
		t.Fatal(err)
	}
	workers := processes + goroutines
	for _, tt := range []struct {
		what      string
		got, want int
	}{
		{"isolations (shared keys)", st.Count("edr.isolate_host"), hammerCalls},
		{"blocks (a key per worker and call)", st.Count("network.block_ip"), workers * hammerCalls},
		{"blocked addresses", len(st.BlockedIPs), workers * hammerCalls},
		{"effects", len(st.Effects), hammerCalls + workers*hammerCalls},
		{"rule numbers", st.NextRule, workers * hammerCalls},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %d, want %d", tt.what, tt.got, tt.want)
		}
	}
	for _, h := range hammerHosts {
		if !st.Host(h).Isolated {
			t.Errorf("%s not isolated", h)
		}
	}
}

func TestKilledWorkerLeavesAConsistentState(t *testing.T) {
	state := filepath.Join(t.TempDir(), "lab-state.json")
	cmd := helper(t, "forever", state, 0)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := out.Read(make([]byte, 16)); err != nil { // "ready"
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	st, err := ReadState(state)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("the helper was killed before its first write")
	}
	if err != nil {
		t.Fatalf("state after SIGKILL: %v", err)
	}
	if got, want := st.Count("network.block_ip"), len(st.Effects); got != want || got != len(st.BlockedIPs) {
		t.Errorf("count %d, effects %d, blocked %d: want all equal", got, want, len(st.BlockedIPs))
	}
	// The killed worker's lock died with it: another worker carries on.
	l, err := New(Config{State: state})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := l.BlockIP(context.Background(), "after/kill", "10.2.0.1", ""); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the lock is still held after the worker was killed")
	}
	entries, _ := os.ReadDir(filepath.Dir(state))
	for _, e := range entries {
		if e.Name() != "lab-state.json" && e.Name() != "lab-state.json.lock" {
			t.Logf("left in the state directory: %s (a temporary file of the killed write)", e.Name())
		}
	}
}

func TestCorruptStateIsAnErrorNotAReset(t *testing.T) {
	state := filepath.Join(t.TempDir(), "lab-state.json")
	if err := os.WriteFile(state, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{State: state}); err == nil {
		t.Error("New accepted a corrupt state file")
	}
	if _, err := ReadState(state); err == nil {
		t.Error("ReadState accepted a corrupt state file")
	}
}
