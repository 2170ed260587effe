package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/incidentbot/incidentbot"
)

// TestUpdateIncidentFnErrorLeavesBatchAlone runs failing and succeeding
// updates at once, so that they share batches. bbolt re-runs every function
// of a batch in which one returns an error; the store must not let a
// user's error get that far, so each fn runs exactly once.
func TestUpdateIncidentFnErrorLeavesBatchAlone(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	inc := mustCreate(t, db, "busy", "C1")
	const callers = 64
	var (
		wg    sync.WaitGroup
		calls atomic.Int32
		start = make(chan struct{})
	)
	refused := errors.New("refused")
	for i := range callers {
		wg.Go(func() {
			<-start
			_, applied, err := db.UpdateIncident(ctx, inc.ID, fmt.Sprintf("cmd-%d", i), func(c *incidentbot.Incident) ([]incidentbot.TimelineEvent, error) {
				calls.Add(1)
				if i%2 == 1 {
					c.Title = "must not be stored"
					return []incidentbot.TimelineEvent{{Kind: incidentbot.EventNotice, Text: "must not be stored"}}, refused
				}
				c.Hypotheses = append(c.Hypotheses, incidentbot.Hypothesis{ID: len(c.Hypotheses) + 1, Text: fmt.Sprint(i)})
				return []incidentbot.TimelineEvent{{Kind: incidentbot.EventHypothesis, Text: fmt.Sprint(i)}}, nil
			})
			switch {
			case i%2 == 1 && (err != refused || applied):
				t.Errorf("caller %d: %v (applied=%v), want its fn's error", i, err, applied)
			case i%2 == 0 && (err != nil || !applied):
				t.Errorf("caller %d: %v (applied=%v), want applied", i, err, applied)
			}
		})
	}
	close(start)
	wg.Wait()
	if n := calls.Load(); n != callers {
		t.Errorf("fns were called %d times for %d callers: batches were re-run", n, callers)
	}
	got, _ := db.Incident(ctx, inc.ID)
	if got.Title != "busy" || len(got.Hypotheses) != callers/2 {
		t.Errorf("incident after the updates: title %q, %d hypotheses; want %q, %d", got.Title, len(got.Hypotheses), "busy", callers/2)
	}
	for _, ev := range allEvents(t, db, inc.ID) {
		if ev.Kind != incidentbot.EventHypothesis {
			t.Errorf("stored event of a failed fn: %+v", ev)
		}
	}
	if n, _ := db.EventCount(ctx, inc.ID); n != callers/2 {
		t.Errorf("EventCount = %d, want %d", n, callers/2)
	}
}
