// Package statefile keeps the last applied configuration on disk, so that a data plane that
// restarts while no control plane answers serves what it served before (static stability).
//
// The state file (FileName in the data directory) holds a whole State, checksummed, written to a
// temporary file, synced and renamed over the old one; its journal beside it holds the changes
// since, appended as they are applied (see journalFormat). Read gives back the State of both; a
// corrupt or foreign file is an error, never served. A Writer writes States in the background, at
// most about once a second, the newest winning.
//
// Concurrency: Read and Write may be called from any goroutine, on different paths. A Writer's
// Save may be called from any goroutine; Run is its one writing goroutine.
package statefile
