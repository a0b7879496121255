package playbooks

import (
	"encoding/json"
	"reflect"
	"strings"

	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"

	"github.com/parry-soc/parry/alerts"
	"github.com/parry-soc/parry/expr"
)

// exprRef is one use of a variable in an expression, as far as it can be named statically:
// steps['hash-intel'].output.verdict is {root: steps, path: [hash-intel output verdict]}.
// expr.Program.Refs names only the first field and has no positions; the validator needs the whole path (to
// check alert.hashes.sha256 and step outputs) and where it is written (to point at it).
type exprRef struct {
	root    string
	path    []string
	dynamic bool // the path continues with a computed index: steps[inputs.x]
	offset  int  // code points from the start of the expression to the variable
}

// exprRefs lists the variable uses of an expression that compiles.
func exprRefs(src string) []exprRef {
	env, err := expr.Env()
	if err != nil {
		return nil
	}
	parsed, iss := env.Parse(src)
	if iss != nil && iss.Err() != nil {
		return nil
	}
	a := parsed.NativeRep()
	w := &refWalker{info: a.SourceInfo()}
	w.walk(a.Expr(), nil)
	return w.refs
}

type refWalker struct {
	info *ast.SourceInfo
	refs []exprRef
}

// walk visits e; bound holds comprehension variables, which shadow the playbook variables.
func (w *refWalker) walk(e ast.Expr, bound map[string]bool) {
	if e == nil {
		return
	}
	switch e.Kind() {
	case ast.SelectKind, ast.CallKind:
		if root, path, dyn, id, indexes, ok := chain(e); ok && isVar(root) && !bound[root] && (len(path) > 0 || dyn) {
			off := 0
			if r, found := w.info.GetOffsetRange(id); found {
				off = int(r.Start)
			}
			w.refs = append(w.refs, exprRef{root: root, path: path, dynamic: dyn, offset: off})
			for _, ix := range indexes {
				w.walk(ix, bound)
			}
			return
		}
		if e.Kind() == ast.SelectKind {
			w.walk(e.AsSelect().Operand(), bound)
			return
		}
		call := e.AsCall()
		if call.IsMemberFunction() {
			w.walk(call.Target(), bound)
		}
		for _, arg := range call.Args() {
			w.walk(arg, bound)
		}
	case ast.ListKind:
		for _, el := range e.AsList().Elements() {
			w.walk(el, bound)
		}
	case ast.MapKind:
		for _, en := range e.AsMap().Entries() {
			w.walk(en.AsMapEntry().Key(), bound)
			w.walk(en.AsMapEntry().Value(), bound)
		}
	case ast.StructKind:
		for _, f := range e.AsStruct().Fields() {
			w.walk(f.AsStructField().Value(), bound)
		}
	case ast.ComprehensionKind:
		c := e.AsComprehension()
		w.walk(c.IterRange(), bound)
		inner := map[string]bool{c.IterVar(): true, c.AccuVar(): true}
		if c.HasIterVar2() {
			inner[c.IterVar2()] = true
		}
		for k := range bound {
			inner[k] = true
		}
		w.walk(c.AccuInit(), bound)
		w.walk(c.LoopCondition(), inner)
		w.walk(c.LoopStep(), inner)
		w.walk(c.Result(), inner)
	}
}

func isVar(name string) bool {
	return name == expr.VarAlert || name == expr.VarInputs || name == expr.VarSteps || name == expr.VarRun
}

// chain reads a chain of field selections and string-literal indexes down to an identifier:
// alert.hashes['sha256'] → (alert, [hashes sha256]). A computed index ends the path (dyn) and is returned
// in indexes so its own variable uses are visited.
func chain(e ast.Expr) (root string, path []string, dyn bool, rootID int64, indexes []ast.Expr, ok bool) {
	switch e.Kind() {
	case ast.IdentKind:
		return e.AsIdent(), nil, false, e.ID(), nil, true
	case ast.SelectKind:
		sel := e.AsSelect()
		root, path, dyn, rootID, indexes, ok = chain(sel.Operand())
		if ok && !dyn {
			path = append(path, sel.FieldName())
		}
		return
	case ast.CallKind:
		call := e.AsCall()
		if call.FunctionName() != "_[_]" || len(call.Args()) != 2 {
			return "", nil, false, 0, nil, false
		}
		root, path, dyn, rootID, indexes, ok = chain(call.Args()[0])
		if !ok || dyn {
			return
		}
		idx := call.Args()[1]
		if idx.Kind() == ast.LiteralKind {
			if s, isStr := idx.AsLiteral().(types.String); isStr {
				return root, append(path, string(s)), false, rootID, indexes, true
			}
		}
		return root, path, true, rootID, append(indexes, idx), true
	}
	return "", nil, false, 0, nil, false
}

// alertField describes a field of the normalized alert as expressions see it (its JSON name).
type alertField struct {
	kind string   // string, list, object, raw
	sub  []string // fields of an object
}

// alertFields are the fields of alerts.Alert by JSON name, read from the type so the validator follows
// the alert as it changes. raw is the vendor payload: anything below it is free-form.
var alertFields, alertFieldNames = func() (map[string]alertField, []string) {
	fields := map[string]alertField{}
	var names []string
	t := reflect.TypeOf(alerts.Alert{})
	raw := reflect.TypeOf(json.RawMessage{})
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := jsonName(f)
		if name == "" {
			continue
		}
		af := alertField{kind: "string"}
		switch {
		case f.Type == raw:
			af.kind = "raw"
		case f.Type.Kind() == reflect.Slice:
			af.kind = "list"
		case f.Type.Kind() == reflect.Struct:
			af.kind = "object"
			for j := 0; j < f.Type.NumField(); j++ {
				if n := jsonName(f.Type.Field(j)); n != "" {
					af.sub = append(af.sub, n)
				}
			}
		}
		fields[name] = af
		names = append(names, name)
	}
	return fields, names
}()

func jsonName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "-" {
		return ""
	}
	if name == "" {
		return f.Name
	}
	return name
}

// alertProblem says what is wrong with reading alert.<path>, or "" when the alert has that field. It
// completes "… reads ".
func alertProblem(path []string) string {
	if len(path) == 0 {
		return ""
	}
	f, ok := alertFields[path[0]]
	if !ok {
		hint := " (alert fields: " + strings.Join(alertFieldNames, ", ") + ")"
		if s := suggest(path[0], alertFieldNames); s != "" {
			hint = " (did you mean alert." + s + "?)"
		}
		return "alert." + path[0] + ", which is not an alert field" + hint
	}
	switch f.kind {
	case "raw":
		return ""
	case "object":
		if len(path) == 1 {
			return ""
		}
		if !contains(f.sub, path[1]) {
			hint := " (it has " + strings.Join(f.sub, ", ") + ")"
			if s := suggest(path[1], f.sub); s != "" {
				hint = " (did you mean alert." + path[0] + "." + s + "?)"
			}
			return "alert." + path[0] + "." + path[1] + ", which is not a field of alert." + path[0] + hint
		}
		if len(path) > 2 {
			return "alert." + strings.Join(path[:3], ".") + ", but alert." + path[0] + "." + path[1] + " is a string with no fields"
		}
		return ""
	}
	if len(path) > 1 {
		return "alert." + path[0] + "." + path[1] + ", but alert." + path[0] + " is a " + f.kind + " with no fields"
	}
	return ""
}

// runFields are the fields of the run variable.
var runFields = []string{"id", "started"}
