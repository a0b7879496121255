package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/proxy"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/proto"

	"github.com/parry-soc/parry/internal/codec"
	"github.com/parry-soc/parry/workflows"
)

// ReplayOptions configure a Replayer.
type ReplayOptions struct {
	// Codec decodes the history's payloads: the same payload keys the run was recorded with. Nil means
	// Temporal's default converters (payloads in plaintext).
	Codec *codec.Codec
	// Register registers the workflow code to replay against (default workflows.Register). Tests register
	// changed interpreters here.
	Register func(workflows.Registry)
	// Logger receives the replayer's logs (default: discarded).
	Logger log.Logger
}

// recycleAfter bounds how many histories one SDK replayer replays: it keeps every completed workflow's result
// in a map it never empties.
const recycleAfter = 256

// Replayer replays histories against the current workflow code, with the SDK's command check and Parry's
// activity input check. It is not safe for concurrent use: make one per goroutine.
type Replayer struct {
	opts   ReplayOptions
	check  *inputCheck
	sdk    worker.WorkflowReplayer
	replay int
}

// NewReplayer makes a Replayer.
func NewReplayer(opts ReplayOptions) *Replayer {
	if opts.Register == nil {
		opts.Register = workflows.Register
	}
	if opts.Logger == nil {
		opts.Logger = log.NewStructuredLogger(discard())
	}
	return &Replayer{opts: opts, check: &inputCheck{codec: opts.Codec}}
}

func (r *Replayer) sdkReplayer() (worker.WorkflowReplayer, error) {
	if r.sdk != nil && r.replay < recycleAfter {
		return r.sdk, nil
	}
	sdk, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{
		DataConverter:    r.opts.Codec.DataConverter(),
		FailureConverter: r.opts.Codec.FailureConverter(),
		Interceptors:     []interceptor.WorkerInterceptor{r.check},
		// The worker registers with aliasing off; the replayer must resolve names the same way.
		DisableRegistrationAliasing: true,
	})
	if err != nil {
		return nil, fmt.Errorf("make replayer: %w", err)
	}
	r.opts.Register(sdk)
	r.sdk, r.replay = sdk, 0
	return sdk, nil
}

// NondeterminismError says where the current code stops reproducing a history: the first diverging event,
// or the first activity whose recomputed input differs from the recorded one.
type NondeterminismError struct {
	EventID int64  // the history event where it diverges (0 when not known)
	Detail  string // in words
	Cause   error  // the SDK's error, when the SDK found it
	// Inputs names every activity whose recomputed input differs from the recorded one, in order
	// ("step isolate-host (edr.isolate_host)").
	Inputs []string
}

func (e *NondeterminismError) Error() string { return e.Detail }
func (e *NondeterminismError) Unwrap() error { return e.Cause }

// UnreadableError is a history that cannot be replayed at all: malformed, or its payloads encrypted with keys
// not held.
type UnreadableError struct{ Err error }

func (e *UnreadableError) Error() string { return e.Err.Error() }
func (e *UnreadableError) Unwrap() error { return e.Err }

// Replay replays one history under the workflow and run id it was recorded with. It returns a
// *NondeterminismError when the current code diverges, an *UnreadableError when the history cannot be
// replayed, nil when it reproduces every command and every activity input.
func (r *Replayer) Replay(h *historypb.History) error {
	if err := checkStart(h); err != nil {
		return &UnreadableError{err}
	}
	// Every payload is visited for its key id up front only when the input is encrypted (the scan costs a
	// twentieth of a replay); a plaintext start whose later payloads are encrypted fails to replay without
	// the keys, and the scan then says which keys are missing.
	encrypted := startEncrypted(h)
	if encrypted {
		if err := checkKeys(h, r.opts.Codec); err != nil {
			return &UnreadableError{err}
		}
	}
	sdk, err := r.sdkReplayer()
	if err != nil {
		return err
	}
	r.replay++
	r.check.reset(h)
	replayErr := Replay(sdk, r.opts.Logger, h)
	if (replayErr != nil || r.check.err != nil) && !encrypted {
		if err := checkKeys(h, r.opts.Codec); err != nil {
			return &UnreadableError{err}
		}
	}
	if r.check.err != nil {
		return &UnreadableError{r.check.err}
	}
	var first *NondeterminismError
	if replayErr != nil {
		first = describeDivergence(h, replayErr)
		if t := r.check.divergence(h); t != nil && (first.EventID == 0 || t.EventID <= first.EventID) {
			t.Cause = replayErr
			first = t
		}
	}
	if m := r.check.inputError(); m != nil && (first == nil || first.EventID == 0 || m.EventID <= first.EventID) {
		first = m
	}
	if first != nil {
		return first
	}
	return nil
}

