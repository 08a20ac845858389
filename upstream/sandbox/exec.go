package sandbox

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// capabilitiesJSON is GET /capabilities exactly as the real agent sent it
// (capture 02). Paths in it are virtual and so already right.
//
//go:embed capabilities.json
var capabilitiesJSON []byte

// service is one registry entry (UPSTREAM.md §4.2) plus simulated state.
type service struct {
	unit        string
	actions     []string
	description string
	running     bool
	since       time.Time
	pid         int
}

func newRegistry(now time.Time) map[string]*service {
	return map[string]*service{
		"sentinelx": {unit: "sentinelx.service", actions: []string{"status", "start", "stop", "restart"},
			description: "SentinelX agent service", running: true, since: now, pid: 812},
		"nginx": {unit: "nginx", actions: []string{"status", "start", "stop", "restart", "reload", "validate"},
			description: "Nginx reverse proxy", running: true, since: now, pid: 1041},
		"docker": {unit: "docker", actions: []string{"status", "start", "stop", "restart"},
			description: "Docker daemon", running: true, since: now, pid: 977},
	}
}

// actionCommand is the registry's action_commands mapping.
func (s *service) actionCommand(action string) string {
	switch action {
	case "status":
		return "systemctl status " + s.unit
	case "validate":
		return "sudo nginx -t"
	}
	return "sudo systemctl " + action + " " + s.unit
}

