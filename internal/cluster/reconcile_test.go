package cluster_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/parry-soc/parry/internal/cluster"
	"github.com/parry-soc/parry/internal/devserver"
)

// One embedded server for the package; each test works in its own
// namespace.
var server *devserver.Server

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "parry-cluster-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	server, err = devserver.Start(ctx, devserver.Config{Dir: dir, Address: "127.0.0.1:0", DisableUI: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start embedded temporal:", err)
		return 1
	}
	defer server.Close()
	return m.Run()
}

func ctxTest(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dialTest(t *testing.T, namespace string) client.Client {
	t.Helper()
	c, err := cluster.Dial(ctxTest(t), cluster.Config{Address: server.Address(), Namespace: namespace},
		client.Options{Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// newNamespace registers a namespace for one test.
func newNamespace(t *testing.T, c client.Client) string {
	t.Helper()
	ns := strings.NewReplacer("/", "-", "_", "-").Replace(strings.ToLower(t.Name()))
	if err := cluster.EnsureNamespace(ctxTest(t), c, ns, 24*time.Hour); err != nil {
		t.Fatalf("EnsureNamespace(%s): %v", ns, err)
	}
	return ns
}

func listAttrs(t *testing.T, c client.Client, ns string) map[string]enumspb.IndexedValueType {
	t.Helper()
	resp, err := c.OperatorService().ListSearchAttributes(ctxTest(t), &operatorservice.ListSearchAttributesRequest{Namespace: ns})
	if err != nil {
		t.Fatalf("ListSearchAttributes: %v", err)
	}
	return resp.GetCustomAttributes()
}

func retention(t *testing.T, c client.Client, ns string) time.Duration {
	t.Helper()
	desc, err := c.WorkflowService().DescribeNamespace(ctxTest(t), &workflowservice.DescribeNamespaceRequest{Namespace: ns})
	if err != nil {
		t.Fatalf("DescribeNamespace(%s): %v", ns, err)
	}
	return desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration()
}

var want = map[string]enumspb.IndexedValueType{
	"ParryPlaybook": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	"ParrySeverity": enumspb.INDEXED_VALUE_TYPE_INT,
	"ParryTactics":  enumspb.INDEXED_VALUE_TYPE_KEYWORD_LIST,
}

func TestEnsureSearchAttributesIsIdempotent(t *testing.T) {
	c := dialTest(t, "default")
	ns := newNamespace(t, c)
	ctx := ctxTest(t)

	for i := range 2 {
		added, err := cluster.ReconcileSearchAttributes(ctx, c, ns, want)
		if err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
		wantAdded := 0
		if i == 0 {
			wantAdded = len(want)
		}
		if got := len(added); got != wantAdded {
			t.Errorf("call %d added %v, want %d attributes", i+1, added, wantAdded)
		}
	}
	if err := cluster.EnsureSearchAttributes(ctx, c, ns, want); err != nil {
		t.Fatalf("EnsureSearchAttributes: %v", err)
	}
	got := listAttrs(t, c, ns)
	for name, typ := range want {
		if got[name] != typ {
			t.Errorf("%s: type %s, want %s", name, got[name], typ)
		}
	}

	// A superset adds only the new one.
	more := map[string]enumspb.IndexedValueType{"ParryAnalyst": enumspb.INDEXED_VALUE_TYPE_KEYWORD}
	for k, v := range want {
		more[k] = v
	}
	added, err := cluster.ReconcileSearchAttributes(ctx, c, ns, more)
	if err != nil {
		t.Fatalf("superset: %v", err)
	}
	if got, want := strings.Join(added, ","), "ParryAnalyst"; got != want {
		t.Errorf("superset added %q, want %q", got, want)
	}
}

func TestEnsureSearchAttributesConcurrently(t *testing.T) {
	c := dialTest(t, "default")
	ns := newNamespace(t, c)
	ctx := ctxTest(t)

	const callers = 4
	errs := make(chan error, callers)
	var wg sync.WaitGroup
	for range callers {
		// Own connections, as separate processes would have.
		cc := dialTest(t, ns)
		wg.Go(func() { errs <- cluster.EnsureSearchAttributes(ctx, cc, ns, want) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent EnsureSearchAttributes: %v", err)
		}
	}

	// Each name is mapped to exactly one column.
	desc, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, alias := range desc.GetConfig().GetCustomSearchAttributeAliases() {
		count[alias]++
	}
	for name := range want {
		if got := count[name]; got != 1 {
			t.Errorf("%s is mapped to %d columns, want 1", name, got)
		}
	}
}

func TestEnsureSearchAttributesTypeConflict(t *testing.T) {
	c := dialTest(t, "default")
	ns := newNamespace(t, c)
	ctx := ctxTest(t)
	if err := cluster.EnsureSearchAttributes(ctx, c, ns, want); err != nil {
		t.Fatal(err)
	}
	err := cluster.EnsureSearchAttributes(ctx, c, ns, map[string]enumspb.IndexedValueType{
		"ParrySeverity": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	})
	if err == nil {
		t.Fatal("EnsureSearchAttributes accepted ParrySeverity as Keyword while it is Int")
	}
	for _, w := range []string{"ParrySeverity", "Int", "Keyword", ns} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	if got := listAttrs(t, c, ns)["ParrySeverity"]; got != enumspb.INDEXED_VALUE_TYPE_INT {
		t.Errorf("ParrySeverity type changed to %s", got)
	}
}

func TestEnsureSearchAttributesRejectsBadInput(t *testing.T) {
	c := dialTest(t, "default")
	ns := newNamespace(t, c)
	tests := []struct {
		name  string
		attrs map[string]enumspb.IndexedValueType
		want  string
	}{
		{"system attribute", map[string]enumspb.IndexedValueType{"WorkflowType": enumspb.INDEXED_VALUE_TYPE_KEYWORD}, "system attribute"},
		{"unspecified type", map[string]enumspb.IndexedValueType{"ParryX": enumspb.INDEXED_VALUE_TYPE_UNSPECIFIED}, "no valid type"},
		{"empty name", map[string]enumspb.IndexedValueType{"": enumspb.INDEXED_VALUE_TYPE_KEYWORD}, "empty attribute name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := cluster.EnsureSearchAttributes(ctxTest(t), c, ns, tt.attrs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	if err := cluster.EnsureSearchAttributes(ctxTest(t), c, ns, nil); err != nil {
		t.Errorf("nothing wanted: %v", err)
	}
}

func TestEnsureNamespace(t *testing.T) {
	c := dialTest(t, "default")
	ctx := ctxTest(t)
	const ns = "ensure-namespace"

	if err := cluster.EnsureNamespace(ctx, c, ns, 3*24*time.Hour); err != nil {
		t.Fatalf("register: %v", err)
	}
	if got, want := retention(t, c, ns), 3*24*time.Hour; got != want {
		t.Errorf("retention after register = %s, want %s", got, want)
	}
	if err := cluster.EnsureNamespace(ctx, c, ns, 3*24*time.Hour); err != nil {
		t.Fatalf("again: %v", err)
	}
	if err := cluster.EnsureNamespace(ctx, c, ns, 30*24*time.Hour); err != nil {
		t.Fatalf("raise: %v", err)
	}
	if got, want := retention(t, c, ns), 30*24*time.Hour; got != want {
		t.Errorf("retention after raise = %s, want %s", got, want)
	}
	// A lower retention is not a reason to shorten what the operator set.
	if err := cluster.EnsureNamespace(ctx, c, ns, 24*time.Hour); err != nil {
		t.Fatalf("lower: %v", err)
	}
	if got, want := retention(t, c, ns), 30*24*time.Hour; got != want {
		t.Errorf("retention after asking for less = %s, want %s", got, want)
	}

	if err := cluster.EnsureNamespace(ctx, c, ns, 0); err == nil {
		t.Error("EnsureNamespace accepted a zero retention")
	}
}