func checkStart(h *historypb.History) error {
	if len(h.GetEvents()) == 0 {
		return errors.New("the history has no events")
	}
	if h.Events[0].GetWorkflowExecutionStartedEventAttributes() == nil {
		return errors.New("the history does not begin with WorkflowExecutionStarted")
	}
	return nil
}

// startEncrypted reports whether the workflow's input is encrypted.
func startEncrypted(h *historypb.History) bool {
	for _, p := range h.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads() {
		if string(p.GetMetadata()[converter.MetadataEncoding]) == codec.MetadataEncodingEncrypted {
			return true
		}
	}
	return false
}

// checkKeys refuses a history whose payloads are encrypted with keys the codec does not hold, naming them,
// rather than letting replay fail somewhere inside.
func checkKeys(h *historypb.History, c *codec.Codec) error {
	ids, err := PayloadKeyIDs(h)
	if err != nil || len(ids) == 0 {
		return err
	}
	var missing []string
	for _, id := range ids {
		if c == nil || !c.Keys().Has(id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("payloads are encrypted with key(s) %s: pass them with --keys (or %s)", strings.Join(missing, ", "), codec.EnvKeys)
	}
	return nil
}

// PayloadKeyIDs lists, sorted, the ids of the payload keys that encrypted the history's payloads.
func PayloadKeyIDs(h *historypb.History) ([]string, error) {
	seen := map[string]bool{}
	err := proxy.VisitPayloads(context.Background(), h, proxy.VisitPayloadsOptions{
		SkipSearchAttributes: true,
		Visitor: func(_ *proxy.VisitPayloadsContext, ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
			for _, p := range ps {
				if string(p.GetMetadata()[converter.MetadataEncoding]) == codec.MetadataEncodingEncrypted {
					seen[string(p.GetMetadata()[codec.MetadataEncryptionKeyID])] = true
				}
			}
			return ps, nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("read payloads: %w", err)
	}
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, nil
}

// DecryptHistory decodes every payload of the history in place with the codec.
func DecryptHistory(h *historypb.History, c *codec.Codec) error {
	if c == nil {
		return nil
	}
	return proxy.VisitPayloads(context.Background(), h, proxy.VisitPayloadsOptions{
		SkipSearchAttributes: true,
		Visitor: func(_ *proxy.VisitPayloadsContext, ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
			return c.Decode(ps)
		},
	})
}

// inputCheck is a worker interceptor for the replayer: every activity the replayed code schedules has its
// input encoded and compared with the input recorded for the same activity id (and occurrence) in the history.
// The SDK's own check compares only the activity type and id.
type inputCheck struct {
	interceptor.WorkerInterceptorBase
	codec *codec.Codec

	recorded map[string][]*historypb.HistoryEvent // ActivityTaskScheduled events by activity id, in order
	seen     map[string]int
	// mismatches are the activities whose recomputed input differs, in the order the code scheduled them.
	mismatches []inputMismatch
	err        error
	// trace is every command-producing call the replayed code made, in order: it only serves to say where
	// the code diverged once the SDK found that it did.
	trace []call
}

// call is one command-producing call of the replayed code.
type call struct {
	kind    enumspb.EventType // the event its command records
	id, typ string            // activity id and type; marker or change id
	d       time.Duration     // a timer's duration
}

func (c *inputCheck) reset(h *historypb.History) {
	c.recorded, c.seen, c.mismatches, c.err, c.trace = map[string][]*historypb.HistoryEvent{}, map[string]int{}, nil, nil, c.trace[:0]
	for _, e := range h.GetEvents() {
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
			c.recorded[a.GetActivityId()] = append(c.recorded[a.GetActivityId()], e)
		}
	}
}

func (c *inputCheck) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &checkInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, c: c}
}

type checkInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	c *inputCheck
}

func (i *checkInbound) Init(out interceptor.WorkflowOutboundInterceptor) error {
	return i.Next.Init(&checkOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: out}, c: i.c})
}

func (i *checkInbound) ExecuteWorkflow(ctx workflow.Context, in *interceptor.ExecuteWorkflowInput) (any, error) {
	res, err := i.Next.ExecuteWorkflow(ctx, in)
	var can *workflow.ContinueAsNewError
	switch {
	case err == nil:
		i.c.record(call{kind: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED})
	case errors.As(err, &can):
		i.c.record(call{kind: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW})
	default:
		i.c.record(call{kind: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED})
	}
	return res, err
}

type checkOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	c *inputCheck
}

func (o *checkOutbound) ExecuteActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	id := workflow.GetActivityOptions(ctx).ActivityID
	o.c.record(call{kind: enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, id: id, typ: activityType})
	o.c.compare(id, activityType, args)
	return o.Next.ExecuteActivity(ctx, activityType, args...)
}

// The other calls that make commands are only traced. The SDK's own implementations of Sleep and
// AwaitWithTimeout call NewTimerWithOptions through the interceptors, so every timer passes here once.

func (o *checkOutbound) NewTimer(ctx workflow.Context, d time.Duration) workflow.Future {
	o.c.timer(d)
	return o.Next.NewTimer(ctx, d)
}

func (o *checkOutbound) NewTimerWithOptions(ctx workflow.Context, d time.Duration, opts workflow.TimerOptions) workflow.Future {
	o.c.timer(d)
	return o.Next.NewTimerWithOptions(ctx, d, opts)
}

func (o *checkOutbound) UpsertSearchAttributes(ctx workflow.Context, attrs map[string]any) error {
	o.c.record(call{kind: enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES})
	return o.Next.UpsertSearchAttributes(ctx, attrs)
}

func (o *checkOutbound) UpsertTypedSearchAttributes(ctx workflow.Context, attrs ...temporal.SearchAttributeUpdate) error {
	o.c.record(call{kind: enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES})
	return o.Next.UpsertTypedSearchAttributes(ctx, attrs...)
}

func (o *checkOutbound) UpsertMemo(ctx workflow.Context, memo map[string]any) error {
	o.c.record(call{kind: enumspb.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED})
	return o.Next.UpsertMemo(ctx, memo)
}

func (o *checkOutbound) GetVersion(ctx workflow.Context, changeID string, minSupported, maxSupported workflow.Version) workflow.Version {
	o.c.record(call{kind: enumspb.EVENT_TYPE_MARKER_RECORDED, typ: versionMarker, id: changeID})
	return o.Next.GetVersion(ctx, changeID, minSupported, maxSupported)
}

func (o *checkOutbound) SideEffect(ctx workflow.Context, f func(ctx workflow.Context) any) converter.EncodedValue {
	o.c.record(call{kind: enumspb.EVENT_TYPE_MARKER_RECORDED, typ: "SideEffect"})
	return o.Next.SideEffect(ctx, f)
}

func (o *checkOutbound) MutableSideEffect(ctx workflow.Context, id string, f func(ctx workflow.Context) any, equals func(a, b any) bool) converter.EncodedValue {
	o.c.record(call{kind: enumspb.EVENT_TYPE_MARKER_RECORDED, typ: "MutableSideEffect", id: id})
	return o.Next.MutableSideEffect(ctx, id, f, equals)
}

