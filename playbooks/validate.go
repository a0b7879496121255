package playbooks

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/parry-soc/parry/actions"
	"github.com/parry-soc/parry/alerts"
	"github.com/parry-soc/parry/attack"
	"github.com/parry-soc/parry/expr"
)

var (
	slugRE       = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	identRE      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	celErrorRE   = regexp.MustCompile(`^(\d+):(\d+): (.*)$`)
	celExpecting = regexp.MustCompile(` expecting \{[^}]*\}`)
)

// stepFields are what an expression may read of an earlier step: steps['id'].output and .status.
var stepFields = []string{"output", "status"}

// Validate checks a playbook against the format's rules and the action and ATT&CK catalogs, and reports
// every problem at once as an ErrorList. It also completes the model where the catalog decides: a step
// whose action has an inverse and declares no undo gets the catalog's, and a playbook that can roll back
// gets its rollback approver group (the group of the first step with both undo and approval), so the
// interpreter never re-derives them. Positions come from Parse; a playbook built in code or decoded from
// JSON is validated the same, with messages that carry only the file name.
func Validate(p *Playbook) error {
	if p == nil {
		return errors.New("validate playbook: nil playbook")
	}
	v := newValidator(p)
	v.validate()
	return v.errs.Err()
}

// Load parses and validates a playbook file; it is what every caller uses. The error is an ErrorList with
// the shape and catalog problems of the file together, sorted by position.
func Load(filename string, data []byte) (*Playbook, error) {
	p, errs := parse(filename, data)
	if p != nil {
		v := newValidator(p)
		v.validate()
		errs = append(errs, v.errs...)
	}
	if err := dedupe(errs).Err(); err != nil {
		return nil, err
	}
	return p, nil
}

// dedupe drops repeated identical problems: two checks may reach the same conclusion about one value.
func dedupe(l ErrorList) ErrorList {
	l.Sort()
	out := l[:0]
	for i, e := range l {
		if i > 0 && *e == *l[i-1] {
			continue
		}
		out = append(out, e)
	}
	return out
}

type validator struct {
	p     *Playbook
	src   *source
	errs  ErrorList
	steps map[string]*stepInfo // by id, first definition
	order []*stepInfo          // every action step in document order
	infos map[*Step]*stepInfo
}

// stepInfo is an action step with where it stands in the run order.
type stepInfo struct {
	step  *Step
	path  string
	seq   int // document order, which is run order between phases and between sequential steps
	group int // parallel group, 0 when the step runs on its own
}

func newValidator(p *Playbook) *validator {
	src := p.src
	if src == nil {
		src = &source{spots: map[string]spot{}, failed: map[string]bool{}}
	}
	return &validator{p: p, src: src, steps: map[string]*stepInfo{}, infos: map[*Step]*stepInfo{}}
}

// at returns the position of path, or of its closest written ancestor.
func (v *validator) at(path string) Pos {
	for {
		if sp, ok := v.src.spots[path]; ok {
			return sp.Pos
		}
		if path == "" {
			return Pos{}
		}
		path = strings.TrimSuffix(path, "#")
		i := max(strings.LastIndexByte(path, '.'), strings.LastIndexByte(path, '['))
		if i < 0 {
			path = ""
		} else {
			path = path[:i]
		}
	}
}

func (v *validator) written(path string) bool {
	_, ok := v.src.spots[path]
	return ok
}

func (v *validator) failed(path string) bool { return v.src.failed[path] }

func (v *validator) errf(path string, format string, args ...any) {
	v.errs.add(v.p.Source, v.at(path), format, args...)
}

func (v *validator) errAt(pos Pos, format string, args ...any) {
	v.errs.add(v.p.Source, pos, format, args...)
}

func (v *validator) validate() {
	v.header()
	v.attack()
	v.inputs()
	v.match()
	v.approvers()
	v.index()
	v.phases()
	v.rollback()
}

func (v *validator) header() {
	p := v.p
	switch {
	case p.APIVersion == "" && !v.failed("apiVersion"):
		v.errf("", "missing apiVersion (add apiVersion: %s as the first line)", APIVersion)
	case p.APIVersion != "" && p.APIVersion != APIVersion:
		v.errf("apiVersion", "apiVersion %q is not supported (use apiVersion: %s)", p.APIVersion, APIVersion)
	}
	switch {
	case p.Kind == "" && !v.failed("kind"):
		v.errf("", "missing kind (add kind: %s)", Kind)
	case p.Kind != "" && p.Kind != Kind:
		v.errf("kind", "kind %q is not supported (use kind: %s)", p.Kind, Kind)
	}
	switch {
	case p.ID == "" && !v.failed("id"):
		v.errf("", "missing id (add a slug such as id: %s)", slugify(p.Name, "my-playbook"))
	case p.ID != "" && !slugRE.MatchString(p.ID):
		v.errf("id", "id %q is not a slug: use lowercase letters, digits and dashes (e.g. %s)", p.ID, slugify(p.ID, "my-playbook"))
	}
	if p.Name == "" && !v.failed("name") {
		v.errf("", "missing name (add a human-readable name: shown to responders)")
	}
	switch {
	case v.failed("version"):
	case !v.written("version") && p.Version == 0:
		v.errf("", "missing version (add version: 1, and raise it on every change)")
	case p.Version < 1:
		v.errf("version", "version must be at least 1, not %d", p.Version)
	}
	if p.Severity != "" && alerts.SeverityRank(p.Severity) == 0 {
		v.errf("severity", "severity %q is not one of %s%s", p.Severity, strings.Join(alerts.Severities, ", "), didYouMean(p.Severity, alerts.Severities, ""))
	}
}

