package attack

import (
	"reflect"
	"testing"
)

func TestDefaultCatalogCounts(t *testing.T) {
	c := Default()
	if got, want := len(c.Techniques()), 835; got != want {
		t.Errorf("techniques: got %d, want %d (SOURCE.md counts)", got, want)
	}
	if got, want := len(c.Tactics()), 14; got != want {
		t.Errorf("tactics: got %d, want %d", got, want)
	}
	if got, want := len(c.Groups()), 172; got != want {
		t.Errorf("groups: got %d, want %d", got, want)
	}
}

func TestTechniqueLookup(t *testing.T) {
	c := Default()
	for _, tt := range []struct {
		name       string
		id         string
		wantName   string
		wantActive bool
		wantOK     bool
	}{
		{"sub-technique", "T1566.001", "Spearphishing Attachment", true, true},
		{"lower case and spaces", " t1059.001 ", "PowerShell", true, true},
		{"revoked", "T1002", "Data Compressed", false, true},
		{"deprecated", "T1026", "Multiband Communication", false, true},
		{"unknown", "T9999", "", true, false},
		{"empty", "", "", true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := c.Technique(tt.id)
			if ok != tt.wantOK || got.Name != tt.wantName || got.Active() != tt.wantActive {
				t.Errorf("Technique(%q) = %q active=%v ok=%v, want %q active=%v ok=%v", tt.id, got.Name, got.Active(), ok, tt.wantName, tt.wantActive, tt.wantOK)
			}
		})
	}
}

func TestTacticsComeFromDataInMatrixOrder(t *testing.T) {
	c := Default()
	var got []string
	for _, tc := range c.TacticsOf("T1078") {
		got = append(got, tc.ShortName)
	}
	want := []string{"initial-access", "persistence", "privilege-escalation", "defense-evasion"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("TacticsOf(T1078) = %v, want %v", got, want)
	}
	if got, want := c.Tactics()[0].ShortName, "reconnaissance"; got != want {
		t.Errorf("first tactic = %q, want %q", got, want)
	}
	for _, tt := range []struct{ key, want string }{
		{"TA0008", "lateral-movement"}, {"LateralMovement", "lateral-movement"}, {"Lateral Movement", "lateral-movement"}, {"lateral-movement", "lateral-movement"},
	} {
		if got, ok := c.Tactic(tt.key); !ok || got.ShortName != tt.want {
			t.Errorf("Tactic(%q) = %q, %v; want %q", tt.key, got.ShortName, ok, tt.want)
		}
	}
	if got := c.TacticOrder("initial-access"); got != 2 {
		t.Errorf("TacticOrder(initial-access) = %d, want 2", got)
	}
}

func TestTacticListIsNotHardCoded(t *testing.T) {
	// A v19-style catalog where Defense Evasion is split must load and order as its data says.
	tech := []byte(`[{"id":"T1070","name":"Indicator Removal","tactics":["stealth"],"is_subtechnique":false}]`)
	tac := []byte(`[{"id":"TA0001","shortname":"initial-access","name":"Initial Access"},{"id":"TA0005","shortname":"stealth","name":"Stealth"},{"id":"TA0112","shortname":"defense-impairment","name":"Defense Impairment"}]`)
	c, err := Load(tech, tac, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.TacticsOf("T1070"); len(got) != 1 || got[0].ID != "TA0005" {
		t.Errorf("TacticsOf(T1070) = %v, want [Stealth]", got)
	}
	if got := c.TacticOrder("defense-impairment"); got != 2 {
		t.Errorf("TacticOrder(defense-impairment) = %d, want 2", got)
	}
}

func TestParentAndSubTechniques(t *testing.T) {
	c := Default()
	p, ok := c.Parent("T1566.001")
	if !ok || p.ID != "T1566" {
		t.Errorf("Parent(T1566.001) = %q, %v; want T1566", p.ID, ok)
	}
	if _, ok := c.Parent("T1566"); ok {
		t.Error("Parent(T1566) ok, want none")
	}
	subs := c.SubTechniques("T1566")
	if len(subs) < 3 || subs[0] != "T1566.001" {
		t.Errorf("SubTechniques(T1566) = %v", subs)
	}
}

func TestTechniquesByName(t *testing.T) {
	c := Default()
	got := c.TechniquesByName("user execution")
	if len(got) != 1 || got[0].ID != "T1204" {
		t.Errorf("TechniquesByName(user execution) = %v, want T1204", got)
	}
}

func TestLoadRejectsBadData(t *testing.T) {
	for _, tt := range []struct{ name, tech, tac string }{
		{"truncated", `[{"id":`, `[]`},
		{"no id", `[{"name":"x"}]`, `[]`},
		{"tactics not a list", `[]`, `{}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Load([]byte(tt.tech), []byte(tt.tac), nil); err == nil {
				t.Error("Load succeeded, want error")
			}
		})
	}
}
