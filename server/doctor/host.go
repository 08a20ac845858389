package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pensados/sentinelx-mcp/tools/policy"
	"github.com/pensados/sentinelx-mcp/upstream"
)

// checkAgent makes the call /readyz makes (GET /state with the token).
// The agent has no /health route (docs/UPSTREAM.md), so /state is the
// cheapest authenticated call it answers.
func (r *run) checkAgent(ctx context.Context) Check {
	c := Check{Name: "agent"}
	up, err := r.newUpstream()
	if err != nil {
		c.Status, c.Detail = StatusFail, err.Error()
		return c
	}
	d, err := up.Probe(ctx)
	if err == nil {
		c.Status, c.Detail = StatusPass, fmt.Sprintf("%s answers GET /state with SENTINELX_TOKEN (%s) in %s", r.cfg.UpstreamURL, Fingerprint(r.cfg.UpstreamToken), d.Round(time.Millisecond))
		return c
	}
	c.Status, c.Detail = StatusFail, err.Error()
	var ue *upstream.Error
	switch {
	case errors.As(err, &ue) && (ue.Status == http.StatusUnauthorized || ue.Status == http.StatusForbidden):
		c.Fix = "the agent refused SENTINELX_TOKEN (" + Fingerprint(r.cfg.UpstreamToken) + "): copy the token from the agent's configuration"
	case errors.As(err, &ue) && (ue.Kind == upstream.KindUnreachable || ue.Kind == upstream.KindTimeout):
		c.Fix = "start the SentinelX Core agent, or correct SENTINELX_URL"
	default:
		c.Fix = "check SENTINELX_URL points at a SentinelX Core agent"
	}
	return c
}

// checkAgentRefusesAnonymous makes the same call without the token: an
// agent that answers it lets anyone who reaches it administer the host.
func (r *run) checkAgentRefusesAnonymous(ctx context.Context) Check {
	c := Check{Name: "agent refuses anonymous"}
	u := strings.TrimSuffix(r.cfg.UpstreamURL, "/") + "/state"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		c.Status, c.Detail = StatusFail, err.Error()
		return c
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		c.Status, c.Detail = StatusSkip, "agent not reachable: "+shortErr(err)
		return c
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxDoc))
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		c.Status, c.Detail = StatusPass, fmt.Sprintf("GET /state without a token: HTTP %d", resp.StatusCode)
	case http.StatusOK:
		c.Status, c.Detail = StatusWarn, "GET /state without a token: HTTP 200 — the agent does not check its token"
		c.Fix = "configure the agent's token and keep it bound to loopback"
	default:
		c.Status, c.Detail = StatusWarn, fmt.Sprintf("GET /state without a token: HTTP %d, expected 401 or 403", resp.StatusCode)
	}
	return c
}

func (r *run) checkPolicy() Check {
	c := Check{Name: "policy"}
	if r.cfg.PolicyFile == "" {
		c.Status, c.Detail = StatusSkip, "POLICY_FILE not set: scopes alone decide"
		return c
	}
	data, err := readBounded(r.cfg.PolicyFile, 4<<20)
	if err != nil {
		c.Status, c.Detail = StatusFail, "POLICY_FILE: "+err.Error()
		c.Fix = "check the path and that the service user can read it"
		return c
	}
	p, err := policy.Parse(data, r.table.PolicyTools())
	if err != nil {
		c.Status, c.Detail = StatusFail, "POLICY_FILE "+r.cfg.PolicyFile+": "+err.Error()
		c.Fix = "see docs/policy.md"
		return c
	}
	c.Status, c.Detail = StatusPass, fmt.Sprintf("%s compiles: %d rule(s)", r.cfg.PolicyFile, p.Rules())
	return c
}

func (r *run) checkUploadAllow() Check {
	c := Check{Name: "upload URL allowlist"}
	if len(r.cfg.UploadURLAllow) == 0 {
		c.Status, c.Detail = StatusSkip, "UPLOAD_URL_ALLOW not set: sentinel_upload_file takes no file_url"
		return c
	}
	// LoadConfig has refused anything but https prefixes already.
	c.Status, c.Detail = StatusPass, fmt.Sprintf("%d https prefix(es): %s", len(r.cfg.UploadURLAllow), strings.Join(r.cfg.UploadURLAllow, ", "))
	return c
}

func (r *run) checkEditDir() Check {
	c := Check{Name: "edit upload directory"}
	dir := r.cfg.EditUploadLocalDir
	if dir == "" {
		c.Status, c.Detail = StatusSkip, "EDIT_UPLOAD_LOCAL_DIR not set: sentinel_edit_upload_file takes no input_file"
		return c
	}
	fi, err := os.Stat(dir)
	switch {
	case err != nil:
		c.Status, c.Detail = StatusFail, "EDIT_UPLOAD_LOCAL_DIR: "+err.Error()
		c.Fix = "create it (owned by root, mode 0755) or unset EDIT_UPLOAD_LOCAL_DIR"
	case !fi.IsDir():
		c.Status, c.Detail = StatusFail, "EDIT_UPLOAD_LOCAL_DIR "+dir+" is not a directory"
		c.Fix = "point it at a directory"
	case fi.Mode().Perm()&0o002 != 0:
		c.Status, c.Detail = StatusFail, fmt.Sprintf("EDIT_UPLOAD_LOCAL_DIR %s is world-writable (%04o): any local user could plant files the bridge sends to the agent", dir, fi.Mode().Perm())
		c.Fix = "chmod o-w " + dir
	default:
		c.Status, c.Detail = StatusPass, fmt.Sprintf("%s exists, mode %04o", dir, fi.Mode().Perm())
	}
	return c
}

// checkListen binds the address serve would bind, and lets it go. When
// the address is taken by a sentinelx-mcp that answers /healthz (doctor
// run beside the running service, before a restart), that is a warning:
// the port frees up when that instance stops.
func (r *run) checkListen(ctx context.Context, name, vars, addr string) Check {
	c := Check{Name: name}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		c.Status, c.Detail = StatusFail, fmt.Sprintf("cannot listen on %s (%s): %s", addr, vars, shortErr(err))
		c.Fix = "another process holds it (`ss -ltnp`), or change " + vars
		host, port, _ := net.SplitHostPort(addr)
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		var h struct{ Status, Version string }
		if r.getJSON(ctx, "http://"+net.JoinHostPort(host, port)+"/healthz", &h) == nil && h.Status == "ok" {
			c.Status = StatusWarn
			c.Detail = fmt.Sprintf("%s is held by a running sentinelx-mcp %s", addr, h.Version)
			c.Fix = "expected beside the running service: it is free again once that one stops (systemctl restart)"
		}
		return c
	}
	ln.Close()
	c.Status, c.Detail = StatusPass, addr+" is free"
	return c
}

func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}
