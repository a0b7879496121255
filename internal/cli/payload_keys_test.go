package cli

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	_ "modernc.org/sqlite" // the driver the embedded server writes temporal.db with

	"github.com/parry-soc/parry/internal/audit"
	"github.com/parry-soc/parry/internal/cluster"
	"github.com/parry-soc/parry/internal/codec"
	"github.com/parry-soc/parry/internal/devserver"
	"github.com/parry-soc/parry/internal/oidc/oidctest"
	"github.com/parry-soc/parry/workflows"
)

// plaintextMarkers are what the T1566.001 sample's payloads carry and ciphertext must not: the host as the
// alert names it (search attributes hold only its lowercased key, ws-0042), the user, the title, the
// sender and the source IP.
var plaintextMarkers = []string{"WS-0042", "alice", "Macro-enabled invoice attachment", "billing@invoices.example.net", "198.51.100.23"}

const firstRun = "parry-parry-demo-phish-0001"

// TestPayloadKeysEncryptWhatTheServerStores runs the T1566.001 response on the embedded server without
// and with PARRY_PAYLOAD_KEYS and reads temporal.db directly: without keys the alert's host, user and title
// are in the stored history (so the check can fail); with keys they are nowhere in the database, and every
// payload of every stored history event is AES-GCM ciphertext naming its key. Then the key is rotated (a
// new key appended): a new run is encrypted with the new key, and the old run and a bundle exported before
// the rotation still read, replay and decode — through the CLI, a worker, the client and the codec
// endpoint `trigger serve` mounts (in --dev for loopback, and in production for a signed-in user). With
// the old key removed, the old run no longer reads, and the error names the missing key.
func TestPayloadKeysEncryptWhatTheServerStores(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	sample := filepath.Join("testdata", "alerts", "t1566-001.json")

	// Without keys: the plaintext is in the file.
	plainHome := t.TempDir()
	runDev(ctx, t, plainHome, nil, sample)
	if found := scanDB(t, plainHome, plaintextMarkers); len(found["history_node"]) < 3 {
		t.Fatalf("without keys, history_node holds %v of %v: the check below could not fail", found["history_node"], plaintextMarkers)
	}

	// With one key.
	k1, k2 := genKey(t), genKey(t)
	keys1 := map[string]string{codec.EnvKeys: "k1:" + k1}
	keys12 := map[string]string{codec.EnvKeys: "k1:" + k1 + ", k2:" + k2}
	keys2 := map[string]string{codec.EnvKeys: "k2:" + k2}
	home := t.TempDir()
	srv := startServer(ctx, t, home)
	res := runDev(ctx, t, home, keys1, sample)
	if res.RunID != firstRun || res.Alert.Host != "WS-0042" {
		t.Fatalf("run %s host %q", res.RunID, res.Alert.Host)
	}
	if found := scanDB(t, home, plaintextMarkers); len(found) > 0 {
		t.Errorf("with PARRY_PAYLOAD_KEYS, temporal.db holds plaintext: %v", found)
	}
	stored := storedRuns(t, home)[firstRun]
	if stored.Input == nil {
		t.Fatalf("no stored input for %s", firstRun)
	}
	checkEncrypted(t, stored.Payloads, "k1")
	bundle := exportBundle(ctx, t, srv, keys1, firstRun)

	// Rotation: k2 appended, k1 kept. A new run is encrypted with k2.
	second := secondAlert(t, sample)
	res2 := runDev(ctx, t, home, keys12, second)
	if res2.RunID == firstRun {
		t.Fatalf("second alert reported as %s", res2.RunID)
	}
	runs := storedRuns(t, home)
	checkEncrypted(t, runs[res2.RunID].Payloads, "k2")
	// Every other workflow in the file too (the per-host incident workflows), under either key.
	for id, run := range runs {
		for i, p := range run.Payloads {
			if string(p.Metadata[converter.MetadataEncoding]) != codec.MetadataEncodingEncrypted {
				t.Errorf("workflow %s: stored payload %d is %q, not encrypted", id, i, p.Metadata[converter.MetadataEncoding])
			}
		}
	}
	if found := scanDB(t, home, plaintextMarkers); len(found) > 0 {
		t.Errorf("after rotation, temporal.db holds plaintext: %v", found)
	}

	// Both runs read after the rotation: `trigger status` (a worker holding both keys replays the old run
	// to answer the query) and the result through a client.
	stopWorker := startTestWorker(ctx, t, home, keys12)
	for _, run := range []string{firstRun, res2.RunID} {
		env, stdout, stderr := testEnv(home, keys12)
		if err := Trigger(ctx, env, []string{"status", "--dev", "--json", run}); err != nil {
			t.Fatalf("trigger status %s after rotation: %v\n%s", run, err, stderr)
		}
		if got := decodeResult(t, stdout.String()); got.RunID != run || got.Alert.Host != "WS-0042" || got.State != workflows.StateCompleted {
			t.Errorf("status of %s after rotation: run %s state %s host %q", run, got.RunID, got.State, got.Alert.Host)
		}
		if got, err := result(ctx, t, srv, keys12, run); err != nil || got.Alert.User != "alice" {
			t.Errorf("result of %s after rotation: %+v, %v", run, got.Alert, err)
		}
	}
	stopWorker()

	// The bundle exported before the rotation: still ciphertext, and it replays and decodes with the
	// rotated keys.
	if bytes.Contains(bundle, []byte("WS-0042")) || bytes.Contains(bundle, []byte("alice")) {
		t.Error("the exported bundle holds plaintext")
	}
	if err := replayBundle(t, bundle, keys12); err != nil {
		t.Errorf("replay the old bundle after rotation: %v", err)
	}
	if in, err := bundleInput(t, bundle, keys12); err != nil || in.Alert.Host != "WS-0042" {
		t.Errorf("read the old bundle's input after rotation: host %q, %v", in.Alert.Host, err)
	}

	// The codec endpoint decodes a payload exactly as the server stored it: in dev for a loopback caller,
	// in production for a signed-in user only.
	started := stored.Input
	devCodec := serveCodec(ctx, t, home, keys12, "--dev")
	if code, body := postCodec(t, devCodec+"/decode", "", started); code != http.StatusOK || !strings.Contains(body, "V1MtMDA0Mi") /* base64 of WS-0042 */ {
		t.Errorf("dev codec decode = %d %.300s", code, body)
	} else {
		checkDecodedInput(t, body)
	}
	iss := oidctest.New(t)
	prod := map[string]string{
		"TEMPORAL_ADDRESS":          srv.Address(),
		"PARRY_CODEC_OIDC_ISSUER":   iss.URL,
		"PARRY_CODEC_OIDC_AUDIENCE": "parry",
		"PARRY_CODEC_CORS_ORIGINS":  "https://temporal.example.com",
		codec.EnvKeys:               keys12[codec.EnvKeys],
	}
	prodCodec := serveCodec(ctx, t, home, prod)
	if code, body := postCodec(t, prodCodec+"/decode", iss.Token("rsa-1", oidctest.Claims{"aud": "parry"}), started); code != http.StatusOK {
		t.Errorf("production codec decode for a signed-in user = %d %.300s", code, body)
	} else {
		checkDecodedInput(t, body)
	}
	for name, token := range map[string]string{
		"no token":      "",
		"expired token": iss.Token("rsa-1", oidctest.Claims{"aud": "parry", "exp": time.Now().Add(-time.Hour).Unix()}),
		"wrong issuer":  oidctest.New(t).Token("rsa-1", oidctest.Claims{"aud": "parry"}),
	} {
		if code, body := postCodec(t, prodCodec+"/decode", token, started); code != http.StatusUnauthorized || strings.Contains(body, "V1MtMDA0Mi") {
			t.Errorf("production codec decode with %s = %d %.300s, want 401", name, code, body)
		}
	}

	// k1 retired without escrow: the old run and the old bundle no longer read, and the error says why.
	const missing = "payload encrypted with key k1, which PARRY_PAYLOAD_KEYS does not hold"
	if _, err := result(ctx, t, srv, keys2, firstRun); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("result of the old run with k1 removed = %v, want %q", err, missing)
	}
	if _, err := bundleInput(t, bundle, keys2); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("old bundle with k1 removed = %v, want %q", err, missing)
	}
	if got, err := result(ctx, t, srv, keys2, res2.RunID); err != nil || got.Alert.Host != "WS-0042" {
		t.Errorf("result of the new run with k2 only: %+v, %v", got.Alert, err)
	}
}

