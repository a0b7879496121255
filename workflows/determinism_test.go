package workflows

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/parry-soc/parry/actions"
	"github.com/parry-soc/parry/expr"
	"github.com/parry-soc/parry/playbooks"
)

// TestLibraryExpressionsAreDeterministic evaluates every `when` and `${{ }}` of every library playbook many
// times against a run where every earlier step succeeded with outputs holding maps and lists, and requires
// identical results each time: workflow code must make the same decision on replay.
func TestLibraryExpressionsAreDeterministic(t *testing.T) {
	library, err := playbooks.Library()
	if err != nil {
		t.Fatal(err)
	}
	alert := sampleAlert()
	evaluated := 0
	for _, pb := range library {
		steps := map[string]any{}
		pb.Walk(func(_ *playbooks.Phase, s *playbooks.Step) {
			out := map[string]any{}
			if a, ok := actions.Lookup(s.Action); ok {
				for i, f := range a.Outputs {
					out[f.Name] = fmt.Sprintf("v%d", i)
				}
			}
			out["verdict"] = "malicious"
			out["tags"] = map[string]any{"c2": true, "botnet": false, "tor": true, "scanner": false}
			out["iocs"] = []any{"203.0.113.77", "198.51.100.23"}
			steps[s.ID] = map[string]any{"status": StepSucceeded, "output": out}
		})
		inputs := map[string]any{}
		for _, in := range pb.Inputs {
			inputs[in.Name] = "value-of-" + in.Name
		}
		vars := func() *expr.Vars {
			return &expr.Vars{Alert: alert, Inputs: inputs, Steps: steps, Run: map[string]any{"id": testRunID, "playbook": pb.ID}}
		}
		check := func(where string, eval func() (any, error)) {
			first, ferr := eval()
			for i := 0; i < 200; i++ {
				got, err := eval()
				if !reflect.DeepEqual(got, first) || fmt.Sprint(err) != fmt.Sprint(ferr) {
					t.Fatalf("%s/%s: evaluation %d gave %v (%v), the first gave %v (%v)", pb.ID, where, i, got, err, first, ferr)
				}
			}
			evaluated++
		}
		pb.Walk(func(_ *playbooks.Phase, s *playbooks.Step) {
			if s.When != "" {
				check(s.ID+".when", func() (any, error) { return evalWhen(s.When, vars()) })
			}
			act, _ := actions.Lookup(s.Action)
			check(s.ID+".with", func() (any, error) {
				with, missing := resolveWith(s, act, vars())
				return fmt.Sprint(with, missing), nil
			})
		})
	}
	if evaluated < 100 {
		t.Errorf("evaluated %d expressions, want the whole library", evaluated)
	}
}
