//go:build !race

package templates

// raceEnabled is true under the race detector, which slows code several times.
const raceEnabled = false