// slugify proposes a slug for a bad id or a name.
func slugify(s, fallback string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		} else {
			dash = true
		}
		if b.Len() > 60 {
			break
		}
	}
	if b.Len() == 0 {
		return fallback
	}
	return b.String()
}

func (v *validator) attack() {
	p := v.p
	cat := attack.Default()
	seen := map[string]bool{}
	for i, id := range p.Techniques {
		path := index("techniques", i)
		norm := attack.NormalizeID(id)
		t, ok := cat.Technique(norm)
		if !ok {
			v.errf(path, "unknown technique %q in ATT&CK v%s%s", id, attack.Version, techniqueHint(cat, norm))
			continue
		}
		p.Techniques[i] = t.ID
		switch {
		case t.Revoked:
			replacement := ""
			for _, r := range cat.TechniquesByName(t.Name) {
				replacement = fmt.Sprintf(" %s (%s)", r.ID, r.Name)
				break
			}
			v.errf(path, "technique %s is revoked in ATT&CK v%s; use its replacement%s, see %s", t.ID, attack.Version, replacement, t.URL)
		case t.Deprecated:
			v.errf(path, "technique %s is deprecated in ATT&CK v%s and no longer maintained; map the playbook to a current technique, see %s", t.ID, attack.Version, t.URL)
		}
		if seen[t.ID] {
			v.errf(path, "technique %s is listed twice; remove one", t.ID)
		}
		seen[t.ID] = true
	}
	var short []string
	for _, t := range cat.Tactics() {
		short = append(short, t.ShortName)
	}
	for i, key := range p.Tactics {
		path := index("tactics", i)
		t, ok := cat.Tactic(key)
		if !ok {
			v.errf(path, "unknown tactic %q%s", key, didYouMean(key, short, "tactics are ATT&CK short names: "+strings.Join(short, ", ")))
			continue
		}
		// Routing compares short names; accept any spelling the catalog knows and keep the short name.
		p.Tactics[i] = t.ShortName
	}
	if len(p.Techniques) == 0 && len(p.Tactics) == 0 && !v.failed("techniques") && !v.failed("tactics") {
		where := ""
		if v.written("techniques") {
			where = "techniques"
		}
		v.errf(where, "the playbook names no ATT&CK technique or tactic, so no alert can reach it (add techniques: [T…] or tactics: [tactic-short-name])")
	}
}

// techniqueHint helps with an unknown technique id: the shape of an id, the sub-techniques of a known
// parent, or the closest known id.
func techniqueHint(cat *attack.Catalog, id string) string {
	if !attack.IsTechniqueID(id) {
		return " (technique ids look like T1566 or T1566.001)"
	}
	if parentID, _, isSub := strings.Cut(id, "."); isSub {
		if parent, ok := cat.Technique(parentID); ok {
			var subs []string
			for _, s := range cat.SubTechniques(parentID) {
				if t, ok := cat.Technique(s); ok && t.Active() {
					subs = append(subs, s)
				}
			}
			if len(subs) == 0 {
				return fmt.Sprintf(" (%s %s has no sub-techniques; use %s)", parent.ID, parent.Name, parent.ID)
			}
			return fmt.Sprintf(" (%s %s has sub-techniques %s)", parent.ID, parent.Name, joinWords(subs, "and"))
		}
	}
	var active []string
	for _, t := range cat.Techniques() {
		if t.Active() {
			active = append(active, t.ID)
		}
	}
	if s := suggest(id, active); s != "" {
		t, _ := cat.Technique(s)
		return fmt.Sprintf(" (did you mean %s, %s?)", s, t.Name)
	}
	return " (see https://attack.mitre.org/techniques/enterprise/)"
}

func (v *validator) inputNames() []string {
	names := make([]string, len(v.p.Inputs))
	for i, in := range v.p.Inputs {
		names[i] = in.Name
	}
	return names
}

