package tools

import "testing"

// TestEveryAgentToolTakesAHost: every tool that reaches an agent has a
// host argument, so [handle] always resolves a host and [Deps.agent]
// never falls back to a client nobody named. A new tool input that
// forgets to embed Target fails here.
func TestEveryAgentToolTakesAHost(t *testing.T) {
	for _, tl := range allTools() {
		if tl.Scope == "" || tl.Local {
			if tl.targeted {
				t.Errorf("%s reaches no agent but takes a host", tl.Name)
			}
			continue
		}
		if !tl.targeted {
			t.Errorf("%s reaches an agent but its input does not embed Target", tl.Name)
		}
		if _, ok := tl.args["host"]; ok {
			t.Errorf("%s: host is among the policy's arguments (it has its own variables)", tl.Name)
		}
	}
}
