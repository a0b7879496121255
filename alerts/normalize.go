package alerts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/parry-soc/parry/attack"
)

// Format is one intake format: how to recognise its payloads and how to turn one into an Alert.
type Format struct {
	// Name is the format's source name: Alert.Source, and what a sender names to skip detection.
	Name string
	// Detect reports whether a decoded payload has this format's shape. It looks at the shape only, never
	// fails, and leaves checking values to Normalize.
	Detect func(doc map[string]any) bool
	// Normalize turns one payload (its bytes and the same bytes decoded, numbers as json.Number) into an
	// Alert. Errors are *PayloadError. Normalize in this package then sets Source and Raw, fills a missing
	// ID and tidies techniques.
	Normalize func(payload []byte, doc map[string]any) (Alert, error)
}

// formats are the known intake formats in detection order: the most specific shapes first, Parry's own
// (the most permissive) last.
var formats = []Format{
	defenderFormat, elasticFormat, splunkFormat, sentinelFormat, wazuhFormat, crowdstrikeFormat, proofpointFormat,
	sigmaFormat, parryFormat,
}

// Formats returns the names of the known intake formats in detection order.
func Formats() []string {
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = f.Name
	}
	return names
}

// Normalize turns an alert payload into the normalized Alert. source names the payload's format (parry,
// defender, …); empty detects it from the payload's shape. Every error is a *PayloadError.
func Normalize(payload []byte, source string) (Alert, error) {
	doc, err := decodeObject(payload)
	if err != nil {
		converted, yerr := sigmaYAML(err, payload, source)
		if yerr != nil {
			return Alert{}, yerr
		}
		return Normalize(converted, SourceSigma)
	}
	f, err := pickFormat(doc, source)
	if err != nil {
		return Alert{}, err
	}
	a, err := f.Normalize(payload, doc)
	if err != nil {
		return Alert{}, err
	}
	a.Source = f.Name
	a.Techniques = NormalizeTechniques(a.Techniques)
	var raw bytes.Buffer
	if err := json.Compact(&raw, payload); err != nil {
		// decodeObject already accepted the payload, so Compact cannot fail on it.
		return Alert{}, &PayloadError{Problem: "cannot be compacted: " + err.Error(), Err: err}
	}
	a.Raw = raw.Bytes()
	if a.ID == "" {
		a.ID, err = canonicalID(doc)
		if err != nil {
			return Alert{}, &PayloadError{Format: f.Name, Problem: "has no id and cannot be hashed: " + err.Error(), Err: err}
		}
	}
	return a, nil
}

// PayloadError is a payload Parry cannot take. Its message says what is wrong, where (a byte offset for JSON
// syntax errors, else the field) and how to fix it, so an intake endpoint can return it to the sender as is.
type PayloadError struct {
	Format  string // the format being read; empty before one was chosen
	Offset  int64  // byte offset of a JSON syntax error; 0 when it does not apply
	Field   string // the field at fault, if any
	Problem string // what is wrong
	Fix     string // how to fix it
	Err     error  // the underlying error, if any
}

func (e *PayloadError) Error() string {
	var b strings.Builder
	if e.Format != "" {
		b.WriteString(e.Format + " alert")
	} else {
		b.WriteString("alert payload")
	}
	if e.Offset > 0 {
		fmt.Fprintf(&b, " at byte %d", e.Offset)
	}
	if e.Field != "" {
		b.WriteString(": field " + e.Field)
	}
	b.WriteString(": " + e.Problem)
	if e.Fix != "" {
		b.WriteString("; " + e.Fix)
	}
	return b.String()
}

func (e *PayloadError) Unwrap() error { return e.Err }

const fixOneObject = "send one alert as a JSON object"

// decodeObject decodes a payload that must be exactly one JSON object. Numbers stay json.Number so that the
// canonical form, and values read from raw, are exactly what the sender wrote.
func decodeObject(payload []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(payload)) == 0 {
		return nil, &PayloadError{Problem: "the body is empty", Fix: fixOneObject}
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, syntaxError(err, payload)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &PayloadError{
			Offset:  dec.InputOffset(),
			Problem: "more data follows the JSON value",
			Fix:     "send exactly one alert per request",
		}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		fix := fixOneObject
		if _, isList := v.([]any); isList {
			fix = "send one alert per request, as a JSON object"
		}
		return nil, &PayloadError{Problem: "the body is a JSON " + jsonKind(v) + ", not an object", Fix: fix}
	}
	return obj, nil
}

