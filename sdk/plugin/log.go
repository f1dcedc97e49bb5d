package plugin

import (
	"io"
	"log/slog"
	"strings"
)

// NewLogger returns a logger that writes JSON lines in the shape go-plugin
// reads from a plugin's stderr (@level, @message, @timestamp), so the
// broker logs each line at its level with plugin=<name>. Serve uses it on
// stderr when Plugin.Logger is nil.
func NewLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.LevelKey:
				return slog.String("@level", hclogLevel(a.Value.Any()))
			case slog.MessageKey:
				a.Key = "@message"
			case slog.TimeKey:
				return slog.String("@timestamp", a.Value.Time().Format("2006-01-02T15:04:05.000000Z07:00"))
			}
			return a
		},
	}))
}

func hclogLevel(v any) string {
	l, ok := v.(slog.Level)
	if !ok {
		return "info"
	}
	switch {
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}

// levelFromEnv reads EXTASIS_PLUGIN_LOG_LEVEL, which the broker sets to its
// own level, so a plugin does not build debug lines nobody keeps.
func levelFromEnv(v string) slog.Level {
	switch strings.ToLower(v) {
	case "debug", "trace":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
