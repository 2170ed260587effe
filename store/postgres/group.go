package postgres

import "sync/atomic"

// grouper is the queue and goroutine of a group commit, shared by
// AppendEvents (committer) and UpdateIncident (updater): one goroutine
// takes the calls queued while it committed the previous group (at least
// one, until full says the group may take no more) and hands them to
// commit together. A lone call thus commits at once; under a burst the
// groups grow with the commit time.
type grouper[T any] struct {
	calls  chan T
	quit   chan struct{}
	exited chan struct{}
	// op names a call's operation, for its error; done is closed by
	// commit once the call's outcome is set.
	op   func(T) string
	done func(T) chan struct{}
	// A group takes at most maxCalls calls and, when weight is set, stops
	// once their weights add up to maxWeight (AppendEvents: events).
	maxCalls  int
	weight    func(T) int
	maxWeight int
	// commit commits group and closes every call's done.
	commit func(group []T)

	// groups and grouped count the groups committed and the calls in
	// them, for benchmarks and tests.
	groups, grouped atomic.Int64
}

// start makes the queue and starts the loop.
func (g *grouper[T]) start() {
	g.calls = make(chan T, g.maxCalls)
	g.quit = make(chan struct{})
	g.exited = make(chan struct{})
	go g.loop()
}

// run queues cl and waits for its group to end. It fails with EUnavailable
// when the store closed before cl's group started.
func (g *grouper[T]) run(cl T) error {
	select {
	case g.calls <- cl:
	case <-g.quit:
		return errClosed(g.op(cl))
	}
	select {
	case <-g.done(cl):
		return nil
	case <-g.exited:
		select {
		case <-g.done(cl):
			return nil
		default:
			return errClosed(g.op(cl))
		}
	}
}

// stop ends the loop after the group being committed, if any.
func (g *grouper[T]) stop() {
	close(g.quit)
	<-g.exited
}

// loop commits groups until stop.
func (g *grouper[T]) loop() {
	defer close(g.exited)
	for {
		var first T
		select {
		case first = <-g.calls:
		case <-g.quit:
			return
		}
		group, w := []T{first}, g.weigh(first)
	drain:
		for len(group) < g.maxCalls && (g.weight == nil || w < g.maxWeight) {
			select {
			case cl := <-g.calls:
				group = append(group, cl)
				w += g.weigh(cl)
			default:
				break drain
			}
		}
		g.commit(group)
		g.groups.Add(1)
		g.grouped.Add(int64(len(group)))
	}
}

// weigh is cl's weight, 0 without a weight function.
func (g *grouper[T]) weigh(cl T) int {
	if g.weight == nil {
		return 0
	}
	return g.weight(cl)
}
