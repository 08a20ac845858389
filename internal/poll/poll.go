// Package poll waits in tests for a condition that background work makes
// true (a file reloaded, a host probed): the test asserts the condition,
// never how long it took, and fails after a bound generous enough for a
// loaded machine. Only tests import it.
package poll

import (
	"testing"
	"time"
)

// Bound is how long [Until] waits before failing the test.
const Bound = 20 * time.Second

// Until calls cond every 5 ms until it returns true, and fails t with
// "timed out waiting for <what>" when it has not within [Bound].
func Until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
