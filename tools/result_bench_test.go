package tools

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkWithField is adding _meta to an agent answer, done for every
// tool result.
func BenchmarkWithField(b *testing.B) {
	raw := []byte(`{"uptime":"1 day, 2:03:04","last_command":"uptime","last_output":" 10:00:00 up 1 day","last_status":"ok","last_update":"2026-01-01T10:00:00","total_executions":42,"blocked_count":1,"error_count":0}`)
	meta := mcp.Meta{"proxy": proxyName, "ms": int64(3), "subject": "user-1", "preferred_username": "alice"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := withField(raw, "_meta", meta); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWithFieldSameAsDecoding checks the in-place append against what
// decoding, setting the key and re-encoding gives, on the shapes the fast
// path must take or refuse.
func TestWithFieldSameAsDecoding(t *testing.T) {
	meta := mcp.Meta{"proxy": proxyName, "ms": int64(3), "subject": "user-1"}
	for _, raw := range []string{
		`{}`, ` { } `, `{"a":1}`, "{\"a\": [1, {\"b\": null}] }\n",
		`{"_meta":{"old":true},"a":1}`, `{"a":"_meta"}`, `{"\u005fmeta":1}`, `{"a":"<tag> & \u00e9"}`,
	} {
		got, err := withField([]byte(raw), "_meta", meta)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		var gotObj, wantObj map[string]any
		if err := json.Unmarshal(got, &gotObj); err != nil {
			t.Fatalf("%s: result %s is not JSON: %v", raw, got, err)
		}
		json.Unmarshal([]byte(raw), &wantObj)
		m, _ := json.Marshal(meta)
		var mv any
		json.Unmarshal(m, &mv)
		wantObj["_meta"] = mv
		if !reflect.DeepEqual(gotObj, wantObj) {
			t.Errorf("%s: got %s", raw, got)
		}
		if n := bytes.Count(got, []byte(`"_meta":`)); n != 1 {
			t.Errorf("%s: %d _meta keys in %s", raw, n, got)
		}
	}
	if _, err := withField([]byte(`[1]`), "_meta", meta); err == nil {
		t.Error("an array got a field")
	}
}
