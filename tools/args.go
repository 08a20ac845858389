package tools

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	sjson "github.com/segmentio/encoding/json"

	"github.com/pensados/sentinelx-mcp/internal/jsondepth"
)

// typedHandler registers a typed tool as go-sdk's mcp.AddTool would, but
// decodes the call's arguments without go-sdk's per-decode Decoder (which
// allocates a 32 KiB read buffer each time, twice per call here). The
// steps, their order, the schema and the error texts are go-sdk v1.8.0's
// (mcp.toolForErr and applySchema): the arguments are decoded into a map,
// the schema's defaults applied, the map validated against in (resolved
// once, with ValidateDefaults, as go-sdk resolves it), re-encoded and
// decoded into In. Only the decoding is done in place. rs must be the
// resolution of the schema the tool is listed with.
func typedHandler[In any](rs *jsonschema.Resolved, h mcp.ToolHandlerFor[In, any]) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		in, err := decodeArgs[In](req.Params.Arguments, rs)
		if err != nil {
			var res mcp.CallToolResult
			res.SetError(err)
			return &res, nil
		}
		res, _, err := h(ctx, req, in)
		if err != nil {
			// As go-sdk: a JSON-RPC error is a protocol error, any other
			// an isError result ([handle] returns neither today).
			if wire, ok := err.(*jsonrpc.Error); ok {
				return nil, wire
			}
			var res mcp.CallToolResult
			res.SetError(err)
			return &res, nil
		}
		if res == nil {
			res = &mcp.CallToolResult{}
		}
		return res, nil
	}
}

// decodeArgs is go-sdk's applySchema(args, rs, false) followed by its
// Unmarshal into In, with the same error texts.
func decodeArgs[In any](args json.RawMessage, rs *jsonschema.Resolved) (In, error) {
	var in In
	v := make(map[string]any)
	if len(args) > 0 {
		if err := sdkUnmarshal(args, &v); err != nil {
			return in, fmt.Errorf("validating \"arguments\": %v", fmt.Errorf("unmarshaling arguments: %w", err))
		}
	}
	if v == nil {
		// "arguments": null. go-sdk goes on with a nil map, which is
		// the same as {} to validation and decoding, except that
		// applying a default to it panics on go-sdk's handler goroutine,
		// where nothing recovers: the whole process would stop.
		v = make(map[string]any)
	}
	var u any = v
	if err := rs.ApplyDefaults(&u); err != nil {
		return in, fmt.Errorf("validating \"arguments\": %v", fmt.Errorf("applying schema defaults:\n%w", err))
	}
	if err := rs.Validate(&u); err != nil {
		return in, fmt.Errorf("validating \"arguments\": %v", err)
	}
	withDefaults, err := json.Marshal(u)
	if err != nil {
		return in, fmt.Errorf("validating \"arguments\": %v", fmt.Errorf("marshalling with defaults: %v", err))
	}
	if err := sdkUnmarshal(withDefaults, &in); err != nil {
		return in, err
	}
	return in, nil
}

// sdkMaxDepth is go-sdk's internal/json nesting limit.
const sdkMaxDepth = 1000

var errSDKMaxDepth = fmt.Errorf("json: exceeded maximum nesting depth of %d", sdkMaxDepth)

// sdkUnmarshal decodes data as go-sdk's internal/json.Unmarshal does
// (nesting bounded at 1000, segmentio with exact key matching, anything
// after the first value ignored) in the two steps its Decoder.Decode
// takes, parse one raw value, then decode it, but straight from data.
// middleware/jsonrpc.go's unmarshal does the same for the body peek.
func sdkUnmarshal(data []byte, v any) error {
	if jsondepth.Exceeds(data, sdkMaxDepth) {
		return errSDKMaxDepth
	}
	var raw sjson.RawMessage
	if _, err := sjson.Parse(data, &raw, sjson.DontMatchCaseInsensitiveStructFields); err != nil {
		return err
	}
	_, err := sjson.Parse(raw, v, sjson.DontMatchCaseInsensitiveStructFields)
	return err
}
