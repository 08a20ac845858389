package sandbox

import (
	"errors"
	"net/http"
	"os"
	"path"
	"strings"
	"time"
)

func scriptFields() []field {
	return []field{
		{name: "interpreter", kind: kLiteral, required: true, lits: []string{"bash", "python3"}},
		{name: "content", kind: kStr, required: true},
		{name: "args", kind: kOptStrList},
		{name: "cwd", kind: kOptStr},
		{name: "timeout", kind: kInt},
		{name: "sudo", kind: kBool},
		{name: "cleanup", kind: kBool},
		{name: "filename", kind: kOptStr},
		{name: "env", kind: kOptStrMap},
	}
}

// scriptResult is the /script/run body, in the agent's key order.
type scriptResult struct {
	OK          bool     `json:"ok"`
	Interpreter string   `json:"interpreter"`
	Sudo        bool     `json:"sudo"`
	Cwd         *string  `json:"cwd"`
	Cleanup     bool     `json:"cleanup"`
	Command     []string `json:"command"`
	procResult
	ScriptPath string `json:"script_path,omitempty"`
	Workdir    string `json:"workdir,omitempty"`
}

// handleScriptRun writes the script into TMP/script_job_<hex>/ and runs
// the interpreter on it directly. "sudo" is shown in the command but not
// used: the sandbox never gains privileges. The environment is the
// sandbox's minimal one plus the caller's env, not the bridge's (the real
// agent would leak its own environment, token included).
func (a *Agent) handleScriptRun(w http.ResponseWriter, r *http.Request) {
	m, errs := parseModel(r, scriptFields())
	if errs != nil {
		write422(w, errs)
		return
	}
	content := m.str("content")
	timeout := m.integer("timeout", 60)
	switch {
	case strings.TrimSpace(content) == "":
		write422(w, modelError(m.body, "content es obligatorio"))
		return
	case timeout < 1 || timeout > 300:
		write422(w, modelError(m.body, "timeout debe estar entre 1 y 300 segundos"))
		return
	}
	if !a.authorize(w, r) {
		return
	}
	interp := m.str("interpreter")
	sudo, cleanup := m.boolean("sudo", false), m.boolean("cleanup", true)
	cwd := m.optStr("cwd")
	name := "script.sh"
	if interp == "python3" {
		name = "script.py"
	}
	if fn := m.optStr("filename"); fn != nil && *fn != "" {
		name = (*fn)[strings.LastIndex(*fn, "/")+1:]
	}
	if name == "." || name == ".." || name == "" {
		writeInternalError(w)
		return
	}
	if a.ensureUploadDirs() != nil {
		writeInternalError(w)
		return
	}
	job := virtualJoin(tmpBase, "script_job_"+newID())
	script := path.Join(job, name)
	if os.MkdirAll(a.sb.real(job), 0o755) != nil || os.WriteFile(a.sb.real(script), []byte(content), 0o700) != nil {
		writeInternalError(w)
		return
	}
	if cleanup {
		defer os.RemoveAll(a.sb.real(job))
	}
	command := []string{interp, script}
	if sudo {
		command = append([]string{"sudo"}, command...)
	}
	command = append(command, m.strList("args")...)

	res := a.runScript(r, interp, script, m.strList("args"), cwd, m, time.Duration(timeout)*time.Second)
	st := statusOK
	if res.ReturnCode != 0 {
		st = statusError
	}
	a.update("script:"+name, res.Output, st)
	out := scriptResult{OK: res.ReturnCode == 0, Interpreter: interp, Sudo: sudo, Cwd: cwd, Cleanup: cleanup,
		Command: command, procResult: res}
	if !cleanup {
		out.ScriptPath, out.Workdir = script, job
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *Agent) runScript(r *http.Request, interp, script string, args []string, cwd *string, m *model, timeout time.Duration) procResult {
	if a.noScripts {
		return procResult{Output: "sandbox: /script/run is disabled in this agent", ReturnCode: 126}
	}
	dir := a.sb.real(workDir)
	if cwd != nil {
		real, err := a.sb.resolve(*cwd)
		if err == nil {
			var st os.FileInfo
			st, err = os.Stat(real)
			if err == nil && !st.IsDir() {
				err = errors.New("not a directory")
			}
		}
		if err != nil {
			return procResult{Output: "❌ Error: [Errno 2] No such file or directory: '" + *cwd + "'", ReturnCode: -1}
		}
		dir = real
	}
	bin := a.bash
	if interp == "python3" {
		bin = a.python
	}
	env := a.baseEnv()
	vars, keys := m.strMap("env")
	for _, k := range keys {
		env = append(env, k+"="+vars[k])
	}
	argv := append([]string{bin, a.sb.real(script)}, args...)
	return a.runArgv(r.Context(), argv, dir, env, timeout)
}
