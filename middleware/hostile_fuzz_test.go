package middleware

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	sjson "github.com/segmentio/encoding/json"
)

// Fuzz targets for the parsers that decide who a caller is and what
// a request may do before go-sdk sees it. Each runs over its seeds (the
// f.Add calls below and testdata/fuzz/<Name>) in every `go test`; run one
// for real with e.g. `go test ./middleware -run '^$' -fuzz FuzzBearerToken
// -fuzztime 30s`.

// FuzzBearerToken: whatever the Authorization header holds, bearerToken
// either refuses it or returns one non-empty token68-like word that was in
// the header, and re-parsing "Bearer <token>" gives the same token.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{
		"Bearer abc.def.ghi", "bearer x", "BEARER x", "Bearer", "Bearer ", "Bearer  ", "Bearer\tx",
		"Bearer  two  spaces", "Bearer a b", "Basic dXNlcjpwYXNz", "Bearerx y", " Bearer x ",
		"Bearer x\t", "Bearer\u00a0x", "Bearer x\r\n", "Bearer \x00", "Bearer " + strings.Repeat("A", 16<<10),
		"Bearer ,x", "Bearer x,Bearer y", "Bearer \u2028x", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, ok := bearerToken(h)
		if !ok {
			if tok != "" {
				t.Fatalf("refused %q but returned token %q", h, tok)
			}
			return
		}
		if tok == "" || strings.ContainsAny(tok, " \t") {
			t.Fatalf("accepted %q with token %q (empty or containing a space)", h, tok)
		}
		if !strings.Contains(h, tok) {
			t.Fatalf("token %q is not part of the header %q", tok, h)
		}
		scheme, _, _ := strings.Cut(strings.TrimSpace(h), " ")
		if !strings.EqualFold(scheme, "bearer") {
			t.Fatalf("accepted scheme %q in %q", scheme, h)
		}
		again, ok := bearerToken("Bearer " + tok)
		if !ok || again != tok {
			t.Fatalf("re-parsing %q gave %q, %v", "Bearer "+tok, again, ok)
		}
	})
}

// FuzzPeekDifferential: for every body the gate accepts, each message's
// method and tools/call name must equal what go-sdk itself decodes —
// jsonrpc.DecodeMessage for the envelope and, for tools/call, the SDK's
// decoder (segmentio with exact key matching) into mcp.CallToolParamsRaw.
// A disagreement would let a body name one tool to the scope gate and run
// another. Bodies go-sdk refuses cannot run a tool, so they only need not
// crash the gate.
func FuzzPeekDifferential(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sentinel_state"}}`,
		`[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ping"}},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sentinel_exec"}}]`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ping","name":"sentinel_exec"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"Name":"sentinel_exec","name":"ping"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"NAME":"sentinel_exec"}}`,
		`{"jsonrpc":"2.0","id":1,"Method":"tools/call","method":"ping","params":{"name":"sentinel_exec"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call","params":{"name":"sentinel_exec"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ping"},"params":{"name":"sentinel_exec"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","Params":{"name":"sentinel_exec"},"params":{"name":"ping"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"name":"sentinel\u005fexec"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sentinel_exec\u0000"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sentinel_exec","_meta":5}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sentinel_exec","arguments":[1,{"a":[[]]}]}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":null}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[]}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"x"}`,
		`{"jsonrpc":"2.0","id":123456789012345678901234567890123456789,"method":"tools/call","params":{"name":"a"}}`,
		`{"jsonrpc":"2.0","id":1e999,"method":"tools/call","params":{"name":"a"}}`,
		`{"jsonrpc":"2.0","id":-0.0000001,"method":"tools/call","params":{"name":"a"}}`,
		`{"jsonrpc":"2.0","id":{"x":1},"method":"tools/call","params":{"name":"a"}}`,
		`{"jsonrpc":"2.0","id":"` + strings.Repeat("9", 4096) + `","method":"tools/call","params":{"name":"a"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}} {"x":1}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}}]`,
		`[[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}}]]`,
		`[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}},[]]`,
		`[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}},1]`,
		`[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}},null]`,
		`{"jsonrpc":"2.0","id":1,"method":null,"params":{"name":"a"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":` + strings.Repeat("[", 63) + strings.Repeat("]", 63) + `}}`,
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\xff\"}}",
		"\ufeff{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\"}}",
		` 	{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}`,
		`{"jsonrpc":"2.0","result":{},"id":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, code, _ := peek(data)
		if code != 0 {
			return
		}
		sdk, err := sdkDecode(data)
		if err != nil {
			return // go-sdk answers with an error; no tool runs
		}
		if len(sdk) != len(msgs) {
			t.Fatalf("gate saw %d messages, go-sdk %d, in %q", len(msgs), len(sdk), data)
		}
		for i, m := range sdk {
			req, ok := m.(*jsonrpc.Request)
			if !ok {
				if msgs[i].Method != "" {
					t.Fatalf("message %d: gate saw method %q, go-sdk a response, in %q", i, msgs[i].Method, data)
				}
				continue
			}
			if req.Method != msgs[i].Method {
				t.Fatalf("message %d: gate saw method %q, go-sdk %q, in %q", i, msgs[i].Method, req.Method, data)
			}
			if req.Method != "tools/call" {
				continue
			}
			var p *mcp.CallToolParamsRaw
			if req.Params == nil || sdkUnmarshal(req.Params, &p) != nil || p == nil {
				continue // go-sdk: invalid params, no tool runs
			}
			if p.Name != msgs[i].Tool {
				t.Fatalf("message %d: gate saw tool %q, go-sdk %q, in %q", i, msgs[i].Tool, p.Name, data)
			}
		}
	})
}

// sdkDecode mirrors go-sdk's readBatch (mcp/transport.go): an array of
// messages if the body decodes as one, else a single message.
func sdkDecode(data []byte) ([]jsonrpc.Message, error) {
	var batch []json.RawMessage
	if sdkUnmarshal(data, &batch) == nil {
		if len(batch) == 0 {
			return nil, errEmptyBatch
		}
		out := make([]jsonrpc.Message, 0, len(batch))
		for _, raw := range batch {
			m, err := jsonrpc.DecodeMessage(raw)
			if err != nil {
				return nil, err
			}
			out = append(out, m)
		}
		return out, nil
	}
	m, err := jsonrpc.DecodeMessage(data)
	if err != nil {
		return nil, err
	}
	return []jsonrpc.Message{m}, nil
}

// sdkUnmarshal is go-sdk's internal/json.Unmarshal (its 1000-level depth
// check aside: the gate's 64 is stricter).
func sdkUnmarshal(data []byte, v any) error {
	dec := sjson.NewDecoder(bytes.NewReader(data))
	dec.DontMatchCaseInsensitiveStructFields()
	return dec.Decode(v)
}

type fuzzErr string

func (e fuzzErr) Error() string { return string(e) }

const errEmptyBatch = fuzzErr("empty batch")
