package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// editParams is what the agent passes to sentinelx-safe-edit (§5).
type editParams struct {
	path                            string // as the client sent it
	mode                            string
	old, newText                    *string
	pattern, startMarker, endMarker *string
	count                           int
	multiline, dotall, escapes      bool
	backupDir, validator, preset    *string
	diff, dryRun, allowNoChange     bool
	create                          bool
}

// safeEdit reimplements the helper in Go on sandbox files and returns its
// stdout, stderr and exit code. Paths are virtual: relative ones are taken
// from the agent's working directory, absolute ones are mapped into the
// sandbox, and anything resolving outside it is refused.
func (a *Agent) safeEdit(ctx context.Context, p editParams) (stdout, stderr string, code int) {
	target, err := a.sb.resolve(p.path)
	if err != nil {
		return "", "ERROR: fallo editando archivo: " + p.path + ": ruta fuera del sandbox", 5
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return "", "ERROR: fallo editando archivo: " + a.sb.hide(err.Error()), 5
	}
	var original string
	info, statErr := os.Stat(target)
	existed := statErr == nil
	switch {
	case existed && info.IsDir():
		return "", fmt.Sprintf("Traceback (most recent call last):\nIsADirectoryError: [Errno 21] Is a directory: '%s'", p.path), 1
	case existed:
		b, err := os.ReadFile(target)
		if err != nil {
			return "", "ERROR: fallo editando archivo: " + a.sb.hide(err.Error()), 5
		}
		if !utf8.Valid(b) {
			return "", "Traceback (most recent call last):\nUnicodeDecodeError: 'utf-8' codec can't decode the file: invalid UTF-8", 1
		}
		original = universalNewlines(string(b))
	case !p.create:
		return "", "ERROR: el archivo no existe; usa --create para crearlo", 2
	}

	unesc := func(s *string) string {
		if s == nil {
			return ""
		}
		if p.escapes {
			return interpretEscapes(*s)
		}
		return *s
	}
	oldText, newText := unesc(p.old), unesc(p.newText)

	updated, changes, msg, rc := applyEdit(p, original, oldText, newText)
	if rc != 0 {
		return "", msg, rc
	}
	if updated == original && !p.allowNoChange {
		return "", "ERROR: no hubo cambios efectivos", 3
	}

	// The helper writes the candidate next to the target (mkstemp), diffs
	// and validates it, then renames it into place.
	tmp := target + "." + randomSuffix()
	if err := os.WriteFile(tmp, []byte(updated), 0o644); err != nil {
		return "", "ERROR: fallo editando archivo: " + a.sb.hide(err.Error()), 5
	}
	defer os.Remove(tmp)
	var out strings.Builder
	if p.diff {
		stamp := a.now()
		if existed {
			stamp = info.ModTime()
		}
		ts := stamp.Format("2006-01-02 15:04:05.000000000 -0700")
		out.WriteString(unifiedDiff(original, updated, p.path+"\t"+ts, a.sb.virtual(tmp)+"\t"+ts))
		out.WriteString("\n")
	}
	validatorLine := ""
	if p.validator != nil || p.preset != nil {
		line, vout, ok := a.validate(ctx, p, tmp)
		if !ok {
			return out.String(), strings.TrimSpace("ERROR: validacion fallida\n" + vout), 4
		}
		validatorLine = "VALIDATOR: " + line + "\n"
	}
	if p.dryRun {
		fmt.Fprintf(&out, "DRY-RUN: cambio simulado sobre %s\nCHANGES: %d\n%s", p.path, changes, validatorLine)
		return out.String(), "", 0
	}
	backupShown, backupReal, err := a.backupPath(p)
	if err != nil {
		return out.String(), "ERROR: fallo editando archivo: " + err.Error(), 5
	}
	if existed {
		b, _ := os.ReadFile(target)
		if err := os.WriteFile(backupReal, b, info.Mode().Perm()); err != nil {
			return out.String(), "ERROR: fallo editando archivo: " + a.sb.hide(err.Error()), 5
		}
	}
	if err := os.Rename(tmp, target); err != nil {
		return out.String(), "ERROR: fallo editando archivo: " + a.sb.hide(err.Error()), 5
	}
	fmt.Fprintf(&out, "OK: editado %s\nBACKUP: %s\nCHANGES: %d\n%s", p.path, backupShown, changes, validatorLine)
	return out.String(), "", 0
}