func (v *validator) inputs() {
	for _, in := range v.p.Inputs {
		path := join("inputs", in.Name)
		if !identRE.MatchString(in.Name) {
			v.errf(path+"#", "input name %q cannot be read in expressions as inputs.%s (use letters, digits and _, e.g. %s)", in.Name, in.Name, strings.ReplaceAll(slugify(in.Name, "value"), "-", "_"))
		}
		if v.failed(path) {
			continue
		}
		if in.From == "" {
			if !v.failed(join(path, "from")) {
				v.errf(path+"#", "input %q has no from (add from: alert.<field>, e.g. from: alert.host)", in.Name)
			}
			continue
		}
		if problem := fromProblem(in.From); problem != "" {
			v.errf(join(path, "from"), "input %q reads %s", in.Name, problem)
		}
	}
}

// fromProblem checks an input's from: a dotted path into the alert.
func fromProblem(from string) string {
	parts := strings.Split(from, ".")
	if parts[0] != expr.VarAlert || len(parts) < 2 {
		return fmt.Sprintf("%q, which is not a path into the alert (write alert.<field>, e.g. alert.host or alert.hashes.sha256)", from)
	}
	for _, p := range parts[1:] {
		if p == "" {
			return fmt.Sprintf("%q, which has an empty field name (write alert.<field>, e.g. alert.hashes.sha256)", from)
		}
	}
	if problem := alertProblem(parts[1:]); problem != "" {
		return problem
	}
	if f := alertFields[parts[1]]; f.kind == "object" && len(parts) == 2 {
		return fmt.Sprintf("%s, which holds %s; pick one (e.g. %s.%s)", from, strings.Join(f.sub, ", "), from, f.sub[0])
	}
	return ""
}

func (v *validator) match() {
	m := v.p.Match
	if m == nil {
		return
	}
	if m.When == "" {
		if !v.failed("match.when") {
			v.errf("match", "match has no when (add when: <CEL condition over alert>, or remove match)")
		}
		return
	}
	v.when(m.When, exprUse{path: "match.when", label: "match.when", who: "match.when", onlyAlert: true})
}

func (v *validator) groupIDs() []string {
	ids := make([]string, len(v.p.Approvers))
	for i, g := range v.p.Approvers {
		ids[i] = g.ID
	}
	return ids
}

func (v *validator) approvers() {
	for _, g := range v.p.Approvers {
		path := join("approvers", g.ID)
		if v.failed(path) {
			continue
		}
		if g.Min < 1 {
			v.errf(join(path, "min"), "approver group %q: min must be at least 1, not %d (it is how many distinct people must approve)", g.ID, g.Min)
		}
		people := len(distinct(g.SlackUsers)) + len(distinct(g.Operators))
		switch {
		case len(g.SlackGroups) == 0 && people == 0:
			if !v.failed(join(path, "slack_groups")) && !v.failed(join(path, "slack_users")) && !v.failed(join(path, "operators")) {
				v.errf(path+"#", "approver group %q lists nobody (add slack_groups, slack_users or operators)", g.ID)
			}
		case len(g.SlackGroups) == 0 && g.Min > people:
			v.errf(join(path, "min"), "approver group %q needs %d distinct people but lists only %d (slack_users and operators) and no slack group, so no decision can ever be made; lower min or add people", g.ID, g.Min, people)
		}
	}
}

func distinct(list []string) map[string]bool {
	m := map[string]bool{}
	for _, s := range list {
		m[s] = true
	}
	return m
}

func phasePath(i int) string                 { return index("phases", i) }
func stepPath(i, j int) string               { return index(join(phasePath(i), "steps"), j) }
func branchPath(parent string, k int) string { return index(join(parent, "parallel"), k) }

// index numbers every action step in run order and reports duplicate ids, so references can be checked
// against steps anywhere in the playbook ("runs later" rather than "does not exist").
func (v *validator) index() {
	seq, group := 0, 0
	var add func(st *Step, path string, g int)
	add = func(st *Step, path string, g int) {
		if st.Parallel != nil {
			if g == 0 {
				group++
				g = group
			}
			for k := range st.Parallel {
				add(&st.Parallel[k], branchPath(path, k), g)
			}
			return
		}
		seq++
		si := &stepInfo{step: st, path: path, seq: seq, group: g}
		v.order = append(v.order, si)
		v.infos[st] = si
		if st.ID == "" {
			return
		}
		if first, dup := v.steps[st.ID]; dup {
			pos := v.at(join(first.path, "id"))
			v.errf(join(path, "id"), "duplicate step id %q (first defined at %d:%d; step ids must be unique across the playbook)", st.ID, pos.Line, pos.Col)
			return
		}
		v.steps[st.ID] = si
	}
	for i := range v.p.Phases {
		for j := range v.p.Phases[i].Steps {
			add(&v.p.Phases[i].Steps[j], stepPath(i, j), 0)
		}
	}
}

