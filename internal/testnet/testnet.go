// Package testnet holds network fixtures tests share, so each test
// package does not grow its own copy. Only tests import it, so it is not
// part of the binary.
package testnet

import (
	"net"
	"testing"
)

// ClosedAddr returns a loopback "host:port" nothing listens on: a
// connection to it is refused at once, the cheapest unreachable agent.
// The port was free a moment ago; another listener could take it, which
// on loopback in a test run is rare enough not to matter.
func ClosedAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// FreePort returns a loopback port nothing listens on, for a server the
// test starts itself on a fixed port (the same caveat as ClosedAddr).
func FreePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
