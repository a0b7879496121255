package expr

import (
	"reflect"
	"strings"
	"testing"
)

func testVars() *Vars {
	return &Vars{
		Alert: map[string]any{"severity": "high", "host": "WS-0042", "techniques": []any{"T1566.001"},
			"hashes": map[string]any{"sha256": "abc"}},
		Inputs: map[string]any{"host": "WS-0042", "user": "alice"},
		Steps: map[string]any{"hash-intel": map[string]any{"status": "succeeded",
			"output": map[string]any{"verdict": "malicious", "detections": float64(42), "engines": map[string]any{"e": 1.0, "a": 2.0, "c": 3.0, "b": 4.0, "d": 5.0}}}},
		Run: map[string]any{"id": "parry-parry-x"},
	}
}

func TestEvalBool(t *testing.T) {
	for _, tt := range []struct {
		name string
		src  string
		want bool
	}{
		{"severity in list", "alert.severity in ['high', 'critical']", true},
		{"step output", "steps['hash-intel'].output.verdict != 'malicious'", false},
		{"json number as int", "steps['hash-intel'].output.detections + 1 == 43", true},
		{"has on missing key", "has(alert.email)", false},
		{"string ext", "inputs.host.lowerAscii() == 'ws-0042'", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := CompileBool(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.EvalBool(testVars())
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tt := range []struct{ name, src, want string }{
		{"syntax", "alert.severity ==", "Syntax error"},
		{"not boolean", "'x' + 'y'", "must be a boolean"},
		{"unknown variable", "severity == 'high'", "undeclared reference"},
		{"empty", "  ", "empty expression"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CompileBool(tt.src)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestRefs(t *testing.T) {
	p, err := Compile("steps['a'].output.x == inputs.host && steps.b.status == 'ok' && alert.severity == inputs['user'] && steps[inputs.host] == 1")
	if err != nil {
		t.Fatal(err)
	}
	got := p.Refs()
	want := Refs{Steps: []string{"a", "b"}, Inputs: []string{"host", "user"}, Alert: []string{"severity"}, Dynamic: []string{"steps"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestTemplate(t *testing.T) {
	for _, tt := range []struct {
		name string
		src  string
		want any
	}{
		{"plain", "no expressions", "no expressions"},
		{"one expression keeps type", "${{ alert.techniques }}", []any{"T1566.001"}},
		{"mixed", "Re-image ${{ inputs.host }} for ${{inputs.user}}", "Re-image WS-0042 for alice"},
		{"number", "n=${{ steps['hash-intel'].output.detections }}", "n=42"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tp, err := ParseTemplate(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tp.Eval(testVars())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
	if _, err := ParseTemplate("x ${{ inputs.host "); err == nil || !strings.Contains(err.Error(), "unterminated") {
		t.Errorf("unterminated template: got %v", err)
	}
}

// TestEvaluationIsDeterministic evaluates expressions that range over maps many times: cel-go would iterate
// a Go map in random order, so without sorted maps the list below would come out in varying orders.
func TestEvaluationIsDeterministic(t *testing.T) {
	for _, src := range []string{
		"steps['hash-intel'].output.engines.map(k, k)",
		"steps['hash-intel'].output.engines.filter(k, steps['hash-intel'].output.engines[k] > 1)",
		"alert.map(k, k)",
	} {
		p, err := Compile(src)
		if err != nil {
			t.Fatal(err)
		}
		first, err := p.Eval(testVars())
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 500; i++ {
			got, err := p.Eval(testVars())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, first) {
				t.Fatalf("%s: evaluation %d gave %v, first gave %v", src, i, got, first)
			}
		}
	}
}

func TestCostLimitStopsRunawayExpressions(t *testing.T) {
	p, err := Compile("[1,2,3,4,5,6,7,8,9,10].map(a, [1,2,3,4,5,6,7,8,9,10].map(b, [1,2,3,4,5,6,7,8,9,10].map(c, [1,2,3,4,5,6,7,8,9,10].map(d, [1,2,3,4,5,6,7,8,9,10].map(e, a*b*c*d*e)))))")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Eval(testVars()); err == nil || !strings.Contains(err.Error(), "cost") {
		t.Errorf("got %v, want a cost limit error", err)
	}
}
