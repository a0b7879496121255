//go:build unix

package devserver

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// The tests run one server at a time: each one keeps a core busy while it
// starts and they share a 2-core machine.

var testAttrs = map[string]enumspb.IndexedValueType{
	"ParryPlaybook": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	"ParrySeverity": enumspb.INDEXED_VALUE_TYPE_INT,
}

func testConfig(dir string) Config {
	return Config{
		Dir:              dir,
		Address:          "127.0.0.1:0",
		DisableUI:        true,
		SearchAttributes: testAttrs,
	}
}

func startTest(t *testing.T, cfg Config) *Server {
	t.Helper()
	begin := time.Now()
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	t.Logf("Start took %s (attached=%t, address %s)", time.Since(begin).Round(time.Millisecond), s.Attached(), s.Address())
	return s
}

func dialTest(t *testing.T, s *Server) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{
		HostPort:  s.Address(),
		Namespace: s.Namespace(),
		Logger:    sdklog.NewStructuredLogger(discardLogger()),
	})
	if err != nil {
		t.Fatalf("dial %s: %v", s.Address(), err)
	}
	t.Cleanup(c.Close)
	return c
}

func ctxTest(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func readRecord(t *testing.T, dir string) (lockRecord, string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, LockFile))
	if err != nil {
		t.Fatalf("read lock file: %v", err)
	}
	var rec lockRecord
	if len(data) > 0 {
		if err := json.Unmarshal(data, &rec); err != nil {
			t.Fatalf("lock file %q: %v", data, err)
		}
	}
	return rec, string(data)
}

// openDBFiles counts this process's descriptors on the database file.
func openDBFiles(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	db := filepath.Join(dir, DBFile)
	n := 0
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && target == db {
			n++
		}
	}
	return n
}

func TestStartRegistersNamespaceAndAttributesAndAttaches(t *testing.T) {
	dir := t.TempDir()
	s := startTest(t, testConfig(dir))
	if s.Attached() {
		t.Fatal("first Start is attached, want owner")
	}
	if got, want := s.Namespace(), DefaultNamespace; got != want {
		t.Errorf("Namespace() = %q, want %q", got, want)
	}
	if s.UIURL() != "" {
		t.Errorf("UIURL() = %q with the UI disabled, want empty", s.UIURL())
	}
	ctx := ctxTest(t)
	c := dialTest(t, s)

	desc, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: s.Namespace()})
	if err != nil {
		t.Fatalf("DescribeNamespace: %v", err)
	}
	if got, want := desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(), DefaultRetention; got < want {
		t.Errorf("retention = %s, want >= %s", got, want)
	}

	sa, err := c.OperatorService().ListSearchAttributes(ctx, listRequest(s.Namespace()))
	if err != nil {
		t.Fatalf("ListSearchAttributes: %v", err)
	}
	for name, want := range testAttrs {
		if got := sa.GetCustomAttributes()[name]; got != want {
			t.Errorf("search attribute %s type = %s, want %s", name, got, want)
		}
	}

	rec, _ := readRecord(t, dir)
	if got, want := rec.Address, s.Address(); got != want {
		t.Errorf("lock record address = %q, want %q", got, want)
	}
	if got, want := rec.PID, os.Getpid(); got != want {
		t.Errorf("lock record pid = %d, want %d", got, want)
	}

	// A second Start on the same directory attaches, whatever address it
	// asks for, and leaves the database alone.
	fds := openDBFiles(t, dir)
	cfg := testConfig(dir)
	cfg.Address = "127.0.0.1:0"
	a := startTest(t, cfg)
	if !a.Attached() {
		t.Fatal("second Start is not attached")
	}
	if got, want := a.Address(), s.Address(); got != want {
		t.Errorf("attached Address() = %q, want %q", got, want)
	}
	if got, want := openDBFiles(t, dir), fds; got != want {
		t.Errorf("descriptors on the database after attaching = %d, want %d", got, want)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("Close attached: %v", err)
	}
	if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		t.Fatalf("owner stopped answering after the attached Server closed: %v", err)
	}

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, raw := readRecord(t, dir); raw != "" {
		t.Errorf("lock file after Close = %q, want empty", raw)
	}
}

func listRequest(ns string) *operatorservice.ListSearchAttributesRequest {
	return &operatorservice.ListSearchAttributesRequest{Namespace: ns}
}

func waitSignal(ctx workflow.Context) (string, error) {
	var v string
	workflow.GetSignalChannel(ctx, "go").Receive(ctx, &v)
	return "got " + v, nil
}

func quick(ctx workflow.Context) (string, error) { return "done", nil }

func runWorker(t *testing.T, c client.Client, queue string) worker.Worker {
	t.Helper()
	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflow(waitSignal)
	w.RegisterWorkflow(quick)
	if err := w.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	return w
}