// TestBadPayloadKeysStopCommandsEarly: a malformed PARRY_PAYLOAD_KEYS is a usage error naming the entry,
// before anything is started.
func TestBadPayloadKeysStopCommandsEarly(t *testing.T) {
	env, _, _ := testEnv(t.TempDir(), map[string]string{codec.EnvKeys: "k1:c2hvcnQ="})
	err := Trigger(context.Background(), env, []string{"run", "--dev", filepath.Join("testdata", "alerts", "t1566-001.json")})
	if ExitCode(err) != 2 || !strings.Contains(err.Error(), "PARRY_PAYLOAD_KEYS entry 1 (key k1): key is 5 bytes, want 32") {
		t.Errorf("trigger run with a short key = %v (exit %d)", err, ExitCode(err))
	}
	env, _, _ = testEnv(t.TempDir(), map[string]string{codec.EnvKeys: "k1:" + genKey(t)})
	err = Trigger(context.Background(), env, []string{"serve"})
	if ExitCode(err) != 2 || !strings.Contains(err.Error(), "PARRY_CODEC_OIDC_ISSUER") {
		t.Errorf("trigger serve with keys, without Slack or an OIDC issuer = %v, want exit 2 naming PARRY_CODEC_OIDC_ISSUER", err)
	}
}

