package tools

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pensados/sentinelx-mcp/upstream"
	"github.com/pensados/sentinelx-mcp/upstream/fleet"
)

// argCases are arguments as a client may send them: valid, defaulted,
// out of bounds, outside an enum, unknown or case-variant keys, duplicate
// keys, wrong types, and arguments that are not an object at all.
var argCases = []string{
	``, `null`, `{}`, `[]`, `5`, `"x"`, `true`, `{"cmd":"uptime"}`, `{"cmd":"uptime","host":"h1"}`,
	`{"cmd":"uptime","host":"nope"}`, `{"cmd":5}`, `{"cmd":null}`, `{"CMD":"uptime"}`, `{"cmd":"a","cmd":"b"}`,
	`{"cmd":"uptime","extra":1}`, `{"cmd":"uptime","hosts":["a"]}`, `{"cmd":"uptime","selector":"role=web"}`,
	`{"service":"nginx","action":"restart"}`, `{"service":"nginx","action":"explode"}`, `{"service":"nginx"}`,
	`{"interpreter":"bash","content":"echo hi"}`, `{"interpreter":"bash","content":"x","timeout":0}`,
	`{"interpreter":"bash","content":"x","timeout":301}`, `{"interpreter":"bash","content":"x","timeout":1.5}`,
	`{"interpreter":"bash","content":"x","timeout":2e1}`, `{"interpreter":"bash","content":"x","timeout":"60"}`,
	`{"interpreter":"bash","content":"x","timeout":null}`, `{"interpreter":"bash","content":"x","cleanup":false}`,
	`{"interpreter":"bash","content":"x","cleanup":null}`, `{"interpreter":"zsh","content":"x"}`,
	`{"interpreter":"bash","content":"x","env":{"A":"1","B":"\u00e9\n"}}`, `{"interpreter":"bash","content":"x","env":{"A":1}}`,
	`{"interpreter":"bash","content":"x","args":["-a","b"]}`, `{"interpreter":"bash","content":"x","args":"-a"}`,
	`{"path":"/etc/x","mode":"replace","old":"a","new_text":"b"}`, `{"path":"/etc/x","mode":"write","count":-1}`,
	`{"path":"/etc/x","mode":"write","count":3}`, `{"path":"/etc/x","mode":"write","new_text":null}`,
	`{"upload_id":"u1","index":0,"chunk_base64":"QQ=="}`, `{"upload_id":"u1","index":-1,"chunk_base64":"QQ=="}`,
	`{"upload_id":"u1","index":9007199254740993,"chunk_base64":"QQ=="}`, `{"upload_id":"u1","index":1e400}`,
	` { "cmd" : "uptime" } `, `{"cmd":"uptime"}` + "\n", `{"a":{"b":{"c":[[[]]]}}}`,
}