// waitFirstTask waits until the workflow's first workflow task completed
// (started, task scheduled, started, completed: 4 events).
func waitFirstTask(t *testing.T, ctx context.Context, c client.Client, id string) {
	t.Helper()
	for {
		desc, err := c.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			t.Fatalf("describe %s: %v", id, err)
		}
		if desc.GetWorkflowExecutionInfo().GetHistoryLength() >= 4 && desc.GetPendingWorkflowTask() == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("first workflow task of %s did not complete: %v", id, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestRestartReusesDatabase(t *testing.T) {
	dir := t.TempDir()
	const queue = "restart"
	ctx := ctxTest(t)

	s := startTest(t, testConfig(dir))
	c := dialTest(t, s)
	w := runWorker(t, c, queue)

	// A fresh server runs a workflow end to end quickly: the queue
	// processors are not throttled.
	begin := time.Now()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "quick", TaskQueue: queue}, quick)
	if err != nil {
		t.Fatalf("start quick: %v", err)
	}
	if err := run.Get(ctx, nil); err != nil {
		t.Fatalf("quick: %v", err)
	}
	t.Logf("workflow round trip: %s", time.Since(begin).Round(time.Millisecond))

	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "across-restart", TaskQueue: queue}, waitSignal); err != nil {
		t.Fatalf("start workflow: %v", err)
	}
	// A workflow task polled by a stopping worker is only retried after its
	// 10 s timeout: let the worker finish the first one.
	waitFirstTask(t, ctx, c, "across-restart")
	w.Stop()
	c.Close()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// Restart on the same file with a longer retention and more search
	// attributes, of every type, to add to the existing namespace.
	added := map[string]enumspb.IndexedValueType{
		"ParryText":     enumspb.INDEXED_VALUE_TYPE_TEXT,
		"ParryKeyword":  enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"ParryInt":      enumspb.INDEXED_VALUE_TYPE_INT,
		"ParryDouble":   enumspb.INDEXED_VALUE_TYPE_DOUBLE,
		"ParryBool":     enumspb.INDEXED_VALUE_TYPE_BOOL,
		"ParryDatetime": enumspb.INDEXED_VALUE_TYPE_DATETIME,
		"ParryList":     enumspb.INDEXED_VALUE_TYPE_KEYWORD_LIST,
	}
	cfg := testConfig(dir)
	cfg.Retention = 40 * 24 * time.Hour
	cfg.SearchAttributes = map[string]enumspb.IndexedValueType{}
	for k, v := range testAttrs {
		cfg.SearchAttributes[k] = v
	}
	for k, v := range added {
		cfg.SearchAttributes[k] = v
	}
	s = startTest(t, cfg)
	if s.Attached() {
		t.Fatal("Start after Close is attached, want owner")
	}
	c = dialTest(t, s)
	w = runWorker(t, c, queue)
	defer w.Stop()

	begin = time.Now()
	if err := c.SignalWorkflow(ctx, "across-restart", "", "go", "after restart"); err != nil {
		t.Fatalf("signal the workflow started before the restart: %v", err)
	}
	var got string
	if err := c.GetWorkflow(ctx, "across-restart", "").Get(ctx, &got); err != nil {
		t.Fatalf("workflow started before the restart: %v", err)
	}
	if want := "got after restart"; got != want {
		t.Errorf("result = %q, want %q", got, want)
	}
	t.Logf("signal to result after the restart: %s", time.Since(begin).Round(time.Millisecond))

	desc, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: s.Namespace()})
	if err != nil {
		t.Fatalf("DescribeNamespace: %v", err)
	}
	if got, want := desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(), cfg.Retention; got != want {
		t.Errorf("retention after restart = %s, want %s", got, want)
	}

	// The attributes added at this start are usable as soon as Start
	// returns, by the frontend and by history's visibility writes.
	sa := temporal.NewSearchAttributes(
		temporal.NewSearchAttributeKeyString("ParryText").ValueSet("phishing mail"),
		temporal.NewSearchAttributeKeyKeyword("ParryKeyword").ValueSet("k"),
		temporal.NewSearchAttributeKeyInt64("ParryInt").ValueSet(3),
		temporal.NewSearchAttributeKeyFloat64("ParryDouble").ValueSet(0.5),
		temporal.NewSearchAttributeKeyBool("ParryBool").ValueSet(true),
		temporal.NewSearchAttributeKeyTime("ParryDatetime").ValueSet(time.Now()),
		temporal.NewSearchAttributeKeyKeywordList("ParryList").ValueSet([]string{"a", "b"}),
	)
	run, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "with-new-attrs", TaskQueue: queue, TypedSearchAttributes: sa}, quick)
	if err != nil {
		t.Fatalf("start workflow with the new search attributes: %v", err)
	}
	if err := run.Get(ctx, nil); err != nil {
		t.Fatalf("workflow with the new search attributes: %v", err)
	}
	query := "ParryKeyword = 'k' AND ParryInt = 3 AND ParryBool = true AND ParryList = 'a'"
	for {
		resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: s.Namespace(), Query: query})
		if err != nil {
			t.Fatalf("count %q: %v", query, err)
		}
		if resp.GetCount() == 1 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("count %q stayed %d, want 1", query, resp.GetCount())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func TestWebUI(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.DisableUI = false
	cfg.UIAddress = "127.0.0.1:0"
	cfg.CodecEndpoint = "http://127.0.0.1:8080/codec"
	s := startTest(t, cfg)
	if !strings.HasPrefix(s.UIURL(), "http://127.0.0.1:") {
		t.Fatalf("UIURL() = %q, want http://127.0.0.1:port", s.UIURL())
	}
	resp, err := http.Get(s.UIURL())
	if err != nil {
		t.Fatalf("GET %s: %v", s.UIURL(), err)
	}
	defer resp.Body.Close()
	if got, want := resp.StatusCode, http.StatusOK; got != want {
		t.Errorf("GET %s: status %d, want %d", s.UIURL(), got, want)
	}
	rec, _ := readRecord(t, cfg.Dir)
	if got, want := rec.UIURL, s.UIURL(); got != want {
		t.Errorf("lock record ui_url = %q, want %q", got, want)
	}
	// The UI learns the codec endpoint from its settings.
	settings, err := http.Get(s.UIURL() + "/api/v1/settings")
	if err != nil {
		t.Fatal(err)
	}
	defer settings.Body.Close()
	body, _ := io.ReadAll(settings.Body)
	if !strings.Contains(string(body), cfg.CodecEndpoint) {
		t.Errorf("UI settings %s do not name the codec endpoint %s", body, cfg.CodecEndpoint)
	}
}

