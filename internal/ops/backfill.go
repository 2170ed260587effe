package ops

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// gapCollector reports the backfill's progress: the gaps pending, the age
// of the oldest (how far the backfill lags), and the gaps closed.
type gapCollector struct {
	pendingDesc, ageDesc *prometheus.Desc
	closed               prometheus.Counter

	mu      sync.Mutex
	pending int
	oldest  time.Time // Recorded of the oldest pending gap; zero when none
	now     func() time.Time
}

func newGapCollector() *gapCollector {
	return &gapCollector{
		pendingDesc: prometheus.NewDesc("incidentbot_backfill_gaps_pending",
			"Backfill gaps (a stretch of an incident channel the bot may have missed while disconnected or stopped) not read back yet.", nil, nil),
		ageDesc: prometheus.NewDesc("incidentbot_backfill_oldest_gap_seconds",
			"Seconds since the oldest pending backfill gap was recorded; 0 when none is pending.", nil, nil),
		closed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "incidentbot_backfill_gaps_closed_total", Help: "Backfill gaps read back and reconciled.",
		}),
		now: time.Now,
	}
}

func (c *gapCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pendingDesc
	ch <- c.ageDesc
	c.closed.Describe(ch)
}

func (c *gapCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	pending, oldest := c.pending, c.oldest
	c.mu.Unlock()
	age := 0.0
	if pending > 0 && !oldest.IsZero() {
		age = max(0, c.now().Sub(oldest).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(c.pendingDesc, prometheus.GaugeValue, float64(pending))
	ch <- prometheus.MustNewConstMetric(c.ageDesc, prometheus.GaugeValue, age)
	c.closed.Collect(ch)
}

// BackfillGaps sets the number of pending backfill gaps and when the oldest
// of them was recorded (zero when none is); the age is computed at each
// scrape.
func (m *Metrics) BackfillGaps(pending int, oldest time.Time) {
	if m == nil {
		return
	}
	m.gaps.mu.Lock()
	m.gaps.pending, m.gaps.oldest = pending, oldest
	m.gaps.mu.Unlock()
}

// BackfillGapClosed counts a backfill gap read back and closed.
func (m *Metrics) BackfillGapClosed() {
	if m != nil {
		m.gaps.closed.Inc()
	}
}
