package pipeline

import (
	"context"
	"sync"
)

// forEach calls fn for every item, n at a time (at least one), and returns
// when every call has returned. The first error stops handing out items,
// cancels the context of the calls still running, and is returned; a call
// that should not stop the others returns nil.
func forEach[T any](ctx context.Context, n int, items []T, fn func(ctx context.Context, item T) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan T)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range max(1, min(n, len(items))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				if err := fn(ctx, it); err != nil {
					once.Do(func() { first = err; cancel(err) })
					return
				}
			}
		}()
	}
feed:
	for _, it := range items {
		select {
		case work <- it:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if first != nil {
		return first
	}
	return context.Cause(ctx)
}
