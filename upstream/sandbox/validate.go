package sandbox

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// This file imitates FastAPI + Pydantic v2 request validation for the
// model endpoints (/edit, /edit/upload/complete, /script/run): the 422
// list shape of UPSTREAM.md §3.1, lax coercion, every field error listed
// in declaration order, and model-level (Spanish) rules only once all
// fields are valid. It runs before authentication, as on the real agent.

// maxJSONBody bounds JSON bodies; the real agent has no limit, the fake
// only needs to stay sane.
const maxJSONBody = 64 << 20

// vError is one Pydantic error entry.
type vError struct {
	Type  string          `json:"type"`
	Loc   []any           `json:"loc"`
	Msg   string          `json:"msg"`
	Input json.RawMessage `json:"input"`
	Ctx   any             `json:"ctx,omitempty"`
}

func write422(w http.ResponseWriter, errs []vError) {
	writeJSON(w, http.StatusUnprocessableEntity, struct {
		Detail []vError `json:"detail"`
	}{errs})
}

// modelError is a model-level rule failure ("Value error, <msg>").
func modelError(body json.RawMessage, msg string) []vError {
	return []vError{{Type: "value_error", Loc: []any{"body"}, Msg: "Value error, " + msg,
		Input: body, Ctx: map[string]any{"error": struct{}{}}}}
}

func missing(loc ...any) vError {
	return vError{Type: "missing", Loc: append([]any{"body"}, loc...), Msg: "Field required", Input: rawNull}
}

var rawNull = json.RawMessage("null")

type kind int

const (
	kStr kind = iota
	kOptStr
	kBool
	kInt
	kLiteral
	kOptLiteral
	kOptStrList
	kOptStrMap
)

// field declares one model field.
type field struct {
	name     string
	kind     kind
	required bool
	lits     []string
}

// model holds a validated body: raw values by name plus the original body
// (for "input" echoes).
type model struct {
	body   json.RawMessage
	fields map[string]json.RawMessage
}

// parseModel reads and validates r's JSON body against fields. On failure
// it returns the 422 entries.
func parseModel(r *http.Request, fields []field) (*model, []vError) {
	data, _ := io.ReadAll(io.LimitReader(r.Body, maxJSONBody))
	if ct := r.Header.Get("Content-Type"); ct != "" && !isJSONType(ct) {
		if len(data) == 0 {
			return nil, []vError{missing()}
		}
		s, _ := json.Marshal(string(data))
		return nil, []vError{{Type: "model_attributes_type", Loc: []any{"body"},
			Msg: "Input should be a valid dictionary or object to extract fields from", Input: s}}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, []vError{missing()}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil || dec.More() {
		off := 0
		if se, ok := err.(*json.SyntaxError); ok {
			off = int(se.Offset) - 1
		}
		return nil, []vError{{Type: "json_invalid", Loc: []any{"body", max(off, 0)}, Msg: "JSON decode error",
			Input: json.RawMessage("{}"), Ctx: map[string]string{"error": "Expecting value"}}}
	}
	var buf bytes.Buffer
	_ = json.Compact(&buf, v)
	body := json.RawMessage(buf.Bytes())
	if body[0] != '{' {
		return nil, []vError{{Type: "model_attributes_type", Loc: []any{"body"},
			Msg: "Input should be a valid dictionary or object to extract fields from", Input: body}}
	}
	m := &model{body: body}
	_ = json.Unmarshal(body, &m.fields)
	var errs []vError
	for _, f := range fields {
		raw, ok := m.fields[f.name]
		if !ok {
			if f.required {
				e := missing(f.name)
				e.Input = body
				errs = append(errs, e)
			}
			continue
		}
		errs = append(errs, checkField(f, raw)...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return m, nil
}

func isJSONType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

func checkField(f field, raw json.RawMessage) []vError {
	isNull := string(raw) == "null"
	bad := func(typ, msg string) []vError {
		return []vError{{Type: typ, Loc: []any{"body", f.name}, Msg: msg, Input: raw}}
	}
	switch f.kind {
	case kOptStr, kOptLiteral, kOptStrList, kOptStrMap:
		if isNull {
			return nil
		}
	}
	switch f.kind {
	case kStr, kOptStr:
		if raw[0] != '"' {
			return bad("string_type", "Input should be a valid string")
		}
	case kBool:
		if _, ok := laxBool(raw); !ok {
			if raw[0] == '"' || raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9') {
				return bad("bool_parsing", "Input should be a valid boolean, unable to interpret input")
			}
			return bad("bool_type", "Input should be a valid boolean")
		}
	case kInt:
		if _, e := laxInt(raw); e != "" {
			switch e {
			case "int_parsing":
				return bad(e, "Input should be a valid integer, unable to parse string as an integer")
			case "int_from_float":
				return bad(e, "Input should be a valid integer, got a number with a fractional part")
			}
			return bad(e, "Input should be a valid integer")
		}
	case kLiteral, kOptLiteral:
		var s string
		if json.Unmarshal(raw, &s) != nil || !contains(f.lits, s) {
			exp := literalList(f.lits)
			return []vError{{Type: "literal_error", Loc: []any{"body", f.name}, Msg: "Input should be " + exp,
				Input: raw, Ctx: map[string]string{"expected": exp}}}
		}
	case kOptStrList:
		var items []json.RawMessage
		if raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
			return bad("list_type", "Input should be a valid list")
		}
		var errs []vError
		for i, it := range items {
			if it[0] != '"' {
				errs = append(errs, vError{Type: "string_type", Loc: []any{"body", f.name, i},
					Msg: "Input should be a valid string", Input: it})
			}
		}
		return errs
	case kOptStrMap:
		var kv map[string]json.RawMessage
		if raw[0] != '{' || json.Unmarshal(raw, &kv) != nil {
			return bad("dict_type", "Input should be a valid dictionary")
		}
		var errs []vError
		for _, k := range orderedKeys(raw) {
			if it := kv[k]; it[0] != '"' {
				errs = append(errs, vError{Type: "string_type", Loc: []any{"body", f.name, k},
					Msg: "Input should be a valid string", Input: it})
			}
		}
		return errs
	}
	return nil
}

// literalList renders Pydantic's "'a', 'b' or 'c'".
func literalList(lits []string) string {
	q := make([]string, len(lits))
	for i, l := range lits {
		q[i] = "'" + l + "'"
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// laxBool is Pydantic's lax boolean.
func laxBool(raw json.RawMessage) (bool, bool) {
	switch string(raw) {
	case "true", "1", "1.0":
		return true, true
	case "false", "0", "0.0":
		return false, true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "1", "on", "t", "true", "y", "yes":
			return true, true
		case "0", "off", "f", "false", "n", "no":
			return false, true
		}
	}
	return false, false
}

// laxInt is Pydantic's lax integer; the second result is the error type.
func laxInt(raw json.RawMessage) (int, string) {
	switch string(raw) {
	case "true":
		return 1, ""
	case "false":
		return 0, ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		s = strings.TrimSpace(s)
		if n, err := strconv.Atoi(s); err == nil {
			return n, ""
		}
		return 0, "int_parsing"
	}
	var f float64
	if json.Unmarshal(raw, &f) != nil {
		return 0, "int_type"
	}
	if f != math.Trunc(f) || math.IsInf(f, 0) {
		return 0, "int_from_float"
	}
	return int(f), ""
}

// orderedKeys lists an object's keys in document order.
func orderedKeys(obj json.RawMessage) []string {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if _, err := dec.Token(); err != nil {
		return nil
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return keys
		}
		k, _ := t.(string)
		keys = append(keys, k)
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return keys
		}
	}
	return keys
}

