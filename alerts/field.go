package alerts

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// Field reads a value from an alert by the path a playbook input names in `from:`: alert.host,
// alert.hashes.sha256, alert.email.message_id, alert.techniques (a []string), alert.raw.<path> … Empty
// values (blank strings, empty lists and objects, JSON null) count as absent, so ok is false for them as for
// unknown paths.
//
// A raw path walks the original payload one dot-separated name at a time. Where a name meets a list, a
// number picks an element and any other name looks into each element in order, the first value found
// winning (alert.raw.evidence.deviceDnsName finds the first device in a Defender alert). Keys that
// themselves contain dots, as Elastic documents mix flat "kibana.alert.uuid" keys with nested objects, are
// matched too, longest first. Numbers come back as int64 or float64.
func Field(a Alert, path string) (any, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(path), "alert.")
	if !ok {
		return nil, false
	}
	var v any
	switch rest {
	case "id":
		v = a.ID
	case "source":
		v = a.Source
	case "title":
		v = a.Title
	case "severity":
		v = a.Severity
	case "techniques":
		v = a.Techniques
	case "tactics":
		v = a.Tactics
	case "host":
		v = a.Host
	case "user":
		v = a.User
	case "source_ip":
		v = a.SourceIP
	case "time":
		v = a.Time
	case "hashes.sha256":
		v = a.Hashes.SHA256
	case "hashes.sha1":
		v = a.Hashes.SHA1
	case "hashes.md5":
		v = a.Hashes.MD5
	case "email.message_id":
		v = a.Email.MessageID
	case "email.sender":
		v = a.Email.Sender
	case "email.recipient":
		v = a.Email.Recipient
	case "email.subject":
		v = a.Email.Subject
	case "hashes":
		v = nonEmptyMap(map[string]any{"sha256": a.Hashes.SHA256, "sha1": a.Hashes.SHA1, "md5": a.Hashes.MD5})
	case "email":
		v = nonEmptyMap(map[string]any{"message_id": a.Email.MessageID, "sender": a.Email.Sender,
			"recipient": a.Email.Recipient, "subject": a.Email.Subject})
	case "raw":
		v = decodeRaw(a.Raw)
	default:
		p, ok := strings.CutPrefix(rest, "raw.")
		if !ok {
			return nil, false
		}
		v, ok = lookup(decodeRaw(a.Raw), strings.Split(p, "."))
		if !ok {
			return nil, false
		}
	}
	if isEmpty(v) {
		return nil, false
	}
	return plain(v), true
}

func decodeRaw(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil
	}
	return v
}

// lookup walks v along path; see Field.
func lookup(v any, path []string) (any, bool) {
	if len(path) == 0 {
		return v, !isEmpty(v)
	}
	switch x := v.(type) {
	case map[string]any:
		for n := len(path); n >= 1; n-- {
			child, ok := x[strings.Join(path[:n], ".")]
			if !ok {
				continue
			}
			if r, ok := lookup(child, path[n:]); ok {
				return r, true
			}
		}
	case []any:
		if i, err := strconv.Atoi(path[0]); err == nil {
			if i < 0 || i >= len(x) {
				return nil, false
			}
			return lookup(x[i], path[1:])
		}
		for _, e := range x {
			if r, ok := lookup(e, path); ok {
				return r, true
			}
		}
	}
	return nil, false
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(x) == ""
	case []string:
		return len(x) == 0
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

func nonEmptyMap(m map[string]any) map[string]any {
	for k, v := range m {
		if isEmpty(v) {
			delete(m, k)
		}
	}
	return m
}

// plain converts json.Number to int64 or float64, deeply, and copies []string so callers cannot change the
// alert through the result.
func plain(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	case []string:
		return append([]string(nil), x...)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plain(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = plain(e)
		}
		return out
	}
	return v
}
