package fleet_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pensados/sentinelx-mcp/upstream/fleet"
)

func selectRegistry(t *testing.T) *fleet.Registry {
	t.Helper()
	const u = "http://127.0.0.1:1"
	r, err := fleet.Parse([]byte(hostsYAML(
		[4]string{"web-2", u, "t", "role: web, env: prod"},
		[4]string{"web-1", u, "t", "role: web, env: prod, canary: yes"},
		[4]string{"web-3", u, "t", "role: web, env: staging"},
		[4]string{"db-1", u, "t", "role: db, env: prod"},
		[4]string{"bastion", u, "t", ""},
	)), fleet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSelect(t *testing.T) {
	t.Parallel()
	r := selectRegistry(t)
	tests := []struct {
		patterns []string
		selector string
		want     string // names joined by ",", or "error: <substring>"
	}{
		{[]string{"web-2"}, "", "web-2"},
		{[]string{"web-*"}, "", "web-1,web-2,web-3"},
		{[]string{"web-?", "web-1", "db-1"}, "", "db-1,web-1,web-2,web-3"},
		{[]string{"web-[12]"}, "", "web-1,web-2"},
		{nil, "role=web,env=prod", "web-1,web-2"},
		{nil, " role = web , env!=prod ", "web-3"},
		{nil, "env!=prod", "bastion,web-3"},
		{nil, "canary", "web-1"},
		{nil, "!role", "bastion"},
		{[]string{"*"}, "env=prod", "db-1,web-1,web-2"},
		{[]string{"web-*"}, "env=prod,!canary", "web-2"},
		{nil, "", "error: no hosts chosen"},
		{[]string{"web-9"}, "", `error: unknown host "web-9"; hosts: bastion, db-1, web-1, web-2, web-3`},
		{[]string{"web-*", "mail"}, "role=web", `error: unknown host "mail"`},
		{[]string{""}, "", "error: empty host name"},
		{[]string{"web-["}, "", `error: host pattern "web-[" is not a valid glob (syntax error in pattern)`},
		{[]string{"mail-*"}, "", `error: no host matches hosts ["mail-*"]`},
		{nil, "role=mail", `error: no host matches selector "role=mail"`},
		{[]string{"db-*"}, "role=web", `error: no host matches hosts ["db-*"] and selector "role=web"`},
		{nil, "role=web,,env=prod", `error: selector "role=web,,env=prod": term 2 "": empty`},
		{nil, "role==web", `error: selector "role==web": term 1 "role==web": value "=web"`},
		{nil, "ro le=web", `error: term 1 "ro le=web": key "ro le": want 1 to 63`},
		{nil, "role=", `error: term 1 "role=": value "": want`},
		{nil, "=web", `error: term 1 "=web": key "": want`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q %q", tt.patterns, tt.selector), func(t *testing.T) {
			t.Parallel()
			hosts, err := r.Select(tt.patterns, tt.selector)
			if want, isErr := strings.CutPrefix(tt.want, "error: "); isErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("err = %v, want %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, h := range hosts {
				names = append(names, h.Name)
			}
			if got := strings.Join(names, ","); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// TestUnknownHostListIsBounded: a registry of hundreds of hosts does not
// put every name into one error message.
func TestUnknownHostListIsBounded(t *testing.T) {
	t.Parallel()
	var entries [][4]string
	for i := range 120 {
		entries = append(entries, [4]string{fmt.Sprintf("h%03d", i), "http://127.0.0.1:1", "t", ""})
	}
	r, err := fleet.Parse([]byte(hostsYAML(entries...)), fleet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Select([]string{"nope"}, "")
	if err == nil || !strings.HasSuffix(err.Error(), "h048, h049 and 70 more") {
		t.Errorf("err = %v", err)
	}
}

func TestSelectorString(t *testing.T) {
	t.Parallel()
	s, err := fleet.ParseSelector(" role = web,env!=prod, canary ,!legacy")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.String(); got != "role=web,env!=prod,canary,!legacy" {
		t.Errorf("String() = %q", got)
	}
	if !s.Matches(map[string]string{"role": "web", "canary": ""}) || s.Matches(map[string]string{"role": "web", "canary": "x", "legacy": "1"}) {
		t.Error("Matches disagrees with the terms")
	}
	if _, err := fleet.ParseSelector(" "); err == nil {
		t.Error("blank selector accepted")
	}
	if !slices.Equal(strings.Split(fleet.Selector{}.String(), ","), []string{""}) || !(fleet.Selector{}).Matches(nil) {
		t.Error("zero Selector should print empty and match everything")
	}
}

// TestSelectBounds: a hostile hosts argument (many long globs) is refused
// before any matching, and repeated patterns are matched once.
func TestSelectBounds(t *testing.T) {
	t.Parallel()
	r := selectRegistry(t)
	many := make([]string, fleet.MaxPatterns+1)
	for i := range many {
		many[i] = "web-*"
	}
	for _, tc := range []struct {
		patterns []string
		selector string
		want     string
	}{
		{many, "", "at most 64"},
		{[]string{strings.Repeat("*a", 32)}, "", "characters; at most 63"},
		{nil, strings.Repeat("a", 513), "at most 512"},
	} {
		if _, err := r.Select(tc.patterns, tc.selector); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want %q", err, tc.want)
		}
	}
	hs, err := r.Select(many[:fleet.MaxPatterns], "")
	if err != nil || len(hs) != 3 {
		t.Errorf("64 copies of web-*: %d hosts, %v", len(hs), err)
	}
	_, err = r.Select([]string{"x*1", "x*2", "x*3", "x*4", "x*5", "x*6", "x*7"}, "")
	if err == nil || !strings.Contains(err.Error(), "and 2 more") {
		t.Errorf("long no-match error: %v", err)
	}
}