func genKey(t *testing.T) string {
	t.Helper()
	k, err := codec.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// runDev runs `trigger run --dev --auto-approve --json` and returns the completed run's result.
func runDev(ctx context.Context, t *testing.T, home string, vars map[string]string, alert string) workflows.Result {
	t.Helper()
	env, stdout, stderr := testEnv(home, vars)
	if err := Trigger(ctx, env, []string{"run", "--dev", "--auto-approve", "--json", alert}); err != nil {
		t.Fatalf("trigger run %s: %v\n%s", alert, err, stderr)
	}
	res := decodeResult(t, stdout.String())
	if res.State != workflows.StateCompleted {
		t.Fatalf("run %s: state %s (%s)", res.RunID, res.State, res.Failure)
	}
	return res
}

// secondAlert is the sample under another alert id: another run of the same response.
func secondAlert(t *testing.T, sample string) string {
	t.Helper()
	b, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "second.json")
	if err := os.WriteFile(path, bytes.Replace(b, []byte(`"demo-phish-0001"`), []byte(`"demo-phish-0002"`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// openDB opens the dev server's SQLite file read-only, beside the server that may be writing it.
func openDB(t *testing.T, home string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(home, devserver.DBFile)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// scanDB reads every column of every row of every table and returns, per table, the markers found.
func scanDB(t *testing.T, home string, markers []string) map[string][]string {
	t.Helper()
	db := openDB(t, home)
	var tables []string
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	if len(tables) < 10 {
		t.Fatalf("temporal.db has %d tables: not the server's database?", len(tables))
	}
	found := map[string][]string{}
	for _, table := range tables {
		rows, err := db.Query(`SELECT * FROM "` + table + `"`)
		if err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		cols, _ := rows.Columns()
		seen := map[string]bool{}
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("read %s: %v", table, err)
			}
			for _, v := range vals {
				var b []byte
				switch x := v.(type) {
				case []byte:
					b = x
				case string:
					b = []byte(x)
				default:
					continue
				}
				for _, m := range markers {
					if !seen[m] && bytes.Contains(b, []byte(m)) {
						seen[m] = true
						found[table] = append(found[table], m)
					}
				}
			}
		}
		rows.Close()
	}
	return found
}

// storedRun is what history_node holds of one run.
type storedRun struct {
	// Input is WorkflowExecutionStarted's input, as stored.
	Input *commonpb.Payload
	// Payloads are every payload of every event outside search attributes.
	Payloads []*commonpb.Payload
}

// storedRuns reads the history events stored in history_node, by workflow ID.
func storedRuns(t *testing.T, home string) map[string]storedRun {
	t.Helper()
	db := openDB(t, home)
	rows, err := db.Query(`SELECT tree_id, data, data_encoding FROM history_node ORDER BY tree_id, node_id, txn_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	byTree := map[string][]*historypb.HistoryEvent{}
	var trees []string
	for rows.Next() {
		var tree, enc string
		var data []byte
		if err := rows.Scan(&tree, &data, &enc); err != nil {
			t.Fatal(err)
		}
		if !strings.EqualFold(enc, "proto3") {
			t.Fatalf("history_node blob encoded %q: want proto3", enc)
		}
		var batch historypb.History
		if err := proto.Unmarshal(data, &batch); err != nil {
			t.Fatalf("history_node blob is not a history batch: %v", err)
		}
		if _, ok := byTree[tree]; !ok {
			trees = append(trees, tree)
		}
		byTree[tree] = append(byTree[tree], batch.Events...)
	}
	out := map[string]storedRun{}
	for _, tree := range trees {
		events := byTree[tree]
		started := events[0].GetWorkflowExecutionStartedEventAttributes()
		if started == nil {
			t.Fatalf("history tree %s does not begin with WorkflowExecutionStarted", tree)
		}
		id := started.GetWorkflowId()
		if id == "" {
			t.Fatalf("history tree %s: WorkflowExecutionStarted names no workflow ID", tree)
		}
		var ps []*commonpb.Payload
		for _, e := range events {
			collectPayloads(e.ProtoReflect(), &ps)
		}
		run := storedRun{Payloads: ps}
		if in := started.GetInput().GetPayloads(); len(in) > 0 {
			run.Input = in[0]
		}
		out[id] = run
	}
	return out
}

// collectPayloads appends every Payload under m, except search attributes (indexed, never encrypted by a
// payload codec; Parry keeps them non-sensitive).
func collectPayloads(m protoreflect.Message, out *[]*commonpb.Payload) {
	switch m.Descriptor().FullName() {
	case "temporal.api.common.v1.SearchAttributes":
		return
	case "temporal.api.common.v1.Payload":
		*out = append(*out, m.Interface().(*commonpb.Payload))
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				collectPayloads(l.Get(i).Message(), out)
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				collectPayloads(mv.Message(), out)
				return true
			})
		case fd.Message() != nil && !fd.IsMap() && !fd.IsList():
			collectPayloads(v.Message(), out)
		}
		return true
	})
}

// checkEncrypted: a run's stored payloads are many, and every one is ciphertext under the key.
func checkEncrypted(t *testing.T, ps []*commonpb.Payload, keyID string) {
	t.Helper()
	if len(ps) < 20 {
		t.Fatalf("the run's stored history has %d payloads, want the input, activity inputs and results, updates…", len(ps))
	}
	bad := 0
	for i, p := range ps {
		enc, id := string(p.Metadata[converter.MetadataEncoding]), string(p.Metadata[codec.MetadataEncryptionKeyID])
		if enc != codec.MetadataEncodingEncrypted || id != keyID {
			if bad++; bad <= 3 {
				t.Errorf("stored payload %d of %d: encoding %q key %q, want %s under %s", i, len(ps), enc, id, codec.MetadataEncodingEncrypted, keyID)
			}
		}
	}
}

func dialWith(ctx context.Context, t *testing.T, srv *devserver.Server, vars map[string]string) client.Client {
	t.Helper()
	conv, err := codec.ConvertersFromEnv(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	c, err := cluster.Dial(ctx, cluster.Config{Address: srv.Address(), Namespace: srv.Namespace()}, client.Options{
		Logger: tlog.NewStructuredLogger(discardLogger()), DataConverter: conv.Data, FailureConverter: conv.Failure,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// result reads a closed run's result through a client holding the keys in vars.
func result(ctx context.Context, t *testing.T, srv *devserver.Server, vars map[string]string, run string) (workflows.Result, error) {
	t.Helper()
	var res workflows.Result
	err := dialWith(ctx, t, srv, vars).GetWorkflow(ctx, run, "").Get(ctx, &res)
	return res, err
}

// exportBundle fetches a run's history as an auditor's export holds it (still encrypted).
func exportBundle(ctx context.Context, t *testing.T, srv *devserver.Server, vars map[string]string, run string) []byte {
	t.Helper()
	h, err := audit.FetchHistory(ctx, dialWith(ctx, t, srv, vars), run)
	if err != nil {
		t.Fatal(err)
	}
	b, err := audit.MarshalHistory(h)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func replayBundle(t *testing.T, bundle []byte, vars map[string]string) error {
	t.Helper()
	h, err := audit.ReadHistory(bytes.NewReader(bundle))
	if err != nil {
		return err
	}
	conv, err := codec.ConvertersFromEnv(func(k string) string { return vars[k] })
	if err != nil {
		return err
	}
	r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{DataConverter: conv.Data, FailureConverter: conv.Failure})
	if err != nil {
		return err
	}
	workflows.Register(r)
	return audit.Replay(r, tlog.NewStructuredLogger(discardLogger()), h)
}

// bundleInput decodes a bundle's workflow input with the keys in vars.
func bundleInput(t *testing.T, bundle []byte, vars map[string]string) (workflows.Input, error) {
	t.Helper()
	var in workflows.Input
	h, err := audit.ReadHistory(bytes.NewReader(bundle))
	if err != nil {
		return in, err
	}
	dc, err := codec.DataConverterFromEnv(func(k string) string { return vars[k] })
	if err != nil {
		return in, err
	}
	err = dc.FromPayloads(h.Events[0].GetWorkflowExecutionStartedEventAttributes().GetInput(), &in)
	return in, err
}

// startTestWorker runs the worker command on the test's dev server until stopped.
func startTestWorker(ctx context.Context, t *testing.T, home string, vars map[string]string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	env, _, stderr := testEnv(home, vars)
	done := make(chan error, 1)
	go func() { done <- Worker(ctx, env, []string{"--dev"}) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v\n%s", err, stderr)
		}
	}
	t.Cleanup(stop)
	return stop
}

// serveCodec runs `trigger serve` (no Slack settings: the codec endpoints only) until the test ends and
// returns the codec URL it prints.
func serveCodec(ctx context.Context, t *testing.T, home string, vars map[string]string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	env, stdout, stderr := testEnv(home, vars)
	done := make(chan error, 1)
	go func() {
		done <- Trigger(ctx, env, append([]string{"serve", "--listen", "127.0.0.1:0", "--grace", "2s"}, args...))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("trigger serve: %v\n%s", err, stderr)
		}
	})
	for ctx.Err() == nil {
		out := stdout.String()
		if _, rest, ok := strings.Cut(out, "payload codec for the Web UI: "); ok && strings.Contains(rest, "\n") {
			if _, here, ok := strings.Cut(rest, "(here "); ok { // production: the URL behind the proxy, then this one
				rest = here
			}
			return strings.TrimRight(strings.Fields(rest)[0], "),")
		}
		select {
		case err := <-done:
			t.Fatalf("trigger serve ended: %v\n%s%s", err, stdout, stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatal("trigger serve did not start")
	return ""
}

// postCodec posts payloads to a codec endpoint as the Web UI does.
func postCodec(t *testing.T, url, token string, ps ...*commonpb.Payload) (int, string) {
	t.Helper()
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: ps})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Namespace", "default")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// checkDecodedInput: the decoded payload is the run's input, with the alert in plaintext.
func checkDecodedInput(t *testing.T, body string) {
	t.Helper()
	var out commonpb.Payloads
	if err := protojson.Unmarshal([]byte(body), &out); err != nil || len(out.Payloads) != 1 {
		t.Fatalf("codec response %.200s: %v", body, err)
	}
	var in workflows.Input
	if err := converter.GetDefaultDataConverter().FromPayload(out.Payloads[0], &in); err != nil {
		t.Fatalf("decoded payload: %v", err)
	}
	if in.Alert.Host != "WS-0042" || in.Alert.User != "alice" {
		t.Errorf("decoded input alert %+v", in.Alert)
	}
}
