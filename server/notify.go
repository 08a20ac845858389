package server

import (
	"errors"
	"net"
	"strings"
)

// Notifier sends sd_notify(3) state changes to systemd when it started us
// with Type=notify. The protocol is one datagram per message on the unix
// socket named by $NOTIFY_SOCKET (a leading "@" means the abstract
// namespace), so a few lines replace a dependency on go-systemd.
//
// A Notifier with an empty socket does nothing, so callers need not check
// whether systemd is there.
type Notifier struct {
	socket string
}

// NewNotifier returns a Notifier for socket, the value of $NOTIFY_SOCKET.
func NewNotifier(socket string) *Notifier { return &Notifier{socket: socket} }

// Notify sends state, e.g. "READY=1" or "STOPPING=1".
func (n *Notifier) Notify(state string) error {
	if n == nil || n.socket == "" {
		return nil
	}
	addr := n.socket
	if strings.HasPrefix(addr, "@") {
		addr = "\x00" + addr[1:]
	} else if !strings.HasPrefix(addr, "/") {
		return errors.New("NOTIFY_SOCKET: want an absolute path or an @abstract name")
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write([]byte(state))
	return err
}
