package tools

import (
	"encoding/json"
	"fmt"

	"github.com/google/jsonschema-go/jsonschema"
)

// prop refines one inferred input property: the jsonschema struct tag
// only carries a description, so enums, bounds and defaults are set here
// and arguments are validated against them before a handler runs (go-sdk's
// steps, see typedHandler).
type prop struct {
	enum     []any
	min, max *float64
	def      any
}

func num(f float64) *float64 { return &f }

// inputSchema infers In's schema and applies refinements by JSON name.
// It panics on a name that is not a property, because that is a typo in
// the tool table caught by any test that builds the table.
func inputSchema[In any](refine map[string]prop) *jsonschema.Schema {
	s, err := jsonschema.For[In](nil)
	if err != nil {
		panic(fmt.Sprintf("tools: schema for %T: %v", *new(In), err))
	}
	for name, p := range refine {
		ps, ok := s.Properties[name]
		if !ok {
			panic(fmt.Sprintf("tools: %T has no property %q", *new(In), name))
		}
		ps.Enum = p.enum
		ps.Minimum, ps.Maximum = p.min, p.max
		if p.def != nil {
			b, _ := json.Marshal(p.def)
			ps.Default = b
		}
	}
	return s
}

// outputSchema infers the shape of an agent response from its upstream
// type, as documentation for clients. Nothing is required and extra keys
// are allowed: the agent, not this bridge, owns that shape, and a client
// that validates strictly must not reject a newer agent's answer.
func outputSchema[Out any]() *jsonschema.Schema {
	s, err := jsonschema.For[Out](&jsonschema.ForOptions{IgnoreInvalidTypes: true})
	if err != nil {
		panic(fmt.Sprintf("tools: output schema for %T: %v", *new(Out), err))
	}
	loosen(s)
	return s
}

func loosen(s *jsonschema.Schema) {
	if s == nil {
		return
	}
	s.Required = nil
	if s.AdditionalProperties != nil && s.AdditionalProperties.Not != nil {
		s.AdditionalProperties = nil // "false": closed object
	}
	for _, p := range s.Properties {
		loosen(p)
	}
	loosen(s.Items)
	loosen(s.AdditionalProperties)
}
