//go:build race

package proxy

// raceEnabled: the race detector slows streaming tenfold; tests move less data under it.
const raceEnabled = true