// applyEdit performs the mode's text transformation.
func applyEdit(p editParams, original, oldText, newText string) (string, int, string, int) {
	switch p.mode {
	case "replace":
		n := strings.Count(original, oldText)
		if oldText == "" || n == 0 {
			return "", 0, "ERROR: Texto objetivo no encontrado", 2
		}
		if p.count > 0 {
			if n < p.count {
				return "", 0, fmt.Sprintf("ERROR: Coincidencias insuficientes: %d < %d", n, p.count), 2
			}
			return strings.Replace(original, oldText, newText, p.count), p.count, "", 0
		}
		return strings.ReplaceAll(original, oldText, newText), n, "", 0
	case "regex":
		return regexEdit(p, original, newText)
	case "replace-block":
		start, end := deref(p.startMarker), deref(p.endMarker)
		i := strings.Index(original, start)
		if i < 0 {
			return "", 0, "ERROR: Marcador de inicio no encontrado", 2
		}
		j := strings.Index(original[i+len(start):], end)
		if j < 0 {
			return "", 0, "ERROR: Marcador de fin no encontrado", 2
		}
		stop := i + len(start) + j + len(end)
		return original[:i] + newText + original[stop:], 1, "", 0
	case "append", "prepend":
		changes := 0
		if newText != "" {
			changes = 1
		}
		if p.mode == "append" {
			return original + newText, changes, "", 0
		}
		return newText + original, changes, "", 0
	case "write":
		return newText, 1, "", 0
	}
	return "", 0, "ERROR: modo no soportado: " + p.mode, 1
}

// regexEdit is re.subn with Python syntax mapped onto Go's RE2; patterns
// RE2 cannot express fail like a bad Python regex (exit 1).
func regexEdit(p editParams, original, repl string) (string, int, string, int) {
	flags := ""
	if p.multiline {
		flags += "m"
	}
	if p.dotall {
		flags += "s"
	}
	pat := deref(p.pattern)
	if flags != "" {
		pat = "(?" + flags + ")" + pat
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return "", 0, "Traceback (most recent call last):\nre.error: " + err.Error(), 1
	}
	n := -1
	if p.count > 0 {
		n = p.count
	}
	matches := re.FindAllStringSubmatchIndex(original, n)
	if len(matches) == 0 {
		return "", 0, "ERROR: Regex no encontró coincidencias", 2
	}
	tmpl := pythonTemplate(repl)
	var out []byte
	last := 0
	for _, m := range matches {
		out = append(out, original[last:m[0]]...)
		out = re.ExpandString(out, tmpl, original, m)
		last = m[1]
	}
	out = append(out, original[last:]...)
	return string(out), len(matches), "", 0
}

