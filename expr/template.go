package expr

import (
	"fmt"
	"strings"
)

// Template is a string with ${{ … }} interpolations.
type Template struct {
	Source string
	parts  []part
}

type part struct {
	text   string
	prg    *Program
	offset int // byte offset of the expression in Source
}

// TemplateError is a template that does not parse or whose expression does not compile. Offset is the byte
// offset in the template where the problem is.
type TemplateError struct {
	Offset int
	Msg    string
}

func (e *TemplateError) Error() string { return e.Msg }

// ParseTemplate parses a string holding zero or more ${{ expr }} interpolations.
func ParseTemplate(s string) (*Template, error) {
	t := &Template{Source: s}
	rest, off := s, 0
	for {
		i := strings.Index(rest, "${{")
		if i < 0 {
			if rest != "" {
				t.parts = append(t.parts, part{text: rest})
			}
			return t, nil
		}
		if i > 0 {
			t.parts = append(t.parts, part{text: rest[:i]})
		}
		j := strings.Index(rest[i+3:], "}}")
		if j < 0 {
			return nil, &TemplateError{Offset: off + i, Msg: "unterminated ${{ (close it with }})"}
		}
		src := rest[i+3 : i+3+j]
		prg, err := Compile(strings.TrimSpace(src))
		if err != nil {
			return nil, &TemplateError{Offset: off + i, Msg: fmt.Sprintf("expression %q: %v", strings.TrimSpace(src), err)}
		}
		t.parts = append(t.parts, part{prg: prg, offset: off + i})
		adv := i + 3 + j + 2
		rest, off = rest[adv:], off+adv
	}
}

// HasExpr reports whether the template interpolates anything.
func (t *Template) HasExpr() bool {
	for _, p := range t.parts {
		if p.prg != nil {
			return true
		}
	}
	return false
}

// Programs returns the template's compiled expressions.
func (t *Template) Programs() []*Program {
	var out []*Program
	for _, p := range t.parts {
		if p.prg != nil {
			out = append(out, p.prg)
		}
	}
	return out
}

// Eval renders the template. A template that is exactly one ${{ expr }} yields the expression's value with
// its type (a list stays a list); anything else yields a string.
func (t *Template) Eval(vars *Vars) (any, error) {
	if len(t.parts) == 1 && t.parts[0].prg != nil {
		return t.parts[0].prg.Eval(vars)
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.prg == nil {
			b.WriteString(p.text)
			continue
		}
		v, err := p.prg.Eval(vars)
		if err != nil {
			return nil, err
		}
		b.WriteString(Format(v))
	}
	return b.String(), nil
}
