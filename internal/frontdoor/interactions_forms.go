package frontdoor

import (
	"encoding/json"
	"fmt"

	"github.com/slack-go/slack"

	"github.com/parry-soc/parry/internal/slackapp"
	"github.com/parry-soc/parry/workflows"
)

// The deny and close forms (modals). Their private_metadata is the button's value plus the channel and
// thread to answer in: a view_submission carries no message to reply next to.

// dispositionLabels are the close form's options, in workflows.Dispositions order.
var dispositionLabels = map[string]string{
	workflows.TruePositive:  "True positive: a real incident",
	workflows.FalsePositive: "False positive: the detection was wrong",
	workflows.Benign:        "Benign: real activity, but authorised",
	workflows.Undetermined:  "Undetermined",
}

func formText(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
}

func formMarkdown(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

func encodeFormMetadata(m formMetadata) string {
	b, _ := json.Marshal(m) // strings only: always marshals
	return string(b)
}

// denyForm asks why a step is denied. The reason is required: it goes in the approval log.
func denyForm(m formMetadata) slack.ModalViewRequest {
	reason := slack.NewPlainTextInputBlockElement(formText("e.g. the host runs the payroll batch tonight"), slackapp.InputReason)
	reason.Multiline = true
	reason.MaxLength = 500
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      slackapp.CallbackDeny,
		Title:           formText("Deny step"),
		Submit:          formText("Deny"),
		Close:           formText("Cancel"),
		PrivateMetadata: encodeFormMetadata(m),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewSectionBlock(formMarkdown(fmt.Sprintf("Deny *%s* in run `%s`? The step will not run.", m.Approval, m.Run)), nil, nil),
			slack.NewInputBlock(slackapp.BlockReason, formText("Why?"), formText("Recorded in the run's approval log."), reason),
		}},
	}
}

// closeForm asks how to close a run: its disposition and whether to roll its containment back.
func closeForm(m formMetadata) slack.ModalViewRequest {
	var options []*slack.OptionBlockObject
	for _, d := range workflows.Dispositions {
		options = append(options, slack.NewOptionBlockObject(d, formText(dispositionLabels[d]), nil))
	}
	disposition := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, formText("Pick a disposition"), slackapp.InputDisposition, options...)
	rollbackBox := slack.NewCheckboxGroupsBlockElement(slackapp.InputRollback, slack.NewOptionBlockObject(slackapp.RollbackOptionVal,
		formText("Roll back containment"),
		formText("Release what this run contained, newest first. Needs its own approval: the approvers are asked before anything is released.")))
	rollback := slack.NewInputBlock(slackapp.BlockRollback, formText("Rollback"), nil, rollbackBox)
	rollback.Optional = true
	note := slack.NewPlainTextInputBlockElement(formText("e.g. IT's phishing drill"), slackapp.InputReason)
	reason := slack.NewInputBlock(slackapp.BlockReason, formText("Note"), formText("Recorded with the close."), note)
	reason.Optional = true
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      slackapp.CallbackClose,
		Title:           formText("Close run"),
		Submit:          formText("Close run"),
		Close:           formText("Cancel"),
		PrivateMetadata: encodeFormMetadata(m),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewSectionBlock(formMarkdown(fmt.Sprintf("Close run `%s`. Steps that have not run yet are canceled.", m.Run)), nil, nil),
			slack.NewInputBlock(slackapp.BlockDisposition, formText("Disposition"), nil, disposition),
			rollback,
			reason,
		}},
	}
}