func syntaxError(err error, payload []byte) error {
	var se *json.SyntaxError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return &PayloadError{
			Offset:  int64(len(payload)),
			Problem: "the JSON ends too early (is the body truncated?)",
			Fix:     "send the complete JSON object",
			Err:     err,
		}
	case errors.As(err, &se):
		return &PayloadError{Offset: se.Offset, Problem: "invalid JSON: " + se.Error(), Fix: fixOneObject, Err: err}
	}
	return &PayloadError{Problem: "invalid JSON: " + err.Error(), Fix: fixOneObject, Err: err}
}

func jsonKind(v any) string {
	switch v.(type) {
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number, float64:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return "object"
}

func pickFormat(doc map[string]any, source string) (Format, error) {
	source = strings.ToLower(strings.TrimSpace(source))
	names := strings.Join(Formats(), ", ")
	if source != "" {
		for _, f := range formats {
			if f.Name != source {
				continue
			}
			// A named source skips detection, for payloads missing the fields that mark the shape; but a
			// payload another format recognises was sent to the wrong place, and read as the named format
			// it would lose its techniques and host without a word.
			if !f.Detect(doc) {
				for _, other := range formats {
					if other.Detect(doc) {
						return Format{}, &PayloadError{
							Format:  f.Name,
							Problem: fmt.Sprintf("named as the source, but the payload has the %s format's shape", other.Name),
							Fix:     fmt.Sprintf("name %s as the source, or leave the source out to detect the format", other.Name),
						}
					}
				}
			}
			return f, nil
		}
		return Format{}, &PayloadError{
			Problem: fmt.Sprintf("unknown alert source %q", source),
			Fix:     fmt.Sprintf("name one of %s, or leave the source out to detect the format", names),
		}
	}
	for _, f := range formats {
		if f.Detect(doc) {
			return f, nil
		}
	}
	return Format{}, &PayloadError{
		Problem: fmt.Sprintf("matches no known alert format (tried %s)", names),
		Fix:     "name the format as the alert source, or send Parry's own format (the normalized alert as JSON)",
	}
}

// canonicalID is the hex SHA-256 of the canonical payload: keys sorted, no whitespace, no HTML escaping,
// numbers as written. The same alert sent twice, however formatted, gets the same id.
func canonicalID(doc map[string]any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return "", err
	}
	sum := sha256.Sum256(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
	return hex.EncodeToString(sum[:]), nil
}

// NormalizeTechniques upper-cases and trims technique ids, drops empty ones and duplicates, and sorts.
func NormalizeTechniques(ids []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range ids {
		id = attack.NormalizeID(id)
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// tacticShortName maps a tactic id, name or short name to its ATT&CK short name.
func tacticShortName(key string) (string, bool) {
	t, ok := attack.Default().Tactic(key)
	if !ok {
		return "", false
	}
	return t.ShortName, true
}

// sortTactics deduplicates tactic short names and puts them in ATT&CK matrix order.
func sortTactics(names []string) []string {
	c := attack.Default()
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, n)
	}
	order := func(n string) int {
		if o := c.TacticOrder(n); o >= 0 {
			return o
		}
		return len(c.Tactics()) // unknown tactics last
	}
	sort.SliceStable(out, func(i, j int) bool {
		oi, oj := order(out[i]), order(out[j])
		if oi != oj {
			return oi < oj
		}
		return out[i] < out[j]
	})
	return out
}

// normalizeTime parses an RFC 3339 time and renders it in UTC, keeping sub-second digits. A time whose UTC
// year RFC 3339 cannot write (0000-01-01T00:00:00+01:00 is in year -1) is refused.
func normalizeTime(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", true
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return "", false
	}
	out := formatTime(t)
	return out, out != ""
}