// Accessors for validated values; absent or null fields give the default.

func (m *model) str(name string) string {
	var s string
	_ = json.Unmarshal(m.fields[name], &s)
	return s
}

func (m *model) optStr(name string) *string {
	raw, ok := m.fields[name]
	if !ok || string(raw) == "null" {
		return nil
	}
	var s string
	_ = json.Unmarshal(raw, &s)
	return &s
}

func (m *model) boolean(name string, def bool) bool {
	raw, ok := m.fields[name]
	if !ok {
		return def
	}
	b, _ := laxBool(raw)
	return b
}

func (m *model) integer(name string, def int) int {
	raw, ok := m.fields[name]
	if !ok {
		return def
	}
	n, _ := laxInt(raw)
	return n
}

func (m *model) strList(name string) []string {
	var l []string
	_ = json.Unmarshal(m.fields[name], &l)
	return l
}

// strMap returns the map and its keys in document order.
func (m *model) strMap(name string) (map[string]string, []string) {
	raw, ok := m.fields[name]
	if !ok || string(raw) == "null" {
		return nil, nil
	}
	var kv map[string]string
	_ = json.Unmarshal(raw, &kv)
	return kv, orderedKeys(raw)
}

// readObject is the hand-parsed body of /exec, /service, /restart,
// /upload/init and /upload/complete: anything but a JSON object makes the
// real agent raise, i.e. a plain 500.
func readObject(r *http.Request) (map[string]json.RawMessage, bool) {
	data, _ := io.ReadAll(io.LimitReader(r.Body, maxJSONBody))
	var obj map[string]json.RawMessage
	if len(bytes.TrimSpace(data)) == 0 || bytes.TrimSpace(data)[0] != '{' || json.Unmarshal(data, &obj) != nil {
		return nil, false
	}
	return obj, true
}

// truthy is Python truthiness of a JSON value.
func truthy(raw json.RawMessage) bool {
	switch s := string(raw); s {
	case "", "null", "false", `""`, "[]", "{}":
		return false
	default:
		var f float64
		if json.Unmarshal(raw, &f) == nil {
			return f != 0
		}
		var arr []json.RawMessage
		if raw[0] == '[' && json.Unmarshal(raw, &arr) == nil {
			return len(arr) > 0
		}
		var obj map[string]json.RawMessage
		if raw[0] == '{' && json.Unmarshal(raw, &obj) == nil {
			return len(obj) > 0
		}
		return true
	}
}

// pyStr is Python's str() of a JSON value, for messages that echo input.
func pyStr(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	switch string(raw) {
	case "true":
		return "True"
	case "false":
		return "False"
	case "null":
		return "None"
	}
	return string(raw)
}