// A lock file left by a SIGKILLed process: a record, but no flock.
func TestStaleLockIsTakenOver(t *testing.T) {
	dir := t.TempDir()
	stale, err := json.Marshal(lockRecord{PID: os.Getpid(), Address: "127.0.0.1:1", Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, LockFile), stale, 0o644); err != nil {
		t.Fatal(err)
	}
	s := startTest(t, testConfig(dir))
	if s.Attached() {
		t.Fatal("Start attached to a stale lock file, want takeover")
	}
	rec, _ := readRecord(t, dir)
	if got, want := rec.Address, s.Address(); got != want {
		t.Errorf("lock record address = %q, want %q", got, want)
	}
}

// holdLock takes the flock as another process would and writes rec.
func holdLock(t *testing.T, dir string, rec *lockRecord) *os.File {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatalf("flock: %v", err)
	}
	if rec != nil {
		data, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func shorten(t *testing.T, v *time.Duration, d time.Duration) {
	old := *v
	*v = d
	t.Cleanup(func() { *v = old })
}

func TestHeldLockWithDeadServerIsAnError(t *testing.T) {
	shorten(t, &attachDialTimeout, 300*time.Millisecond)
	dir := t.TempDir()
	addr := closedPort(t)
	holdLock(t, dir, &lockRecord{PID: os.Getpid(), Address: addr, Namespace: "default"})

	s, err := Start(context.Background(), testConfig(dir))
	if err == nil {
		_ = s.Close()
		t.Fatal("Start succeeded against a recorded server that does not answer")
	}
	for _, want := range []string{"does not answer", addr, LockFile} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, DBFile)); !os.IsNotExist(err) {
		t.Errorf("database file exists after a failed attach (stat: %v)", err)
	}
}

func TestHeldLockWithoutRecordTimesOut(t *testing.T) {
	shorten(t, &attachTimeout, 200*time.Millisecond)
	dir := t.TempDir()
	holdLock(t, dir, nil)
	s, err := Start(context.Background(), testConfig(dir))
	if err == nil {
		_ = s.Close()
		t.Fatal("Start succeeded while the lock was held with no record")
	}
	if !strings.Contains(err.Error(), "has not recorded a running server") {
		t.Errorf("error %q does not say the holder has no server", err)
	}
}

// A holder that dies while starting releases the flock: the waiting Start
// takes over instead of failing.
func TestLockReleasedWhileWaitingIsTakenOver(t *testing.T) {
	dir := t.TempDir()
	f := holdLock(t, dir, nil)
	time.AfterFunc(100*time.Millisecond, func() { _ = f.Close() })
	s := startTest(t, testConfig(dir))
	if s.Attached() {
		t.Fatal("Start attached, want takeover after the holder released the lock")
	}
}

