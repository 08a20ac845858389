package middleware

import "testing"

// TestIsLoopback pins the one loopback check the guard, RESOURCE_URL's
// plain-http exception, dev mode, its authorization server and the agent
// command share.
func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LocalHost": true, "127.0.0.1": true, "127.8.9.10": true,
		"::1": true, "[::1]": true, "::ffff:127.0.0.1": true,
		"": false, "0.0.0.0": false, "::": false, "192.168.1.10": false, "10.0.0.1": false,
		"example.com": false, "localhost.example.com": false, "127.0.0.1.nip.io": false,
		"[::1]:8099": false, "localhost:8099": false,
	} {
		if got := IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}
