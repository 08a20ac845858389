package handlers

import (
	"net/http"
	"testing"
)

func TestPrefersHTML(t *testing.T) {
	tests := []struct {
		name   string
		accept []string // nil: no Accept header
		html   bool
	}{
		{"Chrome", []string{"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"}, true},
		{"Firefox", []string{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, true},
		{"Safari", []string{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, true},
		{"Edge", []string{"text/html,application/xhtml+xml,application/xml;q=0.9,image/webp,image/apng,*/*;q=0.8"}, true},
		{"curl", []string{"*/*"}, false},
		{"no Accept", nil, false},
		{"empty Accept", []string{""}, false},
		{"application/json", []string{"application/json"}, false},
		{"html at q=0.1, then json", []string{"text/html;q=0.1, application/json"}, false},
		{"json first, equal q", []string{"application/json, text/html"}, false},
		{"html first, equal q", []string{"text/html, application/json"}, true},
		{"html only", []string{"text/html"}, true},
		{"html q=0", []string{"text/html;q=0, */*"}, false},
		{"json higher q than html", []string{"text/html;q=0.5, application/json;q=0.9"}, false},
		{"html higher q than json", []string{"application/json;q=0.5, text/html"}, true},
		{"*/* beats lower html", []string{"text/html;q=0.5, */*"}, false},
		{"*/* first, equal q", []string{"*/*, text/html"}, false},
		{"application/* lower", []string{"text/html, application/*;q=0.2"}, true},
		{"SSE client", []string{"text/event-stream"}, false},
		{"MCP client", []string{"application/json, text/event-stream"}, false},
		{"upper case, spaces", []string{" TEXT/HTML ; Q=1 , APPLICATION/JSON;q=0.5"}, true},
		{"malformed q counts as 0", []string{"text/html;q=abc, */*;q=0.1"}, false},
		{"two Accept headers", []string{"application/json", "text/html"}, false},
		{"text/* is not html", []string{"text/*"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tt.accept {
				h.Add("Accept", v)
			}
			if got := prefersHTML(h); got != tt.html {
				t.Errorf("prefersHTML(%q) = %v, want %v", tt.accept, got, tt.html)
			}
		})
	}
}

func FuzzPrefersHTML(f *testing.F) {
	for _, s := range []string{"*/*", "text/html;q=0.1, application/json", "text/html,*/*;q=0.8", ";;,=q"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		prefersHTML(http.Header{"Accept": {accept}})
	})
}

// TestMCPAccepts pins the /mcp JSON-or-SSE decision that shares the Accept
// parser with prefersHTML: q values are ignored, as go-sdk ignores them.
func TestMCPAccepts(t *testing.T) {
	tests := []struct {
		accept    []string
		json, sse bool
	}{
		{nil, true, true},
		{[]string{"*/*"}, true, true},
		{[]string{"application/json"}, true, false},
		{[]string{"Application/JSON; charset=utf-8"}, true, false},
		{[]string{"text/event-stream"}, false, true},
		{[]string{"application/json", "text/event-stream"}, true, true},
		{[]string{"application/*, text/*"}, true, true},
		{[]string{"application/json;q=0"}, true, false},
		{[]string{"text/html"}, true, true},
		{[]string{" , ,"}, true, true},
	}
	for _, tt := range tests {
		h := http.Header{}
		for _, v := range tt.accept {
			h.Add("Accept", v)
		}
		if json, sse := MCPAccepts(h); json != tt.json || sse != tt.sse {
			t.Errorf("MCPAccepts(%q) = %v, %v; want %v, %v", tt.accept, json, sse, tt.json, tt.sse)
		}
	}
}
