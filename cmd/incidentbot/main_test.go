package main

import (
	"os"
	"testing"
)

// TestMain lets tests run this test binary as the real incidentbot process
// (INCIDENTBOT_TEST_CHILD=1), so that it can be killed with SIGKILL.
func TestMain(m *testing.M) {
	if os.Getenv("INCIDENTBOT_TEST_CHILD") == "1" {
		os.Args = append([]string{"incidentbot"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}
