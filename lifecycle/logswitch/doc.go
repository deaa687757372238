// Package logswitch hands out slog loggers whose level and format (text or JSON) a configuration
// reload can change after they were handed out.
//
// Concurrency: a Switch and its loggers are safe for concurrent use; Set may be called at any time.
package logswitch
