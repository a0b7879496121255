package playbooks

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func loadFixture(t *testing.T) *Playbook {
	t.Helper()
	const file = "testdata/valid/fixture.yaml"
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Load(file, data)
	if err != nil {
		t.Fatalf("load %s: %v", file, err)
	}
	return p
}

func TestLoadFillsDefaultsAndNormalizes(t *testing.T) {
	p := loadFixture(t)
	for _, tt := range []struct {
		name      string
		got, want any
	}{
		{"technique upper-cased", p.Techniques, []string{"T1204.002"}},
		{"tactic as short name", p.Tactics, []string{"execution"}},
		{"inputs in document order", []string{p.Inputs[0].Name, p.Inputs[1].Name}, []string{"host", "sha256"}},
		{"approver min defaults to 1", p.Approvers[0].Min, 1},
		{"on_breach defaults to escalate", p.Phases[1].OnBreach, BreachEscalate},
		{"budget in days", p.Phases[0].Budget, 24 * time.Hour},
		{"approval timeout", p.Phases[0].Steps[1].Approval.Timeout, 90 * time.Second},
		{"approval on_timeout defaults to deny", p.Phases[0].Steps[1].Approval.OnTimeout, TimeoutDeny},
		{"catalog undo filled in", p.Phases[0].Steps[1].Undo, "edr.restore_file"},
		{"no undo where the catalog has none", p.Phases[0].Steps[0].Undo, ""},
		{"rollback group from the first step with undo and approval", p.Rollback, &RollbackPolicy{Approval: Approval{By: "leads", OnTimeout: TimeoutDeny}}},
		{"numbers are float64 as JSON gives them", p.Phases[0].Steps[0].With["process"], float64(4242)},
		{"templates kept as written", p.Phases[0].Steps[0].With["host"], "${{ inputs.host }}"},
		{"scalar tag is a list of one", p.Phases[1].Steps[0].Parallel[1].Tags.React, []string{"RA2101"}},
		{"retry", *p.Phases[1].Steps[0].Parallel[0].Retry, Retry{MaxAttempts: 3, Backoff: 1.5}},
		{"step position", p.Phases[0].Steps[1].Pos, Pos{Line: 22, Col: 9}},
		{"parallel step position", p.Phases[1].Steps[0].Parallel[1].Pos, Pos{Line: 30, Col: 13}},
		{"input position", p.Inputs[1].Pos, Pos{Line: 12, Col: 3}},
		{"source", p.Source, "testdata/valid/fixture.yaml"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %#v, want %#v", tt.got, tt.want)
			}
		})
	}
}