// TestTypedHandlerMatchesAddTool checks that typedHandler decodes, defaults
// and refuses every argument case exactly as go-sdk's mcp.AddTool does,
// for the table's real input schemas: the same In, the same isError and
// the same text.
func TestTypedHandlerMatchesAddTool(t *testing.T) {
	up, err := upstream.New(upstream.Options{BaseURL: "http://agent.invalid"})
	if err != nil {
		t.Fatal(err)
	}
	multi, err := fleet.Parse([]byte("hosts:\n- {name: h1, url: 'http://127.0.0.1:1', token: t}\n- {name: h2, url: 'http://127.0.0.1:2', token: t}\n"), fleet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, reg := range []*fleet.Registry{fleet.NewSingle(up).Registry(), multi} {
		diffTool[execInput](t, "sentinel_exec", reg)
		diffTool[serviceInput](t, "sentinel_service", reg)
		diffTool[scriptInput](t, "sentinel_script_run", reg)
		diffTool[editInput](t, "sentinel_edit", reg)
		diffTool[uploadChunkInput](t, "sentinel_upload_chunk", reg)
		diffTool[fanInput](t, "sentinel_state", reg)
		diffTool[noInput](t, "ping", reg)
	}
}

// schemaOf is the input schema the table registers name with on reg.
func schemaOf(t *testing.T, name string, reg *fleet.Registry) *jsonschema.Schema {
	t.Helper()
	up, err := upstream.New(upstream.Options{BaseURL: "http://agent.invalid"})
	if err != nil {
		t.Fatal(err)
	}
	d := Deps{Upstream: up}
	for _, tl := range allTools() {
		if tl.Name != name {
			continue
		}
		var got *jsonschema.Schema
		s := mcp.NewServer(&mcp.Implementation{Name: "x"}, nil)
		mt := &mcp.Tool{Name: name}
		s.AddTool(mt, tl.build(mt, &d, reg))
		cs := ConnectInMemory(t, s)
		res, err := cs.ListTools(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(res.Tools[0].InputSchema)
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	t.Fatalf("no tool %s", name)
	return nil
}

func diffTool[In any](t *testing.T, name string, reg *fleet.Registry) {
	t.Helper()
	schema := schemaOf(t, name, reg)
	got := map[string]any{}
	capture := func(tool string) mcp.ToolHandlerFor[In, any] {
		return func(_ context.Context, _ *mcp.CallToolRequest, in In) (*mcp.CallToolResult, any, error) {
			got[tool] = in
			b, err := json.Marshal(in)
			if err != nil {
				t.Error(err)
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(b)}}}, nil, nil
		}
	}
	s := mcp.NewServer(&mcp.Implementation{Name: "x"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "sdk", InputSchema: schema}, capture("sdk"))
	rs, err := schema.Resolve(&jsonschema.ResolveOptions{ValidateDefaults: true})
	if err != nil {
		t.Fatal(err)
	}
	s.AddTool(&mcp.Tool{Name: "own", InputSchema: schema}, typedHandler(rs, capture("own")))
	cs := ConnectInMemory(t, s)
	for _, c := range argCases {
		var args any
		if c != "" {
			args = json.RawMessage(c)
		}
		text := map[string]string{}
		isErr := map[string]bool{}
		clear(got)
		for _, tool := range []string{"sdk", "own"} {
			args := args
			if tool == "sdk" && c == "null" && hasDefaults(schema) {
				// go-sdk panics applying a default to the nil map that
				// null decodes to (see decodeArgs); ours treats null as
				// {}, so that is what it is compared with.
				args = json.RawMessage(`{}`)
			}
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
			if err != nil {
				text[tool] = "protocol error: " + err.Error()
				continue
			}
			isErr[tool] = res.IsError
			for _, ct := range res.Content {
				if tc, ok := ct.(*mcp.TextContent); ok {
					text[tool] += tc.Text
				}
			}
		}
		text["sdk"], text["own"] = sortedProps(text["sdk"]), sortedProps(text["own"])
		if text["sdk"] != text["own"] || isErr["sdk"] != isErr["own"] || !reflect.DeepEqual(got["sdk"], got["own"]) {
			t.Errorf("%s %s:\n go-sdk: isError=%v %q\n   ours: isError=%v %q", name, c,
				isErr["sdk"], text["sdk"], isErr["own"], text["own"])
		}
		if strings.Contains(text["sdk"], "protocol error") {
			t.Logf("%s %s: %s", name, c, text["sdk"])
		}
	}
}

func hasDefaults(s *jsonschema.Schema) bool {
	for _, p := range s.Properties {
		if p.Default != nil {
			return true
		}
	}
	return false
}

// sortedProps sorts the list in "unexpected additional properties [...]",
// which the validator writes in map order.
func sortedProps(text string) string {
	head, rest, ok := strings.Cut(text, "additional properties [")
	if !ok {
		return text
	}
	list, tail, _ := strings.Cut(rest, "]")
	f := strings.Fields(list)
	slices.Sort(f)
	return head + "additional properties [" + strings.Join(f, " ") + "]" + tail
}
