package sandbox

import (
	"net"
	"net/http"
	"strconv"
	"strings"
)

// Fault is a failure the agent can be told to produce, for testing how the
// bridge copes with a broken upstream.
type Fault int32

// The faults. FaultNone is normal operation.
const (
	FaultNone Fault = iota
	// FaultStall accepts the request and never answers until the client
	// gives up (or the server closes).
	FaultStall
	// FaultReset sends a 200 header and part of a JSON body, then resets
	// the TCP connection.
	FaultReset
	// FaultGarbage500 answers 500 with an HTML/binary body, like a broken
	// reverse proxy.
	FaultGarbage500
	// FaultHuge answers 200 with a JSON body of HugeBodyBytes.
	FaultHuge
)

// HugeBodyBytes is the size of the FaultHuge body: well over the client's
// default 16 MiB cap.
const HugeBodyBytes = 64 << 20

// SetFault makes every following request fail with f (FaultNone restores
// normal service). Options.Fault, when set and returning non-None, wins.
func (a *Agent) SetFault(f Fault) { a.fault.Store(int32(f)) }

// injectFault applies the fault chosen for r, reporting whether it did.
func (a *Agent) injectFault(w http.ResponseWriter, r *http.Request) bool {
	f := FaultNone
	if a.faultFn != nil {
		f = a.faultFn(r)
	}
	if f == FaultNone {
		f = Fault(a.fault.Load())
	}
	switch f {
	case FaultStall:
		<-r.Context().Done()
	case FaultReset:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "4096")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"output":"partial`))
		rc := http.NewResponseController(w)
		_ = rc.Flush()
		conn, _, err := rc.Hijack()
		if err != nil {
			return true
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // RST instead of FIN
		}
		_ = conn.Close()
	case FaultGarbage500:
		body := "<html><body><h1>500</h1>\x00\xff\xfe upstream exploded</body></html>"
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(body))
	case FaultHuge:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(HugeBodyBytes))
		w.WriteHeader(http.StatusOK)
		head, tail := `{"output":"`, `"}`
		_, _ = w.Write([]byte(head))
		chunk := []byte(strings.Repeat("x", 64<<10))
		left := HugeBodyBytes - len(head) - len(tail)
		for left > 0 && r.Context().Err() == nil {
			n := min(left, len(chunk))
			if _, err := w.Write(chunk[:n]); err != nil {
				return true
			}
			left -= n
		}
		_, _ = w.Write([]byte(tail))
	default:
		return false
	}
	return true
}
