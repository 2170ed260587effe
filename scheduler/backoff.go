package scheduler

import (
	"math/rand/v2"
	"time"
)

// Backoff is exponential backoff with jitter: the wait before the attempt
// after attempt n doubles from First up to Max, and is drawn uniformly from
// its upper half, so that callers failing together (every incident paging a
// recovering PagerDuty) do not retry together.
type Backoff struct {
	First time.Duration // the wait after the first failed attempt, before jitter
	Max   time.Duration // the longest wait, before jitter
}

// OutboxBackoff is the backoff of PagerDuty calls: 1s doubling to 5m.
func OutboxBackoff() Backoff { return Backoff{First: time.Second, Max: 5 * time.Minute} }

// Delay returns how long to wait after failed attempt n (1 for the first
// failure): min(Max, First·2^(n-1)), less up to half of it at random. A
// zero Backoff waits not at all; n below 1 counts as 1.
func (b Backoff) Delay(n int) time.Duration {
	d := b.First
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}
