package policy

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"sync"
)

// The agent runs sentinel_exec's cmd through `bash -lc` after a raw
// string-prefix check of its own, so "systemctl status nginx; rm -rf /"
// and "nginx -t -c /tmp/evil.conf" both pass it. commandIn matches the
// whole command line instead: the words bash will pass to the program,
// each against one word of an operator's pattern.

// shellSpecial are the characters that let one `bash -lc` string run more
// than one command or read/write files of its choosing: separators, pipes,
// substitutions, redirections, subshells.
const shellSpecial = ";&|`$<>()\n\r\x00"

// shellExpanding are the characters that make bash's words differ from a
// split on blanks: quotes and escapes (join or split words), braces and
// globs (one word becomes many), ~ (a home directory), # (drops the
// rest), ! (negation, history). A command holding any of them is not
// matched: a pattern could not tell which argv it stands for.
const shellExpanding = "'\"\\{}~*?[]#!"

// splitCommand returns cmd's words when cmd is one simple command whose
// words bash takes literally: none of the characters above, no other
// control character, and no leading NAME=value (an environment
// assignment, e.g. LD_PRELOAD=…). Words are split on spaces and tabs,
// as bash does; other Unicode spaces stay inside words, as in bash.
func splitCommand(cmd string) ([]string, bool) {
	if strings.ContainsAny(cmd, shellSpecial+shellExpanding) {
		return nil, false
	}
	for i := 0; i < len(cmd); i++ {
		if c := cmd[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return nil, false
		}
	}
	words := strings.FieldsFunc(cmd, func(r rune) bool { return r == ' ' || r == '\t' })
	if len(words) == 0 || strings.Contains(words[0], "=") {
		return nil, false
	}
	return words, true
}

// argvPattern is one commandIn entry: a whole command line, word by word.
type argvPattern []wordPattern

// wordPattern matches one word: literally, as a /regular expression/
// (a full match), or as a glob (path.Match: * does not cross /).
type wordPattern struct {
	lit  string
	re   *regexp.Regexp
	glob string
}

// compileArgv builds a pattern from its words. The first word, the
// program, must be literal: a regex or glob there could match bash
// keywords and builtins (exec, eval, command, coproc).
func compileArgv(words []string) (argvPattern, error) {
	if len(words) == 0 {
		return nil, errors.New("empty command pattern")
	}
	out := make(argvPattern, 0, len(words))
	for i, w := range words {
		var wp wordPattern
		switch {
		case len(w) >= 3 && w[0] == '/' && w[len(w)-1] == '/':
			re, err := regexp.Compile(`^(?:` + w[1:len(w)-1] + `)$`)
			if err != nil {
				return nil, fmt.Errorf("word %q: %v", w, err)
			}
			wp.re = re
		case strings.ContainsAny(w, "*?["):
			if _, err := path.Match(w, ""); err != nil {
				return nil, fmt.Errorf("word %q: bad glob", w)
			}
			wp.glob = w
		default:
			if strings.ContainsAny(w, shellSpecial+shellExpanding) {
				return nil, fmt.Errorf("word %q holds shell operators or quoting and can never match", w)
			}
			wp.lit = w
		}
		if i == 0 && wp.lit == "" {
			return nil, fmt.Errorf("the program %q must be a literal word, not a pattern", w)
		}
		out = append(out, wp)
	}
	return out, nil
}

// match reports whether argv has exactly the pattern's words. A word that
// looks like a path must be canonical to match a regex or a glob, so that
// "/var/log/nginx/*.log" or "/^\/var\/log\/.*$/" cannot be left with "..".
func (p argvPattern) match(argv []string) bool {
	if len(argv) != len(p) {
		return false
	}
	for i, w := range argv {
		wp := p[i]
		switch {
		case wp.re != nil:
			if !wp.re.MatchString(w) {
				return false
			}
		case wp.glob != "":
			if ok, _ := path.Match(wp.glob, w); !ok {
				return false
			}
		default:
			if w != wp.lit {
				return false
			}
			continue
		}
		if strings.Contains(w, "/") && PathProblem(w) != "" {
			return false
		}
	}
	return true
}

// patternCache keeps compiled commandIn entries: they come from rule
// literals (a bounded set), so each is compiled once per policy load. An
// entry built at run time (from a claim) beyond the bound is compiled and
// not kept.
type patternCache struct {
	mu sync.Mutex
	m  map[string]argvPattern
}

const patternCacheMax = 4096

func (c *patternCache) get(words []string) (argvPattern, error) {
	key := strings.Join(words, "\x00")
	c.mu.Lock()
	p, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := compileArgv(words)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]argvPattern{}
	}
	if len(c.m) < patternCacheMax {
		c.m[key] = p
	}
	c.mu.Unlock()
	return p, nil
}
