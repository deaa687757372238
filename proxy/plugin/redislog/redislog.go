// Package redislog sends the go-redis client's own messages (a pool that cannot dial, a cluster
// whose nodes all fail) to a slog logger instead of go-redis's default, the standard logger
// on stderr. go-redis keeps one logger for the whole process (redis.SetLogger), so Route is
// called once, by the process wiring, before any Redis client of the limit plugins runs.
package redislog

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Route makes log (With component=redis) receive go-redis's messages, at Warn: they report
// failures the limit plugins also answer for (500, or allow_degradation).
func Route(log *slog.Logger) {
	redis.SetLogger(logger{log: log.With("component", "redis")})
}

type logger struct{ log *slog.Logger }

func (l logger) Printf(ctx context.Context, format string, v ...any) {
	if ctx == nil {
		ctx = context.Background()
	}
	if !l.log.Enabled(ctx, slog.LevelWarn) {
		return
	}
	l.log.LogAttrs(ctx, slog.LevelWarn, "redis client", slog.String("detail", strings.TrimSpace(fmt.Sprintf(format, v...))))
}