func (o *checkOutbound) ExecuteLocalActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	o.c.record(call{kind: enumspb.EVENT_TYPE_MARKER_RECORDED, typ: "LocalActivity"})
	return o.Next.ExecuteLocalActivity(ctx, activityType, args...)
}

func (o *checkOutbound) ExecuteChildWorkflow(ctx workflow.Context, childWorkflowType string, args ...any) workflow.ChildWorkflowFuture {
	o.c.record(call{kind: enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED, typ: childWorkflowType})
	return o.Next.ExecuteChildWorkflow(ctx, childWorkflowType, args...)
}

func (o *checkOutbound) SignalExternalWorkflow(ctx workflow.Context, workflowID, runID, signalName string, arg any) workflow.Future {
	o.c.record(call{kind: enumspb.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED, typ: signalName})
	return o.Next.SignalExternalWorkflow(ctx, workflowID, runID, signalName, arg)
}

func (o *checkOutbound) SignalChildWorkflow(ctx workflow.Context, workflowID, signalName string, arg any) workflow.Future {
	o.c.record(call{kind: enumspb.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED, typ: signalName})
	return o.Next.SignalChildWorkflow(ctx, workflowID, signalName, arg)
}

func (o *checkOutbound) RequestCancelExternalWorkflow(ctx workflow.Context, workflowID, runID string) workflow.Future {
	o.c.record(call{kind: enumspb.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED})
	return o.Next.RequestCancelExternalWorkflow(ctx, workflowID, runID)
}

func (c *inputCheck) record(k call) { c.trace = append(c.trace, k) }

func (c *inputCheck) timer(d time.Duration) {
	if d > 0 { // a zero timer fires at once and makes no command
		c.record(call{kind: enumspb.EVENT_TYPE_TIMER_STARTED, d: d})
	}
}

const versionMarker = "Version"

var plain = converter.GetDefaultDataConverter()

// compare checks one scheduled activity's input against the history. An activity the history does not have
// (or has under another type) is left to the SDK's command check.
func (c *inputCheck) compare(id, activityType string, args []any) {
	if c.err != nil || id == "" {
		return
	}
	n := c.seen[id]
	c.seen[id]++
	if n >= len(c.recorded[id]) {
		return
	}
	ev := c.recorded[id][n]
	attrs := ev.GetActivityTaskScheduledEventAttributes()
	if attrs.GetActivityType().GetName() != activityType {
		return
	}
	got, err := plain.ToPayloads(args...)
	if err != nil {
		c.err = fmt.Errorf("encode the input of activity %s: %w", id, err)
		return
	}
	want := attrs.GetInput().GetPayloads()
	if c.codec != nil {
		if want, err = c.codec.Decode(want); err != nil {
			c.err = fmt.Errorf("decode the recorded input of activity %s (event %d): %w", id, ev.GetEventId(), err)
			return
		}
	}
	if payloadsEqual(got.GetPayloads(), want) {
		return
	}
	// Not the same bytes: compare what they say (JSON object member order, for one, does not matter).
	gv, gerr := decodeAll(got.GetPayloads())
	wv, werr := decodeAll(want)
	if gerr == nil && werr == nil && reflect.DeepEqual(gv, wv) {
		return
	}
	what := "activity"
	if len(wv) > 0 {
		if m, ok := wv[0].(map[string]any); ok && m["step_id"] == id {
			what = "step"
		}
	}
	name := fmt.Sprintf("%s %s (%s)", what, id, activityType)
	c.mismatches = append(c.mismatches, inputMismatch{
		eventID: ev.GetEventId(),
		name:    name,
		detail:  fmt.Sprintf("%s, event %d: recorded input %s", name, ev.GetEventId(), diffValues(wv, gv)),
	})
}

type inputMismatch struct {
	eventID      int64
	name, detail string
}

