package server

import (
	"context"
	"log/slog"
)

// quiet passes only records at min or above. go-sdk logs every stateless
// request's session connect and disconnect at Info, which would double the
// log volume without telling an operator anything the request log doesn't.
type quiet struct {
	slog.Handler
	min slog.Level
}

func (q quiet) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= q.min && q.Handler.Enabled(ctx, l)
}

func (q quiet) WithAttrs(as []slog.Attr) slog.Handler { return quiet{q.Handler.WithAttrs(as), q.min} }
func (q quiet) WithGroup(name string) slog.Handler    { return quiet{q.Handler.WithGroup(name), q.min} }

func sdkLogger(l *slog.Logger) *slog.Logger {
	return slog.New(quiet{l.Handler(), slog.LevelWarn}).With("component", "go-sdk")
}
