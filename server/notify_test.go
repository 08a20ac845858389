package server_test

import (
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/pensados/sentinelx-mcp/server"
)

func TestNotifier(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer conn.Close()

	tests := []struct {
		name, socket, state string
		wantErr, wantRecv   bool
	}{
		{"no socket is a no-op", "", "READY=1", false, false},
		{"path socket", path, "READY=1", false, true},
		{"stopping", path, "STOPPING=1", false, true},
		{"relative path refused", "notify.sock", "READY=1", true, false},
		{"missing socket", filepath.Join(t.TempDir(), "gone.sock"), "READY=1", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := server.NewNotifier(tc.socket).Notify(tc.state)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Notify: %v, wantErr %v", err, tc.wantErr)
			}
			if !tc.wantRecv {
				return
			}
			buf := make([]byte, 64)
			conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, err := conn.Read(buf)
			if err != nil || string(buf[:n]) != tc.state {
				t.Fatalf("received %q, %v; want %q", buf[:n], err, tc.state)
			}
		})
	}
	var nilN *server.Notifier
	if err := nilN.Notify("READY=1"); err != nil {
		t.Fatalf("nil Notifier: %v", err)
	}
}