// inputError is the input check's verdict: the first activity whose input differs, and the names of the
// others (the first is often a notification announcing the changed step, which the auditor also wants named).
func (c *inputCheck) inputError() *NondeterminismError {
	if len(c.mismatches) == 0 {
		return nil
	}
	first := c.mismatches[0]
	nd := &NondeterminismError{EventID: first.eventID, Detail: first.detail}
	for _, m := range c.mismatches {
		nd.Inputs = append(nd.Inputs, m.name)
	}
	if n := len(nd.Inputs) - 1; n > 0 {
		others := nd.Inputs[1:min(len(nd.Inputs), 5)]
		more := ""
		if n > len(others) {
			more = ", …"
		}
		nd.Detail += fmt.Sprintf("; %d more activity input(s) differ: %s%s", n, strings.Join(others, ", "), more)
	}
	return nd
}

func payloadsEqual(a, b []*commonpb.Payload) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func decodeAll(ps []*commonpb.Payload) ([]any, error) {
	out := make([]any, len(ps))
	for i, p := range ps {
		if err := plain.FromPayload(p, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// diffValues renders where two decoded inputs differ, as "{path: value, …}" for each side, naming at most
// three paths. A Parry action request's parameters are named without their "with." prefix.
func diffValues(recorded, replayed []any) string {
	var paths []string
	var rec, rep []string
	var walk func(path string, a, b any)
	walk = func(path string, a, b any) {
		if len(paths) >= 3 || reflect.DeepEqual(a, b) {
			return
		}
		am, aok := a.(map[string]any)
		bm, bok := b.(map[string]any)
		if aok && bok {
			keys := map[string]bool{}
			for k := range am {
				keys[k] = true
			}
			for k := range bm {
				keys[k] = true
			}
			sorted := make([]string, 0, len(keys))
			for k := range keys {
				sorted = append(sorted, k)
			}
			sort.Strings(sorted)
			for _, k := range sorted {
				walk(join(path, k), am[k], bm[k])
			}
			return
		}
		as, aok := a.([]any)
		bs, bok := b.([]any)
		if aok && bok && len(as) == len(bs) {
			for i := range as {
				walk(fmt.Sprintf("%s[%d]", path, i), as[i], bs[i])
			}
			return
		}
		paths = append(paths, path)
		if as, ok := a.(string); ok {
			if bs, ok := b.(string); ok {
				a, b = window(as, bs)
			}
		}
		rec = append(rec, renderAt(path, a))
		rep = append(rep, renderAt(path, b))
	}
	if len(recorded) == 1 && len(replayed) == 1 {
		walk("", recorded[0], replayed[0])
	} else {
		walk("", any(recorded), any(replayed))
	}
	return "{" + strings.Join(rec, ", ") + "}, replay computes {" + strings.Join(rep, ", ") + "}"
}

// window cuts two long strings to the part around their first difference.
func window(a, b string) (string, string) {
	const span = 40
	if len(a) <= 2*span && len(b) <= 2*span {
		return a, b
	}
	p := 0
	for p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	cut := func(s string) string {
		start, end := max(0, p-span), min(len(s), p+span)
		for start > 0 && !utf8.RuneStart(s[start]) {
			start--
		}
		for end < len(s) && !utf8.RuneStart(s[end]) {
			end++
		}
		out := s[start:end]
		if start > 0 {
			out = "…" + out
		}
		if end < len(s) {
			out += "…"
		}
		return out
	}
	return cut(a), cut(b)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func renderAt(path string, v any) string {
	path = strings.TrimPrefix(path, "with.")
	s := "(absent)"
	if v != nil {
		if str, ok := v.(string); ok {
			s = str
		} else if b, err := json.Marshal(v); err == nil {
			s = string(b)
		}
	}
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	if path == "" {
		return s
	}
	return path + ": " + s
}

// divergence compares the traced calls with the history's commands, in order, and names the first event
// where they differ. Commands a call does not make (cancellations, Update protocol messages) are skipped on
// the history's side. It returns nil when it finds no difference or meets an event it cannot pair.
func (c *inputCheck) divergence(h *historypb.History) *NondeterminismError {
	events := h.GetEvents()
	i := 0
	next := func() *historypb.HistoryEvent {
		for ; i < len(events); i++ {
			if commandEvent(events[i].GetEventType()) {
				return events[i]
			}
		}
		return nil
	}
	for _, k := range c.trace {
		e := next()
		if k.kind == enumspb.EVENT_TYPE_MARKER_RECORDED && k.typ == versionMarker {
			// GetVersion makes a marker only when the history has one for the change (or past its end).
			if e != nil && e.GetMarkerRecordedEventAttributes().GetMarkerName() == versionMarker && markerChangeID(e) == k.id {
				i++
				if n := next(); n != nil && isChangeVersionUpsert(n) {
					i++
				}
			}
			continue
		}
		if e == nil {
			if last := lastCommand(events); last != nil {
				return &NondeterminismError{EventID: last.GetEventId(), Detail: fmt.Sprintf("after %s, the last command of the history, the current code %s", eventWords(last, 0), k.words())}
			}
			return nil
		}
		if e.GetEventType() != k.kind || !k.matches(e) {
			return &NondeterminismError{EventID: e.GetEventId(), Detail: fmt.Sprintf("%s: the current code %s instead", eventWords(e, 0), k.words())}
		}
		i++
	}
	if e := next(); e != nil {
		return &NondeterminismError{EventID: e.GetEventId(), Detail: fmt.Sprintf("%s: the current code issues no command for it (it stops or waits before)", eventWords(e, 0))}
	}
	return nil
}

// commandEvent reports whether an event records a command that a traced call makes.
func commandEvent(t enumspb.EventType) bool {
	switch t {
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, enumspb.EVENT_TYPE_TIMER_STARTED, enumspb.EVENT_TYPE_MARKER_RECORDED,
		enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES, enumspb.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED,
		enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED, enumspb.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
		enumspb.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
		enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
		enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
		return true
	}
	return false
}

func lastCommand(events []*historypb.HistoryEvent) *historypb.HistoryEvent {
	for i := len(events) - 1; i >= 0; i-- {
		if commandEvent(events[i].GetEventType()) {
			return events[i]
		}
	}
	return nil
}

func markerChangeID(e *historypb.HistoryEvent) string {
	var id string
	if p := e.GetMarkerRecordedEventAttributes().GetDetails()["change-id"]; p != nil {
		_ = plain.FromPayloads(p, &id)
	}
	return id
}

func isChangeVersionUpsert(e *historypb.HistoryEvent) bool {
	_, ok := e.GetUpsertWorkflowSearchAttributesEventAttributes().GetSearchAttributes().GetIndexedFields()["TemporalChangeVersion"]
	return ok
}

func (k call) matches(e *historypb.HistoryEvent) bool {
	switch k.kind {
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
		a := e.GetActivityTaskScheduledEventAttributes()
		return a.GetActivityId() == k.id && a.GetActivityType().GetName() == k.typ
	case enumspb.EVENT_TYPE_MARKER_RECORDED:
		return e.GetMarkerRecordedEventAttributes().GetMarkerName() == k.typ
	}
	return true
}

// words says what the call does: "schedules activity extra (edr.isolate_host)".
func (k call) words() string {
	switch k.kind {
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
		return fmt.Sprintf("schedules activity %s (%s)", k.id, k.typ)
	case enumspb.EVENT_TYPE_TIMER_STARTED:
		return fmt.Sprintf("starts a timer (%s)", k.d)
	case enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
		return "upserts search attributes"
	case enumspb.EVENT_TYPE_MARKER_RECORDED:
		if k.typ == versionMarker {
			return "records version marker " + k.id
		}
		return "records a " + k.typ + " marker"
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
		return "completes the workflow"
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
		return "fails the workflow"
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
		return "continues as new"
	case enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
		return "starts child workflow " + k.typ
	case enumspb.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
		return "signals " + k.typ
	}
	return "issues a command recorded as " + k.kind.String()
}

// The SDK's nondeterminism messages ([TMPRL1100]) and what they name.
var (
	reExpected  = regexp.MustCompile(`a matching (\w+) command was expected in history event position (\S+?)\. `)
	reLookup    = regexp.MustCompile(`lookup failed for scheduledEventID to activityID: scheduleEventID: (\d+), activityID: (\S+)`)
	reMismatch  = regexp.MustCompile(`history event is (\w+): (.*), replay command is (\w+): (.*)$`)
	reMissing   = regexp.MustCompile(`missing replay command for (\w+): (.*)$`)
	reExtra     = regexp.MustCompile(`extra replay command for (\w+): (.*)$`)
	reActID     = regexp.MustCompile(`ActivityId:([^,)]+)`)
	reActType   = regexp.MustCompile(`ActivityType:\(Name:([^,)]+)`)
	reTimerID   = regexp.MustCompile(`TimerId:([^,)]+)`)
	reTimeout   = regexp.MustCompile(`StartToFireTimeout:\(Seconds:(\d+)`)
	reMarker    = regexp.MustCompile(`MarkerName:([^,)]+)`)
	reTaskEvent = regexp.MustCompile(`WorkflowTaskCompletedEventId:(\d+)`)
)

// describeDivergence turns a replay failure into the first diverging event, in words.
func describeDivergence(h *historypb.History, err error) *NondeterminismError {
	msg := err.Error()
	nd := &NondeterminismError{Cause: err}
	if m := reLookup.FindStringSubmatch(msg); m != nil {
		id, _ := strconv.ParseInt(m[1], 10, 64)
		ev := eventByID(h, id)
		nd.EventID = id
		nd.Detail = fmt.Sprintf("%s: the current code does not schedule this activity at this point", eventWords(ev, id))
		return nd
	}
	if m := reExpected.FindStringSubmatch(msg); m != nil {
		ev := findEvent(h, expectedEventType(m[1]), m[2], 0)
		nd.EventID = ev.GetEventId()
		nd.Detail = fmt.Sprintf("%s: the current code does not issue this %s command", eventWords(ev, 0), strings.ToLower(m[1]))
		return nd
	}
	if m := reMismatch.FindStringSubmatch(msg); m != nil {
		ev := findRecorded(h, m[1], m[2])
		nd.EventID = ev.GetEventId()
		nd.Detail = fmt.Sprintf("%s: the current code %s instead", eventWords(ev, 0), commandWords(m[3], m[4]))
		return nd
	}
	if m := reMissing.FindStringSubmatch(msg); m != nil {
		ev := findRecorded(h, m[1], m[2])
		nd.EventID = ev.GetEventId()
		nd.Detail = fmt.Sprintf("%s: the current code issues no command for it", eventWords(ev, 0))
		return nd
	}
	if m := reExtra.FindStringSubmatch(msg); m != nil {
		nd.Detail = fmt.Sprintf("the current code %s, which the history does not have", commandWords(m[1], m[2]))
		return nd
	}
	// Anything else: the workflow task failed (a panic, an input the code cannot decode any more).
	nd.Detail = "replay failed: " + firstLine(msg)
	return nd
}

func expectedEventType(commandType string) enumspb.EventType {
	switch commandType {
	case "Activity":
		return enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
	case "Timer":
		return enumspb.EVENT_TYPE_TIMER_STARTED
	case "Marker":
		return enumspb.EVENT_TYPE_MARKER_RECORDED
	case "CancelTimer":
		return enumspb.EVENT_TYPE_TIMER_CANCELED
	case "RequestCancelActivityTask":
		return enumspb.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED
	case "ChildWorkflow":
		return enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
	case "Signal":
		return enumspb.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED
	}
	return enumspb.EVENT_TYPE_UNSPECIFIED
}

// findRecorded finds the event an SDK message renders: its type, and the activity or timer id and workflow
// task it names.
func findRecorded(h *historypb.History, eventType, attrs string) *historypb.HistoryEvent {
	t, _ := enumspb.EventTypeFromString(eventType)
	id := ""
	if m := reActID.FindStringSubmatch(attrs); m != nil {
		id = m[1]
	} else if m := reTimerID.FindStringSubmatch(attrs); m != nil {
		id = m[1]
	}
	var after int64
	if m := reTaskEvent.FindStringSubmatch(attrs); m != nil {
		after, _ = strconv.ParseInt(m[1], 10, 64)
	}
	return findEvent(h, t, id, after)
}

// findEvent is the first event of a type after an event id, with the given activity or timer id if one is
// given.
func findEvent(h *historypb.History, t enumspb.EventType, id string, after int64) *historypb.HistoryEvent {
	for _, e := range h.GetEvents() {
		if e.GetEventType() != t || e.GetEventId() <= after {
			continue
		}
		if id != "" {
			if a := e.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityId() != id {
				continue
			}
			if a := e.GetTimerStartedEventAttributes(); a != nil && a.GetTimerId() != id {
				continue
			}
			if a := e.GetTimerCanceledEventAttributes(); a != nil && a.GetTimerId() != id {
				continue
			}
		}
		return e
	}
	return nil
}

func eventByID(h *historypb.History, id int64) *historypb.HistoryEvent {
	for _, e := range h.GetEvents() {
		if e.GetEventId() == id {
			return e
		}
	}
	return nil
}

// eventWords names an event: "event 18, ActivityTaskScheduled isolate-host (edr.isolate_host)".
func eventWords(e *historypb.HistoryEvent, id int64) string {
	if e == nil {
		if id > 0 {
			return fmt.Sprintf("event %d", id)
		}
		return "an event the message does not identify"
	}
	s := fmt.Sprintf("event %d, %s", e.GetEventId(), e.GetEventType())
	switch {
	case e.GetActivityTaskScheduledEventAttributes() != nil:
		a := e.GetActivityTaskScheduledEventAttributes()
		s += fmt.Sprintf(" %s (%s)", a.GetActivityId(), a.GetActivityType().GetName())
	case e.GetTimerStartedEventAttributes() != nil:
		a := e.GetTimerStartedEventAttributes()
		s += fmt.Sprintf(" %s (%s)", a.GetTimerId(), a.GetStartToFireTimeout().AsDuration())
	case e.GetMarkerRecordedEventAttributes() != nil:
		s += " " + e.GetMarkerRecordedEventAttributes().GetMarkerName()
	case e.GetUpsertWorkflowSearchAttributesEventAttributes() != nil:
		var names []string
		for k := range e.GetUpsertWorkflowSearchAttributesEventAttributes().GetSearchAttributes().GetIndexedFields() {
			names = append(names, k)
		}
		sort.Strings(names)
		if len(names) > 3 {
			names = append(names[:3], fmt.Sprintf("… %d attributes", len(names)))
		}
		s += " (" + strings.Join(names, ", ") + ")"
	}
	return s
}

// commandWords says what a replayed command does: "schedules activity extra (edr.isolate_host)".
func commandWords(commandType, attrs string) string {
	switch commandType {
	case "ScheduleActivityTask":
		id, typ := "", ""
		if m := reActID.FindStringSubmatch(attrs); m != nil {
			id = m[1]
		}
		if m := reActType.FindStringSubmatch(attrs); m != nil {
			typ = m[1]
		}
		return fmt.Sprintf("schedules activity %s (%s)", id, typ)
	case "StartTimer":
		if m := reTimeout.FindStringSubmatch(attrs); m != nil {
			secs, _ := strconv.Atoi(m[1])
			return fmt.Sprintf("starts a timer (%s)", time.Duration(secs)*time.Second)
		}
		return "starts a timer"
	case "RecordMarker":
		if m := reMarker.FindStringSubmatch(attrs); m != nil {
			return "records a " + m[1] + " marker"
		}
		return "records a marker"
	case "UpsertWorkflowSearchAttributes":
		return "upserts search attributes"
	case "CompleteWorkflowExecution":
		return "completes the workflow"
	case "FailWorkflowExecution":
		return "fails the workflow"
	case "CancelTimer":
		return "cancels a timer"
	}
	return "issues a " + commandType + " command"
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:297] + "..."
	}
	return s
}
