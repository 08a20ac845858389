package upstream

import "encoding/json"

// JSON returns the agent's body exactly as sent (token scrubbed): what the
// MCP layer hands to the model. Every response type has it, so callers can
// treat them alike.
func (v *State) JSON() json.RawMessage                { return v.Raw }
func (v *Capabilities) JSON() json.RawMessage         { return v.Raw }
func (v *ExecResult) JSON() json.RawMessage           { return v.Raw }
func (v *ServiceResult) JSON() json.RawMessage        { return v.Raw }
func (v *RestartResult) JSON() json.RawMessage        { return v.Raw }
func (v *EditResult) JSON() json.RawMessage           { return v.Raw }
func (v *EditUploadInitResult) JSON() json.RawMessage { return v.Raw }
func (v *EditUploadFileResult) JSON() json.RawMessage { return v.Raw }
func (v *ScriptResult) JSON() json.RawMessage         { return v.Raw }
func (v *UploadResult) JSON() json.RawMessage         { return v.Raw }
func (v *UploadInitResult) JSON() json.RawMessage     { return v.Raw }
func (v *UploadChunkResult) JSON() json.RawMessage    { return v.Raw }