func TestBusyAddressIsAnError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := testConfig(t.TempDir())
	cfg.Address = l.Addr().String()
	s, err := Start(context.Background(), cfg)
	if err == nil {
		_ = s.Close()
		t.Fatal("Start succeeded on a busy frontend address")
	}
	if !strings.Contains(err.Error(), "not free") {
		t.Errorf("error %q does not say the address is taken", err)
	}
	// The failed start released the lock.
	if _, raw := readRecord(t, cfg.Dir); raw != "" {
		t.Errorf("lock file after a failed start = %q, want empty", raw)
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	got, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Dir:       filepath.Join(wd, DefaultDir),
		Address:   DefaultAddress,
		UIAddress: DefaultUIAddress,
		Namespace: DefaultNamespace,
		Retention: DefaultRetention,
	}
	if got.Dir != want.Dir || got.Address != want.Address || got.UIAddress != want.UIAddress ||
		got.Namespace != want.Namespace || got.Retention != want.Retention || got.LogLevel == nil {
		t.Errorf("Config{}.withDefaults() = %+v, want %+v with a log level", got, want)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"address without port", Config{Address: "127.0.0.1"}, "frontend address"},
		{"address with a host name", Config{Address: "example.com:7233"}, "must be an IP"},
		{"bad port", Config{Address: "127.0.0.1:70000"}, "bad port"},
		{"bad ui address", Config{UIAddress: "nope"}, "web ui address"},
		{"short retention", Config{Retention: time.Hour}, "minimum of 24h"},
		{"query character in dir", Config{Dir: "/tmp/a?b"}, "must not contain"},
		{"system search attribute", Config{SearchAttributes: map[string]enumspb.IndexedValueType{
			"WorkflowType": enumspb.INDEXED_VALUE_TYPE_KEYWORD}}, "reserved"},
		{"untyped search attribute", Config{SearchAttributes: map[string]enumspb.IndexedValueType{
			"ParryX": enumspb.INDEXED_VALUE_TYPE_UNSPECIFIED}}, "no valid type"},
		{"unnamed search attribute", Config{SearchAttributes: map[string]enumspb.IndexedValueType{
			"": enumspb.INDEXED_VALUE_TYPE_KEYWORD}}, "empty name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.cfg.withDefaults()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("withDefaults() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestConfigUIDisabledIgnoresUIAddress(t *testing.T) {
	t.Parallel()
	got, err := Config{DisableUI: true, UIAddress: "nope"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if got.UIAddress != "" {
		t.Errorf("UIAddress = %q with DisableUI, want empty", got.UIAddress)
	}
}

// childEnv makes the test binary run TestChildServer as a separate
// process owning the server.
const childEnv = "PARRY_DEVSERVER_CHILD_DIR"

// TestChildServer is the other process of TestOtherProcess: it starts a
// server on the directory it is given, prints its address and waits to be
// killed.
func TestChildServer(t *testing.T) {
	dir := os.Getenv(childEnv)
	if dir == "" {
		t.Skip("helper process for TestOtherProcess")
	}
	s, err := Start(context.Background(), testConfig(dir))
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("address:", s.Address())
	select {}
}

// One process owns the server, another attaches to it; when the owner is
// SIGKILLed, the other takes the database over and the run it started
// resumes.
func TestOtherProcess(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("in the helper process")
	}
	dir := t.TempDir()
	ctx := ctxTest(t)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestChildServer$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("read the child's address: %v", err)
	}
	childAddr, ok := strings.CutPrefix(strings.TrimSpace(line), "address: ")
	if !ok {
		t.Fatalf("child: %s", line)
	}

	a := startTest(t, testConfig(dir))
	if !a.Attached() {
		t.Fatal("Start beside another process's server is not attached")
	}
	if got, want := a.Address(), childAddr; got != want {
		t.Errorf("attached Address() = %q, want the child's %q", got, want)
	}
	c := dialTest(t, a)
	w := runWorker(t, c, "other-process")
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "survives-kill", TaskQueue: "other-process"}, waitSignal); err != nil {
		t.Fatalf("start workflow: %v", err)
	}
	waitFirstTask(t, ctx, c, "survives-kill")
	w.Stop()
	c.Close()

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed = true

	s := startTest(t, testConfig(dir))
	if s.Attached() {
		t.Fatal("Start after the owner was killed is attached, want takeover")
	}
	c = dialTest(t, s)
	w = runWorker(t, c, "other-process")
	defer w.Stop()
	if err := c.SignalWorkflow(ctx, "survives-kill", "", "go", "after kill"); err != nil {
		t.Fatalf("signal: %v", err)
	}
	var got string
	if err := c.GetWorkflow(ctx, "survives-kill", "").Get(ctx, &got); err != nil {
		t.Fatalf("workflow started before the kill: %v", err)
	}
	if want := "got after kill"; got != want {
		t.Errorf("result = %q, want %q", got, want)
	}
}
