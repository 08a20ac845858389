package tools

import (
	"context"
	"encoding/json"
)

// runFunc is a tool's work as a plain function of its dependencies and
// input: the form the per-tool files write it in.
type runFunc[In any] func(ctx context.Context, d *Deps, in In) (json.RawMessage, error)

// withDeps adapts a runFunc to what [newTool] takes, so a tool's work is
// a top-level function beside its Spec instead of a closure returning a
// closure repeated in every tool.
func withDeps[In any](run runFunc[In]) func(d *Deps) callFunc[In] {
	return func(d *Deps) callFunc[In] {
		return func(ctx context.Context, in In) (json.RawMessage, error) { return run(ctx, d, in) }
	}
}
