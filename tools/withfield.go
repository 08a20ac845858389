package tools

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// withField adds one key to the agent's JSON object, keeping the rest as
// the agent sent it. Every tool result goes through here (for _meta), so
// the common case appends the key in place; only an object that may
// already hold the key (or spells keys with escapes) is decoded and
// re-encoded, with the new value replacing the old.
func withField(raw json.RawMessage, key string, value any) (json.RawMessage, error) {
	body := bytes.TrimSpace(raw)
	if len(body) >= 2 && body[0] == '{' && body[len(body)-1] == '}' &&
		!bytes.Contains(body, []byte(key)) && !bytes.Contains(body, []byte(`\u`)) && json.Valid(body) {
		v, err := json.Marshal(value)
		if err != nil {
			return nil, err
		}
		out := make([]byte, 0, len(body)+len(key)+len(v)+4)
		out = append(out, body[:len(body)-1]...)
		if len(bytes.TrimSpace(body[1:len(body)-1])) > 0 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, key...)
		out = append(out, `":`...)
		out = append(out, v...)
		return append(out, '}'), nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("agent answer is not a JSON object: %w", err)
	}
	v, err := json.Marshal(value)
	if err != nil {
		return nil, err
	}
	obj[key] = v
	return json.Marshal(obj)
}
