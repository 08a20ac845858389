package sandbox

import (
	"fmt"
	"time"
	"unicode/utf8"
)

// runtimeState is the agent's context object behind GET /state
// (UPSTREAM.md §3.4 and §4.1).
type runtimeState struct {
	lastCommand, lastOutput, lastStatus, lastUpdate *string
	total, blocked, errors                          int
}

// Status values written by update.
const (
	statusOK      = "ok"
	statusBlocked = "blocked"
	statusError   = "error"
)

// stateJSON is the /state body, in the agent's key order.
type stateJSON struct {
	Uptime          string  `json:"uptime"`
	LastCommand     *string `json:"last_command"`
	LastOutput      *string `json:"last_output"`
	LastStatus      *string `json:"last_status"`
	LastUpdate      *string `json:"last_update"`
	TotalExecutions int     `json:"total_executions"`
	BlockedCount    int     `json:"blocked_count"`
	ErrorCount      int     `json:"error_count"`
}

// update is the agent's context.update(key, output, status).
func (a *Agent) update(key, output, status string) {
	out := truncateRunes(output, 200)
	ts := a.now().Format(time.DateTime)
	a.mu.Lock()
	defer a.mu.Unlock()
	s := &a.state
	s.lastCommand, s.lastOutput, s.lastStatus, s.lastUpdate = &key, &out, &status, &ts
	s.total++
	switch status {
	case statusBlocked:
		s.blocked++
	case statusError:
		s.errors++
	}
}

func (a *Agent) snapshot() stateJSON {
	up := pyTimedelta(a.now().Sub(a.started))
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.state
	return stateJSON{
		Uptime:          up,
		LastCommand:     s.lastCommand,
		LastOutput:      s.lastOutput,
		LastStatus:      s.lastStatus,
		LastUpdate:      s.lastUpdate,
		TotalExecutions: s.total,
		BlockedCount:    s.blocked,
		ErrorCount:      s.errors,
	}
}

// pyTimedelta formats like Python's str(timedelta) without microseconds:
// "0:05:12", "1 day, 2:03:04", "3 days, 0:00:09".
func pyTimedelta(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	secs := int64(d / time.Second)
	days := secs / 86400
	secs %= 86400
	hms := fmt.Sprintf("%d:%02d:%02d", secs/3600, secs%3600/60, secs%60)
	switch days {
	case 0:
		return hms
	case 1:
		return "1 day, " + hms
	}
	return fmt.Sprintf("%d days, %s", days, hms)
}

// truncateRunes is Python's s[:n] (code points, not bytes).
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}
