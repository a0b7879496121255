package cluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	namespacepb "go.temporal.io/api/namespace/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"
)

// reconcileAttempts bounds the list-then-add loop: concurrent callers can
// race on the namespace record (the server answers "Generated search
// attributes mapping unavailable"), and each retry starts from a fresh list.
const reconcileAttempts = 6

// EnsureSearchAttributes makes sure every custom search attribute in want
// exists in namespace with the wanted type. It lists the existing ones
// (OperatorService ListSearchAttributes) and adds only the missing ones
// (AddSearchAttributes); an attribute that exists with another type is an
// error. It is idempotent and safe to call from several processes at once.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string, want map[string]enumspb.IndexedValueType) error {
	_, err := ReconcileSearchAttributes(ctx, c, namespace, want)
	return err
}

// ReconcileSearchAttributes is EnsureSearchAttributes that also returns the
// names it added, sorted (none when all existed). A caller that just added
// attributes may need to wait for them: with SQL visibility the
// name-to-column mapping lives in the namespace record, which each Temporal
// service re-reads on its namespace cache refresh.
func ReconcileSearchAttributes(ctx context.Context, c client.Client, namespace string, want map[string]enumspb.IndexedValueType) ([]string, error) {
	if len(want) == 0 {
		return nil, nil
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		typ := want[name]
		if name == "" {
			return nil, fmt.Errorf("ensure search attributes of namespace %q: empty attribute name", namespace)
		}
		if typ == enumspb.INDEXED_VALUE_TYPE_UNSPECIFIED || enumspb.IndexedValueType_name[int32(typ)] == "" {
			return nil, fmt.Errorf("ensure search attributes of namespace %q: attribute %q has no valid type (%d)", namespace, name, typ)
		}
	}

	ops := c.OperatorService()
	var added []string
	var lastErr error
	for attempt := range reconcileAttempts {
		if attempt > 0 {
			if err := sleepCtx(ctx, time.Duration(attempt)*50*time.Millisecond); err != nil {
				return added, fmt.Errorf("ensure search attributes of namespace %q: %w", namespace, errors.Join(err, lastErr))
			}
		}
		resp, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
		if err != nil {
			return added, fmt.Errorf("list search attributes of namespace %q: %w", namespace, err)
		}
		missing, err := missingSearchAttributes(resp, want)
		if err != nil {
			return added, fmt.Errorf("ensure search attributes of namespace %q: %w", namespace, err)
		}
		if len(missing) == 0 {
			slices.Sort(added)
			return added, nil
		}
		_, err = ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
			Namespace:        namespace,
			SearchAttributes: missing,
		})
		var exists *serviceerror.AlreadyExists
		var unavailable *serviceerror.Unavailable
		switch {
		case err == nil:
			// Listed again on the next turn: SQL visibility skips an alias
			// another process added meanwhile, whatever its type, so only a
			// fresh list proves the types match.
			added = append(added, slices.Collect(maps.Keys(missing))...)
		case errors.As(err, &exists), errors.As(err, &unavailable):
			lastErr = err
		default:
			return added, fmt.Errorf("add search attributes %v to namespace %q: %w", slices.Sorted(maps.Keys(missing)), namespace, err)
		}
	}
	if lastErr == nil {
		lastErr = errors.New("they are still missing after being added")
	}
	return added, fmt.Errorf("ensure search attributes of namespace %q: gave up after %d attempts: %w", namespace, reconcileAttempts, lastErr)
}

// missingSearchAttributes compares the listed attributes with the wanted
// ones and reports type conflicts, which no retry can fix.
func missingSearchAttributes(resp *operatorservice.ListSearchAttributesResponse, want map[string]enumspb.IndexedValueType) (map[string]enumspb.IndexedValueType, error) {
	missing := make(map[string]enumspb.IndexedValueType)
	for _, name := range slices.Sorted(maps.Keys(want)) {
		typ := want[name]
		if got, ok := resp.GetCustomAttributes()[name]; ok {
			if got != typ {
				return nil, fmt.Errorf("search attribute %q exists with type %s, want %s (remove it or rename ours)", name, got, typ)
			}
			continue
		}
		if got, ok := resp.GetSystemAttributes()[name]; ok {
			return nil, fmt.Errorf("search attribute %q is a Temporal system attribute (type %s) and cannot be added", name, got)
		}
		missing[name] = typ
	}
	return missing, nil
}

// EnsureNamespace registers namespace with the given retention if it does
// not exist and raises its retention if it is lower; a higher retention is
// left alone. Concurrent callers are fine: "already exists" counts as
// success. A namespace it registers is usable when it returns.
func EnsureNamespace(ctx context.Context, c client.Client, name string, retention time.Duration) error {
	if name == "" {
		return errors.New("ensure namespace: empty name")
	}
	if retention <= 0 {
		return fmt.Errorf("ensure namespace %q: retention must be positive, got %s", name, retention)
	}
	ws := c.WorkflowService()
	desc, err := ws.DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: name})
	var notFound *serviceerror.NamespaceNotFound
	if errors.As(err, &notFound) {
		_, regErr := ws.RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace:                        name,
			WorkflowExecutionRetentionPeriod: durationpb.New(retention),
		})
		var exists *serviceerror.NamespaceAlreadyExists
		if regErr != nil && !errors.As(regErr, &exists) {
			return fmt.Errorf("register namespace %q: %w", name, regErr)
		}
		if err := waitNamespace(ctx, ws, name); err != nil {
			return err
		}
		if regErr == nil {
			return nil
		}
		// Registered by someone else meanwhile: check its retention.
		desc, err = ws.DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: name})
	}
	if err != nil {
		return fmt.Errorf("describe namespace %q: %w", name, err)
	}
	if desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration() >= retention {
		return nil
	}
	_, err = ws.UpdateNamespace(ctx, &workflowservice.UpdateNamespaceRequest{
		Namespace: name,
		Config:    &namespacepb.NamespaceConfig{WorkflowExecutionRetentionTtl: durationpb.New(retention)},
	})
	if err != nil {
		return fmt.Errorf("raise retention of namespace %q to %s: %w", name, retention, err)
	}
	return nil
}

// waitNamespace polls until the frontend serves namespace-scoped calls for
// a namespace just registered. DescribeNamespace reads the database, but
// the other calls go through the frontend's namespace cache, which
// remembers a miss for 1 s (the lookup EnsureNamespace just did) and
// otherwise refreshes every 2 s.
func waitNamespace(ctx context.Context, ws workflowservice.WorkflowServiceClient, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		_, err := ws.CountWorkflowExecutions(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: name})
		var notFound *serviceerror.NamespaceNotFound
		if !errors.As(err, &notFound) {
			return nil
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return fmt.Errorf("wait for namespace %q to be served: %w", name, err)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