func TestLoadRecordsSHA256OfTheFile(t *testing.T) {
	data, err := os.ReadFile("testdata/valid/fixture.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Load("fixture.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if got, want := p.SHA256, hex.EncodeToString(sum[:]); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// TestValidateIsIdempotent re-validates a loaded playbook: the defaults Load filled in are valid input.
func TestValidateIsIdempotent(t *testing.T) {
	p := loadFixture(t)
	before, _ := json.Marshal(p)
	if err := Validate(p); err != nil {
		t.Fatalf("second validation: %v", err)
	}
	after, _ := json.Marshal(p)
	if string(before) != string(after) {
		t.Errorf("second validation changed the playbook:\n%s\n%s", before, after)
	}
}

// TestValidateWithoutPositions validates a playbook that came from JSON (a workflow input): it has no
// positions, and errors name the file only.
func TestValidateWithoutPositions(t *testing.T) {
	p := loadFixture(t)
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back Playbook
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if err := Validate(&back); err != nil {
		t.Fatalf("valid playbook from JSON: %v", err)
	}
	back.Phases[0].Steps[0].Action = "edr.kil_process"
	err = Validate(&back)
	want := `testdata/valid/fixture.yaml: unknown action "edr.kil_process" (did you mean "edr.kill_process"?)`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestParseReportsShapeButNotCatalogProblems(t *testing.T) {
	data := []byte("apiVersion: parry/v1\nkind: Playbook\nid: x\nname: X\nversion: 1\ntechniques: [T0000]\nphases: [{id: a, steps: [{id: s, action: no.such}]}]\n")
	if _, err := Parse("x.yaml", data); err != nil {
		t.Errorf("Parse: %v, want no error (catalog checks belong to Validate)", err)
	}
	_, err := Load("x.yaml", data)
	if err == nil || !strings.Contains(err.Error(), "unknown technique") || !strings.Contains(err.Error(), "unknown action") {
		t.Errorf("Load: got %v, want unknown technique and unknown action", err)
	}
	if _, err := Parse("x.yaml", []byte("id: [")); err == nil {
		t.Error("Parse of broken YAML: got no error")
	}
}

// stripPos zeroes every Pos in v, which JSON leaves out on purpose.
func stripPos(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			stripPos(v.Elem())
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			stripPos(v.Index(i))
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(Pos{}) {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				stripPos(v.Field(i))
			}
		}
	}
}

// TestJSONRoundTrip checks that a parsed playbook survives the trip a workflow input makes: the run must
// see exactly the model that was validated.
func TestJSONRoundTrip(t *testing.T) {
	lib, err := Library()
	if err != nil {
		t.Fatal(err)
	}
	all := append(lib, loadFixture(t))
	for _, p := range all {
		t.Run(p.ID, func(t *testing.T) {
			b, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			var got Playbook
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			want := *p
			want.src = nil
			stripPos(reflect.ValueOf(&want))
			if !reflect.DeepEqual(&got, &want) {
				again, _ := json.Marshal(&got)
				t.Errorf("round trip changed the playbook:\n%s\n%s", b, again)
			}
		})
	}
}

func TestLibraryValidates(t *testing.T) {
	files, err := fs.Glob(LibraryFiles(), "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Skip("no library playbooks yet")
	}
	lib, err := Library()
	if err != nil {
		t.Fatalf("library playbooks do not validate:\n%v", err)
	}
	if got, want := len(lib), len(files); got != want {
		t.Errorf("got %d playbooks, want %d (one per file)", got, want)
	}
	for i, p := range lib {
		if !strings.HasPrefix(p.Source, "playbooks/") {
			t.Errorf("%s: source %q, want playbooks/<file>", p.ID, p.Source)
		}
		if i > 0 && lib[i-1].ID >= p.ID {
			t.Errorf("library not sorted by id: %s before %s", lib[i-1].ID, p.ID)
		}
	}
}

func TestLoadFiles(t *testing.T) {
	dir := t.TempDir()
	fixture, err := os.ReadFile("testdata/valid/fixture.yaml")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	a := write("a.yaml", fixture)
	b := write("b.yml", fixture)
	write("c.yaml", []byte("apiVersion: parry/v1\nkind: Playbok\n"))
	write("notes.txt", []byte("not a playbook"))

	ps, err := LoadFiles(dir, a)
	if got, want := len(ps), 1; got != want {
		t.Fatalf("got %d playbooks, want %d", got, want)
	}
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("got %v, want an ErrorList", err)
	}
	text := err.Error()
	for _, want := range []string{
		b + `:5:5: playbook id "fixture-malicious-file" is already used by ` + a + `:5:5; ids must be unique (rename one)`,
		filepath.Join(dir, "c.yaml") + `:2:7: kind "Playbok" is not supported`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("errors do not contain %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "notes.txt") {
		t.Errorf("a directory expands to *.yaml and *.yml only:\n%s", text)
	}
	if _, err := LoadFiles(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml: read playbook") {
		t.Errorf("missing file: got %v", err)
	}
}

func TestErrorsAreSortedAndAllReported(t *testing.T) {
	data := []byte(`apiVersion: parry/v1
kind: Playbook
id: x
name: X
version: 1
techniques: [T1566.001]
phases:
  - id: a
    budgt: 1m
    steps:
      - {id: s, action: edr.isolat_host, with: {host: h}}
      - {id: s, action: manual.task}
`)
	_, err := Load("x.yaml", data)
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("got %v, want an ErrorList", err)
	}
	var got []string
	for _, e := range list {
		got = append(got, e.Msg[:strings.IndexByte(e.Msg, ' ')])
	}
	want := []string{"unknown", "unknown", "duplicate", `step`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q\n%v", got, want, err)
	}
	for i := 1; i < len(list); i++ {
		if list[i-1].Line > list[i].Line || (list[i-1].Line == list[i].Line && list[i-1].Col > list[i].Col) {
			t.Errorf("errors not sorted by position:\n%v", err)
		}
	}
}

func TestErrorFormat(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  Error
		want string
	}{
		{"full position", Error{File: "p.yaml", Line: 3, Col: 7, Msg: "bad"}, "p.yaml:3:7: bad"},
		{"line only", Error{File: "p.yaml", Line: 3, Msg: "bad"}, "p.yaml:3: bad"},
		{"file only", Error{File: "p.yaml", Msg: "bad"}, "p.yaml: bad"},
		{"nothing", Error{Msg: "bad"}, "bad"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"id", "name", "budget", "on_breach", "steps"}
	acts := []string{"edr.isolate_host", "edr.release_host", "identity.disable_user", "intel.lookup_hash"}
	for _, tt := range []struct {
		name       string
		word       string
		candidates []string
		want       string
	}{
		{"one letter missing", "budgt", keys, "budget"},
		{"swapped letters", "stpes", keys, "steps"},
		{"case", "Name", keys, "name"},
		{"underscore for camel case", "api_version", topKeys, "apiVersion"},
		{"action without verb suffix", "edr.isolate", acts, "edr.isolate_host"},
		{"action without family", "lookup_hash", acts, "intel.lookup_hash"},
		{"longer than the candidate", "hostname", []string{"host", "user"}, "host"},
		{"unrelated", "owner", keys, ""},
		{"short words need a close match", "xy", keys, ""},
		{"no candidates", "budget", nil, ""},
		{"ties go to the first sorted", "hast", []string{"host", "hash"}, "hash"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := suggest(tt.word, tt.candidates); got != tt.want {
				t.Errorf("suggest(%q) = %q, want %q", tt.word, got, tt.want)
			}
		})
	}
}

func TestDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"host", "host", 0},
		{"hots", "host", 1},
		{"budgt", "budget", 1},
		{"kitten", "sitting", 3},
		{"é", "e", 1},
	} {
		if got := distance(tt.a, tt.b); got != tt.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"90s", 90 * time.Second, false},
		{"15m", 15 * time.Minute, false},
		{"1h30m", 90 * time.Minute, false},
		{"30d", 30 * Day, false},
		{"1d12h", 36 * time.Hour, false},
		{"0d", 0, false},
		{"-2d", -2 * Day, false},
		{" 5m ", 5 * time.Minute, false},
		{"500ms", 500 * time.Millisecond, false},
		{"", 0, true},
		{"15", 0, true},
		{"15 minutes", 0, true},
		{"d", 0, true},
		{"1.5d", 0, true},
		{"1d-2h", 0, true},
		{"2h1d", 0, true},
		{"999999999999d", 0, true},
		{"106752d", 0, true},
		{"106751d23h47m17s", 0, true},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseDuration(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseDuration(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestExprRefs(t *testing.T) {
	for _, tt := range []struct {
		name string
		src  string
		want []exprRef
	}{
		{"index and select", "steps['hash-intel'].output.verdict == 'x'", []exprRef{{root: "steps", path: []string{"hash-intel", "output", "verdict"}}}},
		{"nested alert field with offset", "true && alert.hashes.sha256 != ''", []exprRef{{root: "alert", path: []string{"hashes", "sha256"}, offset: 8}}},
		{"has macro", "has(alert.email.sender)", []exprRef{{root: "alert", path: []string{"email", "sender"}, offset: 4}}},
		{"computed index visits the index", "steps[inputs.id].status", []exprRef{{root: "steps", dynamic: true}, {root: "inputs", path: []string{"id"}, offset: 6}}},
		{"comprehension variable shadows", "alert.techniques.exists(inputs, inputs.x == 1)", []exprRef{{root: "alert", path: []string{"techniques"}}}},
		{"method call target", "inputs.host.startsWith('ws')", []exprRef{{root: "inputs", path: []string{"host"}}}},
		{"whole variable is not a reference", "size(alert) > 0", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := exprRefs(tt.src); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestExpressionErrorColumns checks that problems inside expressions point at the column where they are
// written, through plain and quoted scalars, and fall back to the scalar's start where the text does not
// map one to one (escapes, block scalars).
func TestExpressionErrorColumns(t *testing.T) {
	head := "apiVersion: parry/v1\nkind: Playbook\nid: x\nname: X\nversion: 1\ntechniques: [T1566.001]\ninputs: {host: {from: alert.host}}\nphases:\n  - id: a\n    steps:\n"
	for _, tt := range []struct {
		name string
		step string
		want string
	}{
		{"plain when", "      - {id: s, action: manual.task, with: {text: t}, when: alert.hostnam == 'x'}", "x.yaml:11:61: step"},
		{"double-quoted when", "      - {id: s, action: manual.task, with: {text: t}, when: \"alert.hostnam == 'x'\"}", "x.yaml:11:62: step"},
		{"escaped when falls back", "      - {id: s, action: manual.task, with: {text: t}, when: \"alert.hostnam == '\\x41'\"}", "x.yaml:11:61: step"},
		{"template in single quotes", "      - {id: s, action: manual.task, with: {text: 'on ${{ inputs.hots }}'}}", "x.yaml:11:59: step"},
		{"block scalar falls back", "      - id: s\n        action: manual.task\n        with:\n          text: |\n            on ${{ inputs.hots }}", "x.yaml:14:17: step"},
		{"unicode before the expression", "      - {id: s, action: manual.task, with: {text: \"é ${{ inputs.hots }}\"}}", "x.yaml:11:58: step"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load("x.yaml", []byte(head+tt.step+"\n"))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("got %v, want a message starting %q", err, tt.want)
			}
		})
	}
}