func (v *validator) phases() {
	p := v.p
	if len(p.Phases) == 0 {
		switch {
		case v.failed("phases"):
		case v.written("phases"):
			v.errf("phases", "phases is empty (add at least one phase with steps)")
		default:
			v.errf("", "the playbook has no phases (add phases: with at least one phase and its steps)")
		}
		return
	}
	seen := map[string]string{}
	for i := range p.Phases {
		ph := &p.Phases[i]
		path := phasePath(i)
		switch {
		case ph.ID == "" && !v.failed(join(path, "id")):
			v.errf(path, "phase has no id (add id: e.g. containment; it names the phase in results and search)")
		case ph.ID != "" && !slugRE.MatchString(ph.ID):
			v.errf(join(path, "id"), "phase id %q is not a slug: use lowercase letters, digits and dashes (e.g. %s)", ph.ID, slugify(ph.ID, "containment"))
		case ph.ID != "":
			if first, dup := seen[ph.ID]; dup {
				pos := v.at(join(first, "id"))
				v.errf(join(path, "id"), "duplicate phase id %q (first defined at %d:%d; phase ids must be unique)", ph.ID, pos.Line, pos.Col)
			} else {
				seen[ph.ID] = path
			}
		}
		switch ph.OnBreach {
		case BreachEscalate, BreachFail, BreachContinue:
		case "":
			if !v.failed(join(path, "on_breach")) {
				ph.OnBreach = BreachEscalate
			}
		default:
			v.errf(join(path, "on_breach"), "on_breach %q must be escalate, fail or continue%s", ph.OnBreach, didYouMean(ph.OnBreach, []string{BreachEscalate, BreachFail, BreachContinue}, ""))
		}
		if len(ph.Steps) == 0 {
			if !v.failed(join(path, "steps")) {
				name := ""
				if ph.ID != "" {
					name = " " + strconv.Quote(ph.ID)
				}
				v.errf(path, "phase%s has no steps (add at least one step, or remove the phase)", name)
			}
			continue
		}
		for j := range ph.Steps {
			v.step(&ph.Steps[j], stepPath(i, j), false)
		}
	}
}

// who names a step in messages.
func who(st *Step) string {
	if st.ID == "" {
		return "this step"
	}
	return fmt.Sprintf("step %q", st.ID)
}

func (v *validator) step(st *Step, path string, inParallel bool) {
	if st.Parallel != nil || v.failed(join(path, "parallel")) {
		v.group(st, path, inParallel)
		return
	}
	switch {
	case st.ID == "" && !v.failed(join(path, "id")):
		if inParallel {
			v.errf(path, "parallel step has no id (add id: …; every step needs one: it names the step in results, approvals and rollback)")
		} else {
			v.errf(path, "step has no id (add id: …; it names the step in results, approvals and rollback)")
		}
	case st.ID != "" && !slugRE.MatchString(st.ID):
		v.errf(join(path, "id"), "step id %q is not a slug: use lowercase letters, digits and dashes (e.g. %s)", st.ID, slugify(st.ID, "isolate-host"))
	}
	si := v.infos[st]
	var act actions.Action
	actOK := false
	switch {
	case st.Action == "":
		if !v.failed(join(path, "action")) {
			v.errf(path, "%s has no action (add action: family.verb, e.g. edr.isolate_host, or make it a parallel: group)", who(st))
		}
	default:
		a, ok := actions.Lookup(st.Action)
		switch {
		case !ok:
			v.errf(join(path, "action"), "unknown action %q%s", st.Action, didYouMean(st.Action, publicActions(), "actions are family.verb: "+strings.Join(families(), ", ")))
		case a.Internal:
			v.errf(join(path, "action"), "action %q is internal to the interpreter and cannot be a step (%s)", st.Action, internalHint(a.Name))
		default:
			act, actOK = a, true
			v.params(st, a, path)
		}
	}
	switch {
	case st.When != "":
		v.when(st.When, exprUse{path: join(path, "when"), label: "when", who: who(st), reader: si})
	case v.written(join(path, "when")) && !v.failed(join(path, "when")):
		v.errf(join(path, "when"), "when is empty (write a condition, e.g. alert.severity == 'high', or remove it)")
	}
	for _, k := range sortedKeys(st.With) {
		kp := join(join(path, "with"), k)
		switch val := st.With[k].(type) {
		case string:
			v.template(val, exprUse{path: kp, label: "with." + k, who: who(st), reader: si})
		case []any:
			for i, el := range val {
				if s, ok := el.(string); ok {
					v.template(s, exprUse{path: index(kp, i), label: fmt.Sprintf("with.%s[%d]", k, i), who: who(st), reader: si})
				}
			}
		}
	}
	if a := st.Approval; a != nil {
		v.approval(a, join(path, "approval"), who(st), si)
	}
	v.undo(st, path, act, actOK)
	if r := st.Retry; r != nil {
		rp := join(path, "retry")
		if v.written(join(rp, "max_attempts")) && r.MaxAttempts < 1 {
			v.errf(join(rp, "max_attempts"), "retry max_attempts must be at least 1, not %d (1 means no retry)", r.MaxAttempts)
		}
		if v.written(join(rp, "backoff")) && r.Backoff < 1 {
			v.errf(join(rp, "backoff"), "retry backoff must be at least 1, not %v (it multiplies the interval after each attempt)", r.Backoff)
		}
		if r.InitialInterval > 0 && r.MaxInterval > 0 && r.MaxInterval < r.InitialInterval {
			v.errf(join(rp, "max_interval"), "retry max_interval %v is shorter than initial_interval %v", r.MaxInterval, r.InitialInterval)
		}
	}
}