// pythonTemplate converts re.sub's replacement syntax (\1, \g<name>, \n)
// into regexp.Expand's (${1}, ${name}).
func pythonTemplate(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '$':
			b.WriteString("$$")
		case c == '\\' && i+1 < len(s):
			n := s[i+1]
			switch {
			case n >= '0' && n <= '9':
				j := i + 1
				for j < len(s) && j < i+3 && s[j] >= '0' && s[j] <= '9' {
					j++
				}
				b.WriteString("${" + s[i+1:j] + "}")
				i = j - 1
			case n == 'g' && i+2 < len(s) && s[i+2] == '<':
				if end := strings.IndexByte(s[i+3:], '>'); end >= 0 {
					b.WriteString("${" + s[i+3:i+3+end] + "}")
					i += 3 + end
					continue
				}
				b.WriteByte(c)
			case n == 'n':
				b.WriteByte('\n')
				i++
			case n == 't':
				b.WriteByte('\t')
				i++
			case n == '\\':
				b.WriteByte('\\')
				i++
			default:
				b.WriteByte(c)
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// interpretEscapes is the helper's --interpret-escapes (Python
// unicode_escape for the common escapes).
func interpretEscapes(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	q := strings.ReplaceAll(s, `"`, `\"`)
	if u, err := strconv.Unquote(`"` + q + `"`); err == nil {
		return u
	}
	r := strings.NewReplacer(`\n`, "\n", `\t`, "\t", `\r`, "\r", `\\`, `\`)
	return r.Replace(s)
}

// universalNewlines is Python text-mode reading: CRLF and CR become LF.
func universalNewlines(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}

// backupPath returns the backup name as the helper prints it (relative to
// what the client sent) and the real file to write.
func (a *Agent) backupPath(p editParams) (shown, real string, err error) {
	name := path.Base(p.path) + ".bak." + a.now().Format("20060102-150405") + fmt.Sprintf("-%06d", a.now().Nanosecond()/1000)
	dir := path.Dir(p.path)
	if p.backupDir != nil {
		dir = *p.backupDir
	}
	shown = name
	if dir != "." && dir != "" {
		shown = path.Join(dir, name)
	}
	realDir, err := a.sb.resolve(dir)
	if err != nil {
		return "", "", fmt.Errorf("%s: ruta fuera del sandbox", dir)
	}
	if err := os.MkdirAll(realDir, 0o755); err != nil {
		return "", "", fmt.Errorf("%s", a.sb.hide(err.Error()))
	}
	return shown, filepath.Join(realDir, name), nil
}

// validate runs a validator preset without a shell. Custom validators are
// shell commands on the real agent and are refused here.
func (a *Agent) validate(ctx context.Context, p editParams, tmp string) (line, output string, ok bool) {
	vt := shellQuote(a.sb.virtual(tmp))
	if p.validator != nil {
		cmd := strings.ReplaceAll(*p.validator, "{file}", a.sb.virtual(tmp))
		return cmd, "sandbox: custom validators run through a shell and are not available here; use validator_preset", false
	}
	switch deref(p.preset) {
	case "nginx":
		return "sudo nginx -t -c /etc/nginx/nginx.conf", "", true
	case "json":
		b, _ := os.ReadFile(tmp)
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			return "", err.Error(), false
		}
		return "python3 -m json.tool " + vt + " > /dev/null", "", true
	case "python":
		res := a.runArgv(ctx, []string{a.python, "-m", "py_compile", tmp}, filepath.Dir(tmp), a.baseEnv(), execTimeout)
		return "python3 -m py_compile " + vt, res.Output, res.ReturnCode == 0
	case "sh":
		res := a.runArgv(ctx, []string{a.bash, "-n", tmp}, filepath.Dir(tmp), a.baseEnv(), execTimeout)
		return "bash -n " + vt, res.Output, res.ReturnCode == 0
	case "systemd":
		return "systemd-analyze verify " + vt, "", true
	case "yaml":
		return `python3 -c "import sys,yaml; yaml.safe_load(open(sys.argv[1]))" ` + vt, "", true
	}
	return "", "unknown preset", false
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./-_") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// randomSuffix is mkstemp's 8 random lowercase/digit characters.
func randomSuffix() string {
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789_"
	var b [8]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b[:])
}

// helperArgv is the command the agent reports (§5 argv order).
func (a *Agent) helperArgv(p editParams, sudo bool, oldFile, newFile string) []string {
	var argv []string
	if sudo {
		argv = append(argv, "sudo")
	}
	argv = append(argv, a.helper, p.path, "--mode", p.mode)
	add := func(flag string, v *string) {
		if v != nil && *v != "" {
			argv = append(argv, flag, *v)
		}
	}
	if oldFile != "" {
		argv = append(argv, "--old-file", oldFile)
	}
	if newFile != "" {
		argv = append(argv, "--new-file", newFile)
	}
	add("--pattern", p.pattern)
	add("--start-marker", p.startMarker)
	add("--end-marker", p.endMarker)
	if p.count != 0 {
		argv = append(argv, "--count", strconv.Itoa(p.count))
	}
	for _, f := range []struct {
		on   bool
		flag string
	}{{p.multiline, "--multiline"}, {p.dotall, "--dotall"}, {p.escapes, "--interpret-escapes"}} {
		if f.on {
			argv = append(argv, f.flag)
		}
	}
	add("--backup-dir", p.backupDir)
	add("--validator", p.validator)
	add("--validator-preset", p.preset)
	for _, f := range []struct {
		on   bool
		flag string
	}{{p.diff, "--diff"}, {p.dryRun, "--dry-run"}, {p.allowNoChange, "--allow-no-change"}, {p.create, "--create"}} {
		if f.on {
			argv = append(argv, f.flag)
		}
	}
	return argv
}

// runHelper wraps safeEdit in the agent's process-result conventions.
func (a *Agent) runHelper(ctx context.Context, p editParams) procResult {
	start := time.Now()
	a.editMu.Lock()
	stdout, stderr, code := a.safeEdit(ctx, p)
	a.editMu.Unlock()
	return procResult{Output: a.sb.hide(buildOutput(stdout, stderr)), Duration: roundDuration(time.Since(start)), ReturnCode: code}
}

// lookInterpreter finds bash/python3, preferring system locations so
// version-manager shims (which need their own environment) are avoided.
func lookInterpreter(name string) string {
	for _, dir := range []string{"/usr/bin", "/bin", "/usr/local/bin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return name
}
