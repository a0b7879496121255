package alerts

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"

	"github.com/parry-soc/parry/attack"
)

// SourceParry is the source name of Parry's own format.
const SourceParry = "parry"

// parryFormat is Parry's own format: the normalized Alert as JSON. It is what a SIEM webhook template or a
// script writes when no vendor format fits, so it is checked strictly; unknown fields are ignored (and kept
// in Raw).
var parryFormat = Format{
	Name: SourceParry,
	Detect: func(doc map[string]any) bool {
		if s, ok := doc["source"].(string); ok && strings.EqualFold(strings.TrimSpace(s), SourceParry) {
			return true
		}
		// Presence, not type: a mistyped list is still Parry's format, and its normalizer says what is wrong.
		_, techniques := doc["techniques"]
		_, tactics := doc["tactics"]
		return techniques || tactics
	},
	Normalize: normalizeParry,
}

func normalizeParry(payload []byte, _ map[string]any) (Alert, error) {
	var a Alert
	if err := json.Unmarshal(payload, &a); err != nil {
		return Alert{}, typeError(SourceParry, err)
	}
	fail := func(field, problem, fix string) (Alert, error) {
		return Alert{}, &PayloadError{Format: SourceParry, Field: field, Problem: problem, Fix: fix}
	}

	// Raw is the payload itself, set by Normalize; a "raw" the sender included stays inside it.
	a.Raw = nil
	a.ID = strings.TrimSpace(a.ID)
	if s := strings.ToLower(strings.TrimSpace(a.Source)); s != "" && s != SourceParry {
		return fail("source", fmt.Sprintf("%q is not parry", a.Source),
			"Parry's own format always has source parry (or none); to send the vendor's payload instead, name its format as the source")
	}
	a.Title = strings.TrimSpace(a.Title)
	a.Rule = strings.TrimSpace(a.Rule)

	a.Severity = strings.ToLower(strings.TrimSpace(a.Severity))
	if a.Severity != "" && SeverityRank(a.Severity) == 0 {
		return fail("severity", fmt.Sprintf("%q is not a severity", a.Severity), "use one of "+strings.Join(Severities, ", "))
	}

	for i, t := range a.Techniques {
		t = strings.ToUpper(strings.TrimSpace(t))
		if t != "" && !attack.IsTechniqueID(t) {
			return fail(fmt.Sprintf("techniques[%d]", i), fmt.Sprintf("%q is not an ATT&CK technique id", a.Techniques[i]),
				"write technique ids like T1566 or T1566.001")
		}
	}

	tactics := make([]string, 0, len(a.Tactics))
	for i, t := range a.Tactics {
		if strings.TrimSpace(t) == "" {
			continue
		}
		short, ok := tacticShortName(t)
		if !ok {
			return fail(fmt.Sprintf("tactics[%d]", i), fmt.Sprintf("%q is not an ATT&CK tactic", t),
				"use a tactic short name like initial-access, or an id like TA0001")
		}
		tactics = append(tactics, short)
	}
	a.Tactics = sortTactics(tactics)
	if len(a.Tactics) == 0 {
		a.Tactics = nil
	}

	a.Host = strings.TrimSpace(a.Host)
	a.User = strings.TrimSpace(a.User)
	a.SourceIP = strings.TrimSpace(a.SourceIP)
	if a.SourceIP != "" {
		if _, err := netip.ParseAddr(a.SourceIP); err != nil {
			return fail("source_ip", fmt.Sprintf("%q is not an IP address", a.SourceIP), "write an IPv4 or IPv6 address, or leave it out")
		}
	}

	for _, h := range []struct {
		field string
		value *string
		name  string
		size  int
	}{
		{"hashes.sha256", &a.Hashes.SHA256, "SHA-256", 64},
		{"hashes.sha1", &a.Hashes.SHA1, "SHA-1", 40},
		{"hashes.md5", &a.Hashes.MD5, "MD5", 32},
	} {
		*h.value = strings.ToLower(strings.TrimSpace(*h.value))
		if *h.value != "" && !isHex(*h.value, h.size) {
			return fail(h.field, fmt.Sprintf("%q is not a %s", *h.value, h.name), fmt.Sprintf("write %d hex digits", h.size))
		}
	}

	a.Email = Email{
		MessageID: strings.TrimSpace(a.Email.MessageID),
		Sender:    strings.TrimSpace(a.Email.Sender),
		Recipient: strings.TrimSpace(a.Email.Recipient),
		Subject:   strings.TrimSpace(a.Email.Subject),
	}

	t, ok := normalizeTime(a.Time)
	if !ok {
		return fail("time", fmt.Sprintf("%q is not an RFC 3339 time", a.Time), "write times like 2026-11-22T09:02:41Z")
	}
	a.Time = t
	return a, nil
}

// typeError turns a JSON type mismatch into a PayloadError naming the field and its byte offset.
func typeError(format string, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "(top level)"
		}
		return &PayloadError{
			Format:  format,
			Offset:  te.Offset,
			Field:   field,
			Problem: fmt.Sprintf("is a JSON %s, want %s", te.Value, goTypeName(te.Type)),
			Fix:     "send the field with the documented type",
			Err:     err,
		}
	}
	return &PayloadError{Format: format, Problem: "cannot be read: " + err.Error(), Fix: fixOneObject, Err: err}
}

func goTypeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return "a list of strings"
		}
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Bool:
		return "a boolean"
	}
	return "a " + t.Kind().String()
}

func isHex(s string, size int) bool {
	if len(s) != size {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
