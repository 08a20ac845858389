package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/pensados/sentinelx-mcp/internal/testnet"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDoctorReadsTheEnvFileAndExitsNonZero runs `doctor --env-file F
// --json` with nothing listening: the file, not the process environment,
// is the configuration; the JSON report says why; the command fails.
func TestDoctorReadsTheEnvFileAndExitsNonZero(t *testing.T) {
	dead := "http://127.0.0.1:" + strconv.Itoa(testnet.FreePort(t))
	port := testnet.FreePort(t)
	f := filepath.Join(t.TempDir(), "sentinelx-mcp.env")
	os.WriteFile(f, []byte("MCP_PORT="+strconv.Itoa(port)+"\nSENTINELX_TOKEN=agent-s3cret\nSENTINELX_URL="+dead+
		"\nOIDC_ISSUER="+dead+"/realms/x\nRESOURCE_URL=http://127.0.0.1:"+strconv.Itoa(port)+"\nOIDC_EXPECTED_AUDIENCE=http://127.0.0.1:"+strconv.Itoa(port)+"/mcp\nMCP_PORTT=1\n"), 0o600)
	tok := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(tok, []byte("opaque-token-value\n"), 0o600)
	var out bytes.Buffer
	env := func(k string) string {
		if k == "SENTINELX_TOKEN" {
			return "from-the-process-environment"
		}
		return ""
	}
	err := run(context.Background(), []string{"doctor", "--env-file", f, "--json", "--timeout", "2s", "--token-file", tok}, env, &out, io.Discard)
	if !errors.Is(err, errNotReady) {
		t.Fatalf("err %v, want errNotReady; output:\n%s", err, out.String())
	}
	var rep struct {
		OK     bool
		Source string
		Checks []struct{ Name, Status, Detail string }
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	status := map[string]string{}
	for _, c := range rep.Checks {
		if _, seen := status[c.Name]; !seen {
			status[c.Name] = c.Status
		}
	}
	if rep.OK || rep.Source != f || status["issuer discovery"] != "fail" || status["agent"] != "fail" || status["listen"] != "pass" || status["token"] != "fail" {
		t.Fatalf("report: %s", out.String())
	}
	for _, s := range []string{"agent-s3cret", "opaque-token-value", "from-the-process-environment"} {
		if strings.Contains(out.String(), s) {
			t.Fatalf("output holds %q:\n%s", s, out.String())
		}
	}
	if !strings.Contains(out.String(), "MCP_PORTT is not a sentinelx-mcp variable") {
		t.Fatalf("typo not reported:\n%s", out.String())
	}
}