// group checks a parallel group: only the parallel key, at least two action steps, no nesting.
func (v *validator) group(st *Step, path string, inParallel bool) {
	pp := join(path, "parallel")
	if inParallel {
		v.errf(pp+"#", "parallel groups cannot be nested (put these steps in the enclosing parallel group)")
	}
	if st.Action != "" {
		v.errf(join(path, "action"), "a step has both action and parallel; a step is either an action or a parallel group (move the action into the group as a step of its own)")
	}
	var extra []string
	for _, f := range []struct {
		key string
		set bool
	}{
		{"id", st.ID != ""}, {"name", st.Name != ""}, {"when", st.When != ""}, {"with", st.With != nil},
		{"approval", st.Approval != nil}, {"undo", st.Undo != ""}, {"timeout", st.Timeout != 0},
		{"retry", st.Retry != nil}, {"tags", st.Tags != nil},
	} {
		if f.set {
			extra = append(extra, f.key)
		}
	}
	if len(extra) > 0 {
		v.errf(path, "a parallel group takes only the parallel key; move %s onto the steps inside it", strings.Join(extra, ", "))
	}
	if len(st.Parallel) == 1 {
		v.errf(pp+"#", "parallel group has only one step; it needs at least two (write the step without parallel:)")
	}
	for k := range st.Parallel {
		v.step(&st.Parallel[k], branchPath(path, k), true)
	}
}

func publicActions() []string {
	var names []string
	for _, a := range actions.All() {
		if !a.Internal {
			names = append(names, a.Name)
		}
	}
	return names
}

