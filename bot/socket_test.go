package bot

import (
	"encoding/json"
	"testing"

	"github.com/slack-go/slack/socketmode"
)

// TestAckFrame: the hand-made acknowledgement is byte for byte what
// socketmode.Response encodes to, whatever the id and payload.
func TestAckFrame(t *testing.T) {
	for _, tc := range []struct {
		id      string
		payload any
	}{
		{"3f1c9a2e-6b1d-4c4e-9a59-0f1e2d3c4b5a", nil},
		{"", nil},
		{`odd"id\with<chars>`, nil},
		{"ünïcode", nil},
		{"3f1c9a2e", map[string]string{"text": "ok"}},
	} {
		got, err := ackFrame(tc.id, tc.payload)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(socketmode.Response{EnvelopeID: tc.id, Payload: tc.payload})
		if string(got) != string(want) {
			t.Errorf("ackFrame(%q) = %s, want %s", tc.id, got, want)
		}
	}
}
