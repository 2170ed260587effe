package scheduler

import (
	"context"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/incidentbot/incidentbot"
)

// Lease is a lease row in a database shared by several replicas, which
// decides the one replica that runs scheduled work. The database's clock
// judges expiry.
type Lease interface {
	// Acquire takes the lease for holder for ttl if it is free or expired
	// (or already holder's), and returns its new epoch; ok is false when
	// another replica holds it.
	Acquire(ctx context.Context, holder string, ttl time.Duration) (epoch int64, ok bool, err error)
	// Renew extends holder's lease of epoch by ttl from now; ok is false
	// when the lease is no longer holder's at that epoch.
	Renew(ctx context.Context, holder string, epoch int64, ttl time.Duration) (ok bool, err error)
	// Release gives the lease up, if holder still holds it at epoch.
	Release(ctx context.Context, holder string, epoch int64) error
}

// LeaseConfig configures RunWithLease.
type LeaseConfig struct {
	Name   string        // the lease, e.g. "scheduler"
	Holder string        // this replica, unique among the replicas
	TTL    time.Duration // how long a lease lasts unrenewed; zero means 15s
	// Logger gets the lease's changes; nil discards them.
	Logger logrus.FieldLogger
}

// RunWithLease runs run only while this replica holds the lease, until ctx
// ends: it tries to take the lease every TTL/3, and once it holds it, runs
// run with a context that carries the lease's Fence and renews the lease
// every TTL/3. The context given to run ends — and RunWithLease waits for
// run to return — when a renewal fails or has not succeeded by TTL less a
// third after the last successful one was asked for: since that moment is
// measured from before the request was sent, run stops before the database
// can let another replica take the lease (fencing covers what is in flight).
// It returns when ctx ends, after giving the lease up.
func RunWithLease(ctx context.Context, l Lease, cfg LeaseConfig, run func(ctx context.Context)) {
	if cfg.TTL <= 0 {
		cfg.TTL = 15 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		lg := logrus.New()
		lg.Out = discard{}
		log = lg
	}
	log = log.WithField("lease", cfg.Name)
	every := cfg.TTL / 3
	for {
		asked := time.Now()
		epoch, ok, err := l.Acquire(ctx, cfg.Holder, cfg.TTL)
		if err != nil && ctx.Err() == nil {
			log.WithError(err).Warn("cannot reach the database to take the lease; trying again")
		}
		if ok {
			log.WithField("epoch", epoch).Info("holding the lease: this replica runs the scheduled work")
			hold(ctx, l, cfg, epoch, asked, log, run)
			if ctx.Err() != nil {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), every)
				if err := l.Release(rctx, cfg.Holder, epoch); err != nil {
					log.WithError(err).Warn("could not give the lease up; it expires by itself")
				}
				cancel()
				return
			}
			log.WithField("epoch", epoch).Warn("lost the lease: scheduled work stopped on this replica")
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// hold runs run while the lease of epoch, last granted on a request sent at
// asked, is renewed in time; it returns once run has returned.
func hold(ctx context.Context, l Lease, cfg LeaseConfig, epoch int64, asked time.Time, log logrus.FieldLogger, run func(context.Context)) {
	every := cfg.TTL / 3
	// Stop a third of the TTL before the lease can expire: room for the
	// work in flight to notice, and for clocks that run at other rates.
	margin := cfg.TTL / 3
	deadline := asked.Add(cfg.TTL - margin)
	expire := time.NewTimer(time.Until(deadline))
	defer expire.Stop()
	wctx, stop := context.WithCancel(incidentbot.ContextWithFence(ctx, incidentbot.Fence{Name: cfg.Name, Holder: cfg.Holder, Epoch: epoch}))
	done := make(chan struct{})
	go func() { defer close(done); run(wctx) }()
	defer func() { stop(); <-done }()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-done:
			return
		case <-expire.C:
			log.Warn("the lease was not renewed in time")
			return
		case <-t.C:
		}
		sent := time.Now()
		rctx, cancel := context.WithDeadline(ctx, deadline)
		ok, err := l.Renew(rctx, cfg.Holder, epoch, cfg.TTL)
		cancel()
		switch {
		case err != nil:
			if ctx.Err() == nil {
				log.WithError(err).Warn("could not renew the lease; trying again until it would expire")
			}
		case !ok:
			return
		default:
			deadline = sent.Add(cfg.TTL - margin)
			expire.Reset(time.Until(deadline))
		}
	}
}
