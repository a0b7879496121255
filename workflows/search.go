package workflows

import (
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// Search attributes of a run. They are few (SQLite visibility has limited slots) and never hold secrets or
// personal data beyond host names; the alert's raw payload never goes here.
var (
	AttrPlaybook    = temporal.NewSearchAttributeKeyKeyword("ParryPlaybook")
	AttrTechniques  = temporal.NewSearchAttributeKeyKeywordList("ParryTechniques")
	AttrSeverity    = temporal.NewSearchAttributeKeyKeyword("ParrySeverity")
	AttrAlertID     = temporal.NewSearchAttributeKeyKeyword("ParryAlertID")
	AttrHost        = temporal.NewSearchAttributeKeyKeyword("ParryHost")
	AttrPhase       = temporal.NewSearchAttributeKeyKeyword("ParryPhase")
	AttrBreached    = temporal.NewSearchAttributeKeyBool("ParryBudgetBreached")
	AttrDisposition = temporal.NewSearchAttributeKeyKeyword("ParryDisposition")
)

// SearchAttributeTypes lists the search attributes to register (reconciled at every start of a worker or
// dev server).
func SearchAttributeTypes() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		AttrPlaybook.GetName():    enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		AttrTechniques.GetName():  enumspb.INDEXED_VALUE_TYPE_KEYWORD_LIST,
		AttrSeverity.GetName():    enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		AttrAlertID.GetName():     enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		AttrHost.GetName():        enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		AttrPhase.GetName():       enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		AttrBreached.GetName():    enumspb.INDEXED_VALUE_TYPE_BOOL,
		AttrDisposition.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}
}

// StartAttributes are the search attributes a run starts with; the workflow sets the same ones again as
// its first command, so a starter that omits them still yields a searchable run.
func StartAttributes(in Input) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(startUpdates(in)...)
}

func startUpdates(in Input) []temporal.SearchAttributeUpdate {
	updates := []temporal.SearchAttributeUpdate{
		AttrPlaybook.ValueSet(in.Playbook.ID),
		AttrAlertID.ValueSet(in.Alert.ID),
		AttrBreached.ValueSet(false),
		AttrDisposition.ValueSet(Undetermined),
	}
	if len(in.Alert.Techniques) > 0 {
		updates = append(updates, AttrTechniques.ValueSet(in.Alert.Techniques))
	}
	if in.Alert.Severity != "" {
		updates = append(updates, AttrSeverity.ValueSet(in.Alert.Severity))
	}
	if h := in.Alert.HostKey(); h != "" && in.Alert.Host != "" {
		updates = append(updates, AttrHost.ValueSet(h))
	}
	return updates
}

// RunID is the workflow ID of the run for an alert: one alert, at most one run.
func RunID(source, alertID string) string { return "parry-" + source + "-" + alertID }
