package app

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// trimMemory gives free heap back to the operating system once the broker
// goes quiet. Go's scavenger keeps memory up to the next GC goal, which
// after a burst of logins can be twice the live heap; a broker then holding
// many idle connections should not keep that. Quiet means the program
// allocated less than quietAlloc since the last check, so a busy broker is
// never slowed by forced collections; the check itself does not stop the
// world.
func trimMemory(ctx context.Context, interval time.Duration, quietAlloc, threshold uint64) {
	samples := []metrics.Sample{
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var lastAlloc uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(samples)
		alloc := u64(samples[0])
		quiet := alloc-lastAlloc < quietAlloc
		lastAlloc = alloc
		if quiet && u64(samples[1])+u64(samples[2]) > threshold {
			debug.FreeOSMemory()
			// The forced collection allocates nothing worth counting.
			metrics.Read(samples[:1])
			lastAlloc = u64(samples[0])
		}
	}
}

func u64(s metrics.Sample) uint64 {
	if s.Value.Kind() == metrics.KindUint64 {
		return s.Value.Uint64()
	}
	return 0
}