func families() []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range actions.All() {
		if f := a.Family(); !a.Internal && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

func internalHint(name string) string {
	switch name {
	case actions.NotifyEvent, actions.NotifyEscalation:
		return "every run notifies and escalates on its own; set notify: at the top level instead"
	case actions.ResolveApprovers:
		return "approver groups are resolved on their own; use approval: {by: <group>} instead"
	}
	return "use a public action instead"
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// params checks a step's with: against its action's schema.
func (v *validator) params(st *Step, a actions.Action, path string) {
	wp := join(path, "with")
	var names []string
	for _, pm := range a.Params {
		names = append(names, pm.Name)
	}
	for _, k := range sortedKeys(st.With) {
		pm, ok := a.Param(k)
		if !ok {
			otherwise := "it takes no parameters"
			if len(names) > 0 {
				otherwise = "it takes " + strings.Join(names, ", ")
			}
			v.errf(join(wp, k)+"#", "unknown parameter %q for %s%s", k, a.Name, didYouMean(k, names, otherwise))
			continue
		}
		v.paramValue(st.With[k], pm, a, join(wp, k))
	}
	for _, pm := range a.Params {
		if !pm.Required || v.failed(join(wp, pm.Name)) {
			continue
		}
		if _, ok := st.With[pm.Name]; ok {
			continue
		}
		where := wp
		if !v.written(wp) {
			where = join(path, "action")
		}
		v.errf(where, "%s is missing with.%s, required by %s (%s)", who(st), pm.Name, a.Name, pm.Doc)
	}
}

// paramValue checks one parameter's value against its declared type. Values holding ${{ }} are checked
// when the run resolves them.
func (v *validator) paramValue(val any, pm actions.Param, a actions.Action, path string) {
	s, isStr := val.(string)
	tmpl := isStr && strings.Contains(s, "${{")
	wrong := func() {
		v.errf(path, "with.%s of %s must be %s, not %s", pm.Name, a.Name, typeWord(pm.Type), valueWord(val))
	}
	switch pm.Type {
	case actions.String:
		switch val.(type) {
		case string, float64:
		default:
			wrong()
			return
		}
	case actions.Duration:
		switch {
		case tmpl:
		case isStr:
			d, err := time.ParseDuration(strings.TrimSpace(s))
			if err != nil {
				hint := "write a Go duration such as 90s, 5m or 1h"
				if _, derr := ParseDuration(s); derr == nil {
					hint = "the action reads Go durations, which have no days: write hours, e.g. 48h"
				}
				v.errf(path, "bad duration %q for with.%s of %s (%s)", s, pm.Name, a.Name, hint)
				return
			}
			if d <= 0 {
				v.errf(path, "with.%s of %s must be positive, not %q", pm.Name, a.Name, s)
			}
			return
		case isNumber(val):
			v.errf(path, "with.%s of %s: %v has no unit (write %vs or %vm)", pm.Name, a.Name, val, val, val)
			return
		default:
			wrong()
			return
		}
	case actions.Int:
		f, isNum := val.(float64)
		switch {
		case tmpl:
		case isNum && f == float64(int64(f)):
		default:
			wrong()
			return
		}
	case actions.Bool:
		if _, ok := val.(bool); !ok && !tmpl {
			wrong()
			return
		}
	case actions.Strings:
		switch x := val.(type) {
		case string:
		case []any:
			for i, el := range x {
				if _, ok := el.(string); !ok {
					v.errf(index(path, i), "with.%s of %s must be a list of strings; item %d is %s", pm.Name, a.Name, i+1, valueWord(el))
				}
			}
		default:
			wrong()
			return
		}
	}
	if pm.Required && isStr && strings.TrimSpace(s) == "" {
		v.errf(path, "with.%s of %s is empty (give a value, e.g. ${{ inputs.%s }})", pm.Name, a.Name, pm.Name)
	}
}

func isNumber(x any) bool {
	_, ok := x.(float64)
	return ok
}

func typeWord(t actions.ParamType) string {
	switch t {
	case actions.Duration:
		return "a duration such as 5m"
	case actions.Int:
		return "a whole number"
	case actions.Bool:
		return "true or false"
	case actions.Strings:
		return "a list of strings"
	}
	return "a string"
}

func valueWord(x any) string {
	switch x.(type) {
	case []any:
		return "a list"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case string:
		return "a string"
	}
	return "empty"
}

func (v *validator) approval(a *Approval, path, whoStr string, si *stepInfo) {
	switch {
	case a.By == "":
		if !v.failed(join(path, "by")) {
			v.errf(path, "approval has no by (name an approver group%s)", listHint(v.groupIDs()))
		}
	default:
		if _, ok := v.p.ApproverGroup(a.By); !ok {
			v.errf(join(path, "by"), "approval by %q, which is not an approver group%s", a.By, v.groupHint(a.By))
		}
	}
	v.onTimeout(a, path)
	if a.Reason != "" {
		v.template(a.Reason, exprUse{path: join(path, "reason"), label: "approval.reason", who: whoStr, reader: si})
	}
}

func (v *validator) onTimeout(a *Approval, path string) {
	switch a.OnTimeout {
	case TimeoutApprove, TimeoutDeny:
	case "":
		if !v.failed(join(path, "on_timeout")) {
			a.OnTimeout = TimeoutDeny
		}
	default:
		v.errf(join(path, "on_timeout"), "on_timeout %q must be approve or deny%s", a.OnTimeout, didYouMean(a.OnTimeout, []string{TimeoutApprove, TimeoutDeny}, ""))
	}
}

func listHint(ids []string) string {
	if len(ids) == 0 {
		return " defined under approvers:"
	}
	return ": " + strings.Join(ids, ", ")
}

func (v *validator) groupHint(by string) string {
	ids := v.groupIDs()
	if len(ids) == 0 {
		return " (no approver groups are defined: add approvers: {" + by + ": {slack_groups: [...]}})"
	}
	return didYouMean(by, ids, "defined groups: "+strings.Join(ids, ", "))
}

// undo checks a step's inverse, and fills the catalog's when the step names none, so rollback knows what
// to run without consulting the catalog.
func (v *validator) undo(st *Step, path string, act actions.Action, actOK bool) {
	declared := st.Undo != ""
	if !declared && actOK && act.Undo != "" {
		st.Undo = act.Undo
	}
	if st.Undo == "" {
		return
	}
	up := join(path, "undo")
	u, ok := actions.Lookup(st.Undo)
	switch {
	case !ok:
		v.errf(up, "unknown undo action %q%s", st.Undo, didYouMean(st.Undo, publicActions(), "undo names an action, e.g. edr.release_host"))
		return
	case u.Internal:
		v.errf(up, "undo action %q is internal to the interpreter (%s)", st.Undo, internalHint(u.Name))
		return
	}
	for _, r := range u.Required() {
		if _, ok := st.With[r]; ok || v.failed(join(join(path, "with"), r)) {
			continue
		}
		if pm, ok := act.Param(r); actOK && ok && pm.Required {
			continue // already reported as missing for the action itself
		}
		if declared {
			v.errf(up, "undo %s needs with.%s, which %s does not set (rollback runs the undo with the step's own parameters)", st.Undo, r, who(st))
		} else {
			v.errf(join(path, "action"), "%s is undone by %s, which needs with.%s; set it on %s, or name another undo", act.Name, st.Undo, r, who(st))
		}
	}
}

// rollback checks who approves a rollback, and fills it in when the playbook does not say.
func (v *validator) rollback() {
	p := v.p
	if p.Rollback != nil {
		v.onTimeout(&p.Rollback.Approval, "rollback.approval")
		if r := p.Rollback.Approval.Reason; r != "" {
			// Rollback runs after every step, so the reason may read any of them.
			v.template(r, exprUse{path: "rollback.approval.reason", label: "rollback approval reason", who: "the rollback approval reason"})
		}
		if by := p.Rollback.Approval.By; by != "" {
			if _, ok := p.ApproverGroup(by); !ok {
				v.errf("rollback.approval.by", "rollback approval by %q, which is not an approver group%s", by, v.groupHint(by))
			}
			return
		}
		if v.failed("rollback.approval.by") || v.failed("rollback.approval") || v.failed("rollback") {
			return
		}
	}
	var first *stepInfo
	for _, si := range v.order {
		if si.step.Undo == "" {
			continue
		}
		if first == nil {
			first = si
		}
		if v.failed(join(si.path, "approval")) {
			return // the approval could not be read, and that is reported; do not guess past it
		}
		if a := si.step.Approval; a != nil && a.By != "" {
			if _, ok := p.ApproverGroup(a.By); ok {
				if p.Rollback == nil {
					p.Rollback = &RollbackPolicy{Approval: Approval{OnTimeout: TimeoutDeny}}
				}
				p.Rollback.Approval.By = a.By
			}
			// An undefined group is reported at the step; do not guess past it.
			return
		}
	}
	if first == nil {
		return
	}
	where := join(first.path, "undo")
	if !v.written(where) {
		where = join(first.path, "action")
	}
	v.errf(where, "%s can be undone (undo: %s), but nobody is set to approve a rollback: add rollback: {approval: {by: <approver group>}} at the top level, or an approval to this step", who(first.step), first.step.Undo)
}

// exprUse is where an expression is written and who evaluates it.
type exprUse struct {
	path      string // the scalar holding the expression
	offset    int    // code points before the expression inside the scalar (templates)
	label     string // the key, for messages: when, with.host
	who       string // the reader, for messages: step "detonate", match.when
	reader    *stepInfo
	onlyAlert bool
}

// pos is where code point off of the expression is in the file: exact inside a single-line scalar, else
// the scalar's start.
func (v *validator) pos(u exprUse, off int) Pos {
	sp, ok := v.src.spots[u.path]
	if !ok {
		return v.at(u.path)
	}
	if sp.shift < 0 {
		return sp.Pos
	}
	return Pos{Line: sp.Line, Col: sp.Col + sp.shift + u.offset + off}
}

// when checks a boolean condition.
func (v *validator) when(src string, u exprUse) {
	if _, err := expr.CompileBool(src); err != nil {
		msg, off := celMessage(err)
		if strings.HasPrefix(msg, "must be a boolean") {
			v.errAt(v.pos(u, 0), "%s must be a boolean condition, but this expression gives %s (make it a test, e.g. x > 0 or x == 'y')", u.label, strings.TrimPrefix(msg, "must be a boolean, is "))
			return
		}
		hint := ""
		switch {
		case strings.Contains(src, "${{"):
			hint = " (" + u.label + " is already an expression: drop the ${{ }})"
		case strings.Contains(msg, "undeclared reference") && !strings.Contains(msg, "did you mean"):
			hint = " (expressions can read alert, inputs, steps and run)"
		}
		v.errAt(v.pos(u, off), "%s does not compile: %s%s", u.label, msg, hint)
		return
	}
	v.refs(src, u)
}

// celMessage splits a CEL compile error into its message and the code-point offset it points at (0 when
// it points at another line, or nowhere).
func celMessage(err error) (string, int) {
	msg := err.Error()
	var ce *expr.CompileError
	if errors.As(err, &ce) {
		msg = ce.Msg
	}
	off := 0
	if m := celErrorRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		col, _ := strconv.Atoi(m[2])
		if line == 1 && col > 0 {
			off = col - 1
		}
		msg = m[3]
	}
	msg = strings.ReplaceAll(msg, " (in container '')", "")
	// ANTLR lists every token it would have accepted; past a few the list hides the point.
	msg = celExpecting.ReplaceAllStringFunc(msg, func(list string) string {
		if strings.Count(list, ",") > 3 {
			return ""
		}
		return list
	})
	msg = strings.Replace(msg, "mismatched input '<EOF>'", "the expression ends too early", 1)
	return msg, off
}

// template checks every ${{ }} of a string value. It scans like expr.ParseTemplate, which the run uses,
// but keeps each expression's offset so problems point into the value.
func (v *validator) template(s string, u exprUse) {
	reported := false
	rest := 0
	for {
		i := strings.Index(s[rest:], "${{")
		if i < 0 {
			break
		}
		start := rest + i
		j := strings.Index(s[start+3:], "}}")
		if j < 0 {
			v.errAt(v.pos(u, utf8.RuneCountInString(s[:start])), "%s: unterminated ${{ (close it with }})", u.label)
			return
		}
		inner := s[start+3 : start+3+j]
		src := strings.TrimSpace(inner)
		lead := start + 3 + len(inner) - len(strings.TrimLeftFunc(inner, unicode.IsSpace))
		at := utf8.RuneCountInString(s[:lead])
		switch _, err := expr.Compile(src); {
		case src == "":
			v.errAt(v.pos(u, utf8.RuneCountInString(s[:start])), "%s: empty ${{ }} (put an expression inside, e.g. ${{ inputs.host }})", u.label)
			reported = true
		case err != nil:
			msg, off := celMessage(err)
			hint := ""
			if strings.Contains(msg, "undeclared reference") && !strings.Contains(msg, "did you mean") {
				hint = " (expressions can read alert, inputs, steps and run)"
			}
			v.errAt(v.pos(u, at+off), "%s: ${{ %s }} does not compile: %s%s", u.label, src, msg, hint)
			reported = true
		default:
			w := u
			w.offset += at
			v.refs(src, w)
		}
		rest = start + 3 + j + 2
	}
	if _, err := expr.ParseTemplate(s); err != nil && !reported {
		v.errAt(v.pos(u, 0), "%s: %v", u.label, err)
	}
}

// refs checks what an expression reads: known alert fields, declared inputs, earlier steps.
func (v *validator) refs(src string, u exprUse) {
	for _, r := range exprRefs(src) {
		pos := v.pos(u, r.offset)
		if u.onlyAlert && r.root != expr.VarAlert {
			v.errAt(pos, "%s can only read alert, not %s: it decides whether a run starts, before inputs, steps and run exist", u.who, r.root)
			continue
		}
		switch r.root {
		case expr.VarAlert:
			if r.dynamic && len(r.path) == 0 {
				v.errAt(pos, "%s reads alert[…] with a computed key; name the field (e.g. alert.host) so it can be checked", u.who)
				continue
			}
			if problem := alertProblem(r.path); problem != "" {
				v.errAt(pos, "%s reads %s", u.who, problem)
			}
		case expr.VarInputs:
			if len(r.path) == 0 {
				v.errAt(pos, "%s reads inputs[…] with a computed key; name the input (e.g. inputs.host) so it can be checked", u.who)
				continue
			}
			if !contains(v.inputNames(), r.path[0]) {
				v.errAt(pos, "%s reads inputs.%s, which is not declared%s", u.who, r.path[0], didYouMean(r.path[0], v.inputNames(), "declare it under inputs: with from: alert.<field>"))
			}
		case expr.VarRun:
			if len(r.path) == 0 || !contains(runFields, r.path[0]) {
				name := "[…]"
				if len(r.path) > 0 {
					name = "." + r.path[0]
				}
				v.errAt(pos, "%s reads run%s; run has %s%s", u.who, name, strings.Join(runFields, " and "), didYouMean(strings.TrimPrefix(name, "."), runFields, ""))
			}
		case expr.VarSteps:
			v.stepRef(r, pos, u)
		}
	}
}

func (v *validator) stepIDs() []string {
	ids := make([]string, 0, len(v.steps))
	for id := range v.steps {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// stepRef checks a read of steps['id']…: the step exists and has finished before the reader runs.
func (v *validator) stepRef(r exprRef, pos Pos, u exprUse) {
	if len(r.path) == 0 {
		v.errAt(pos, "%s reads steps[…] with a computed key; name the step (steps['id']) so it can be checked", u.who)
		return
	}
	id := r.path[0]
	target, ok := v.steps[id]
	ref := fmt.Sprintf("steps['%s']", id)
	switch {
	case !ok:
		v.errAt(pos, "%s reads %s, which does not exist%s", u.who, ref, didYouMean(id, v.stepIDs(), ""))
		return
	case u.reader != nil && target.step == u.reader.step:
		v.errAt(pos, "%s reads its own %s; a step's output exists only after it ran", u.who, ref)
		return
	case u.reader != nil && u.reader.group != 0 && target.group == u.reader.group:
		v.errAt(pos, "%s reads %s, which runs in parallel with it (move the reader after the parallel group)", u.who, ref)
		return
	case u.reader != nil && target.seq > u.reader.seq:
		v.errAt(pos, "%s reads %s, which runs later (a step can only read steps that run before it)", u.who, ref)
		return
	}
	if len(r.path) < 2 {
		return
	}
	if !contains(stepFields, r.path[1]) {
		v.errAt(pos, "%s reads %s.%s; a step has output and status%s", u.who, ref, r.path[1], didYouMean(r.path[1], stepFields, ""))
		return
	}
	if r.path[1] != "output" || len(r.path) < 3 {
		return
	}
	a, ok := actions.Lookup(target.step.Action)
	if !ok || len(a.Outputs) == 0 {
		return
	}
	var outs []string
	for _, f := range a.Outputs {
		outs = append(outs, f.Name)
	}
	if !contains(outs, r.path[2]) {
		v.errAt(pos, "%s reads %s.output.%s, which %s does not return%s", u.who, ref, r.path[2], a.Name, didYouMean(r.path[2], outs, "it returns "+strings.Join(outs, ", ")))
	}
}
