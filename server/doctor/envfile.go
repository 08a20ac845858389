package doctor

import (
	"bufio"
	"bytes"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/pensados/sentinelx-mcp/server"
)

// ReadEnvFile parses an env file the way systemd's EnvironmentFile= reads
// the one the unit names: KEY=VALUE lines, # and ; comments, blank lines,
// a value optionally wrapped in single or double quotes. It is bounded to
// 1 MiB. Errors name the line, never its value (it may be a secret).
func ReadEnvFile(path string) (map[string]string, error) {
	data, err := readBounded(path, 1<<20)
	if err != nil {
		return nil, err
	}
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || !validName(key) {
			return nil, fmt.Errorf("%s line %d: want KEY=VALUE", path, n)
		}
		val = strings.TrimSpace(val)
		if len(val) >= 2 && (val[0] == '"' || val[0] == '\'') && val[len(val)-1] == val[0] {
			val = val[1 : len(val)-1]
		}
		vars[key] = val
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return vars, nil
}

func validName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// Unknown returns the names in vars that sentinelx-mcp does not read,
// sorted: in an env file they are usually typos of a real variable.
func Unknown(vars map[string]string) []string {
	known := map[string]bool{
		// read outside server.Config: the token alias, the Go runtime, systemd.
		"SENTINEL_TOKEN": true, "GOGC": true, "GOMEMLIMIT": true, "GODEBUG": true, "GOMAXPROCS": true,
		"NOTIFY_SOCKET": true, "SSL_CERT_FILE": true, "SSL_CERT_DIR": true, "TZ": true,
		"HTTP_PROXY": true, "HTTPS_PROXY": true, "NO_PROXY": true,
	}
	t := reflect.TypeFor[server.Config]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("env"), ",")
		known[name] = true
	}
	var out []string
	for k := range vars {
		if !known[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
