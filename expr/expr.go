// Package expr is Parry's one expression language: CEL (cel.dev/cel-go) for `when:` conditions, `match.when`
// routing guards and `${{ … }}` interpolation in step parameters. Expressions run inside workflow code, so
// evaluation is deterministic by construction: one environment, programs compiled once and cached, a cost
// limit, and every map handed to CEL iterates its keys in sorted order (cel-go would otherwise range over Go
// maps in random order, and `m.map(k, …)` would produce lists in a different order on replay).
package expr

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"
)

// The variables every expression may use.
const (
	VarAlert  = "alert"  // the normalized alert
	VarInputs = "inputs" // the playbook's inputs, resolved from the alert
	VarSteps  = "steps"  // steps['id'].output and steps['id'].status of earlier steps
	VarRun    = "run"    // run.id, run.started
)

// CostLimit bounds the work one evaluation may do, so a playbook cannot stall a workflow task.
const CostLimit = 100_000

var (
	envOnce sync.Once
	env     *cel.Env
	envErr  error
)

// Env returns the single CEL environment all expressions compile in.
func Env() (*cel.Env, error) {
	envOnce.Do(func() {
		dyn := cel.MapType(cel.StringType, cel.DynType)
		env, envErr = cel.NewEnv(
			cel.Variable(VarAlert, dyn),
			cel.Variable(VarInputs, dyn),
			cel.Variable(VarSteps, dyn),
			cel.Variable(VarRun, dyn),
			cel.CrossTypeNumericComparisons(true),
			ext.Strings(),
		)
	})
	return env, envErr
}

// Program is a compiled expression.
type Program struct {
	Source string
	prg    cel.Program
	refs   Refs
}

// Refs are the things an expression reads: step ids (steps['id'] or steps.id), input names (inputs.x) and
// alert fields (alert.x), each in order of first use. Dynamic references (steps[x]) are listed in Dynamic.
type Refs struct {
	Steps   []string
	Inputs  []string
	Alert   []string
	Dynamic []string
}

var cache sync.Map // kind + "\x00" + source → *Program

// Compile compiles a CEL expression of any type. Compiled programs are cached for the life of the process;
// compiling is deterministic, so a cache hit and a miss behave the same.
func Compile(src string) (*Program, error) { return compile(src, false) }

// CompileBool compiles a CEL expression that must yield a boolean (a `when:` condition).
func CompileBool(src string) (*Program, error) { return compile(src, true) }

func compile(src string, wantBool bool) (*Program, error) {
	key := fmt.Sprintf("%v\x00%s", wantBool, src)
	if p, ok := cache.Load(key); ok {
		return p.(*Program), nil
	}
	e, err := Env()
	if err != nil {
		return nil, fmt.Errorf("cel environment: %w", err)
	}
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("empty expression")
	}
	checked, iss := e.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, &CompileError{Source: src, Msg: oneLine(iss.Err().Error())}
	}
	if wantBool {
		if t := checked.OutputType(); !t.IsExactType(types.BoolType) && !t.IsExactType(types.DynType) {
			return nil, &CompileError{Source: src, Msg: fmt.Sprintf("must be a boolean, is %s", t)}
		}
	}
	prg, err := e.Program(checked, cel.CostLimit(CostLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, &CompileError{Source: src, Msg: oneLine(err.Error())}
	}
	p := &Program{Source: src, prg: prg, refs: refsOf(checked.NativeRep())}
	actual, _ := cache.LoadOrStore(key, p)
	return actual.(*Program), nil
}

// CompileError is an expression that does not compile.
type CompileError struct {
	Source string
	Msg    string
}

func (e *CompileError) Error() string { return e.Msg }

// oneLine keeps CEL's first message line: its caret diagrams don't fit a file:line:col report.
func oneLine(s string) string {
	s = strings.TrimPrefix(s, "ERROR: <input>:")
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// Refs returns what the expression reads.
func (p *Program) Refs() Refs { return p.refs }

func refsOf(a *ast.AST) Refs {
	var r Refs
	seen := map[string]bool{}
	add := func(list *[]string, kind, name string) {
		if seen[kind+name] {
			return
		}
		seen[kind+name] = true
		*list = append(*list, name)
	}
	ast.PreOrderVisit(a.Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		switch e.Kind() {
		case ast.SelectKind:
			sel := e.AsSelect()
			if sel.Operand().Kind() != ast.IdentKind {
				return
			}
			switch sel.Operand().AsIdent() {
			case VarSteps:
				add(&r.Steps, "s", sel.FieldName())
			case VarInputs:
				add(&r.Inputs, "i", sel.FieldName())
			case VarAlert:
				add(&r.Alert, "a", sel.FieldName())
			}
		case ast.CallKind:
			call := e.AsCall()
			if call.FunctionName() != "_[_]" || len(call.Args()) != 2 || call.Args()[0].Kind() != ast.IdentKind {
				return
			}
			name := call.Args()[0].AsIdent()
			idx := call.Args()[1]
			lit := ""
			if idx.Kind() == ast.LiteralKind {
				if s, ok := idx.AsLiteral().(types.String); ok {
					lit = string(s)
				}
			}
			switch {
			case lit == "" && (name == VarSteps || name == VarInputs || name == VarAlert):
				add(&r.Dynamic, "d", name)
			case name == VarSteps:
				add(&r.Steps, "s", lit)
			case name == VarInputs:
				add(&r.Inputs, "i", lit)
			case name == VarAlert:
				add(&r.Alert, "a", lit)
			}
		}
	}))
	return r
}

// Eval evaluates the program against vars and returns the result as plain Go data (string, int64, float64,
// bool, nil, []any, map[string]any).
func (p *Program) Eval(vars *Vars) (any, error) {
	out, _, err := p.prg.Eval(vars.activation())
	if err != nil {
		return nil, fmt.Errorf("evaluate %q: %w", p.Source, err)
	}
	return native(out)
}

// EvalBool evaluates a boolean program.
func (p *Program) EvalBool(vars *Vars) (bool, error) {
	v, err := p.Eval(vars)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("evaluate %q: result %v is not a boolean", p.Source, v)
	}
	return b, nil
}

// sortedStrings returns the keys of m, sorted.
func sortedStrings[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
