package incidentbot

import "context"

// Fence is a lease held by one replica: its holder and the lease's epoch,
// which grows each time the lease changes hands. Writes done as scheduled
// work carry it (ContextWithFence), and a store shared by several replicas
// refuses them, with EConflict, once the lease has moved on: a replica that
// lost its lease cannot record a reminder, a delivery or a repair that the
// new holder is also doing.
type Fence struct {
	Name   string // the lease, e.g. "scheduler"
	Holder string // the replica holding it
	Epoch  int64
}

type fenceKey struct{}

// ContextWithFence returns ctx carrying f.
func ContextWithFence(ctx context.Context, f Fence) context.Context {
	return context.WithValue(ctx, fenceKey{}, f)
}

// FenceFrom returns the fence ctx carries, if any.
func FenceFrom(ctx context.Context) (Fence, bool) {
	f, ok := ctx.Value(fenceKey{}).(Fence)
	return f, ok
}