func (a *Agent) handleCapabilities(w http.ResponseWriter, r *http.Request) {
	if !a.authorize(w, r) {
		return
	}
	body := capabilitiesJSON
	if a.maxUpload != DefaultMaxUploadBytes {
		body = []byte(strings.Replace(string(body), `"max_upload_bytes":10737418240`,
			`"max_upload_bytes":`+strconv.FormatInt(a.maxUpload, 10), 1))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

func (a *Agent) handleExec(w http.ResponseWriter, r *http.Request) {
	if !a.authorize(w, r) {
		return
	}
	obj, ok := readObject(r)
	if !ok {
		writeInternalError(w)
		return
	}
	raw := obj["cmd"]
	if raw == nil || !truthy(raw) {
		writeDetail(w, http.StatusBadRequest, "Missing command")
		return
	}
	var cmd string
	if json.Unmarshal(raw, &cmd) != nil {
		writeInternalError(w) // the agent calls str methods on it
		return
	}
	if !a.prefixAllowed(cmd) {
		a.update(cmd, "blocked", statusBlocked)
		writeJSON(w, http.StatusOK, softError{Error: "Command not allowed: " + cmd})
		return
	}
	res := a.runSandboxed(r.Context(), cmd)
	a.update(cmd, res.Output, statusOK)
	writeJSON(w, http.StatusOK, res)
}

// prefixAllowed is the agent's raw string-prefix check (UPSTREAM.md §4.3):
// no trimming and no word boundary, so "lsblk" passes as "ls".
func (a *Agent) prefixAllowed(cmd string) bool {
	for _, p := range a.allowed {
		if strings.HasPrefix(cmd, p) {
			return true
		}
	}
	return false
}

// serviceResult is the /service success body, in the agent's key order.
type serviceResult struct {
	procResult
	OK      bool   `json:"ok"`
	Service string `json:"service"`
	Action  string `json:"action"`
	Command string `json:"command"`
}

func (a *Agent) handleService(w http.ResponseWriter, r *http.Request) {
	if !a.authorize(w, r) {
		return
	}
	obj, ok := readObject(r)
	if !ok {
		writeInternalError(w)
		return
	}
	if !truthy(obj["service"]) {
		writeDetail(w, http.StatusBadRequest, "Missing service")
		return
	}
	if !truthy(obj["action"]) {
		writeDetail(w, http.StatusBadRequest, "Missing action")
		return
	}
	name, rawAction := pyStr(obj["service"]), pyStr(obj["action"])
	key := name + ":" + rawAction
	var svcName string
	svc := (*service)(nil)
	if json.Unmarshal(obj["service"], &svcName) == nil {
		svc = a.services[svcName]
	}
	if svc == nil {
		a.update(key, "blocked", statusBlocked)
		writeJSON(w, http.StatusOK, softError{Error: "Service not allowed: " + name, Status: statusBlocked})
		return
	}
	var action string
	if json.Unmarshal(obj["action"], &action) != nil {
		writeInternalError(w) // .strip() on a non-string
		return
	}
	action = strings.TrimSpace(action)
	if action == "" {
		a.update(key, "blocked", statusBlocked)
		writeJSON(w, http.StatusOK, softError{Error: "Missing action", Status: statusBlocked})
		return
	}
	if !contains(svc.actions, action) {
		a.update(key, "blocked", statusBlocked)
		writeJSON(w, http.StatusOK, softError{Error: fmt.Sprintf("Action not allowed for %s: %s", name, action),
			Status: statusBlocked, AllowedActions: svc.actions})
		return
	}
	start := time.Now()
	out, code := a.simulateService(svcName, svc, action)
	res := procResult{Output: out, Duration: roundDuration(time.Since(start)), ReturnCode: code}
	a.update(key, res.Output, statusOK)
	writeJSON(w, http.StatusOK, serviceResult{procResult: res, OK: code == 0, Service: name, Action: action,
		Command: svc.actionCommand(action)})
}

// simulateService makes up plausible systemctl/nginx output and keeps the
// running state, so status reflects earlier start/stop calls.
func (a *Agent) simulateService(name string, svc *service, action string) (string, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	switch action {
	case "status":
		active := fmt.Sprintf("active (running) since %s; %s ago", svc.since.Format("Mon 2006-01-02 15:04:05 MST"),
			pyTimedelta(now.Sub(svc.since)))
		code := 0
		if !svc.running {
			active, code = "inactive (dead)", 3
		}
		out := fmt.Sprintf("● %s - %s\n     Loaded: loaded (/lib/systemd/system/%s; enabled; preset: enabled)\n     Active: %s",
			unitName(svc.unit), svc.description, unitName(svc.unit), active)
		if svc.running {
			out += fmt.Sprintf("\n   Main PID: %d (%s)", svc.pid, name)
		}
		return out, code
	case "validate":
		return "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\n" +
			"nginx: configuration file /etc/nginx/nginx.conf test is successful", 0
	case "reload":
		if !svc.running {
			return unitName(svc.unit) + " is not active, cannot reload.", 1
		}
	case "start", "restart":
		if !svc.running || action == "restart" {
			svc.since = now
			svc.pid++
		}
		svc.running = true
	case "stop":
		svc.running = false
	}
	return outNone, 0
}

func unitName(unit string) string {
	if strings.Contains(unit, ".") {
		return unit
	}
	return unit + ".service"
}

func (a *Agent) handleRestart(w http.ResponseWriter, r *http.Request) {
	if !a.authorize(w, r) {
		return
	}
	obj, ok := readObject(r)
	if !ok {
		writeInternalError(w)
		return
	}
	if !truthy(obj["service"]) {
		writeDetail(w, http.StatusBadRequest, "Missing service")
		return
	}
	name := pyStr(obj["service"])
	var svcName string
	var svc *service
	if json.Unmarshal(obj["service"], &svcName) == nil {
		svc = a.services[svcName]
	}
	if svc == nil {
		a.update(name, "blocked", statusBlocked)
		writeJSON(w, http.StatusOK, softError{Error: "Service not allowed: " + name})
		return
	}
	a.simulateService(svcName, svc, "restart")
	msg := name + " restart triggered"
	a.update(name, msg, statusOK)
	writeJSON(w, http.StatusOK, struct {
		OK      bool   `json:"ok"`
		Service string `json:"service"`
		Message string `json:"message"`
	}{true, name, msg})
}
