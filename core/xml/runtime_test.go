package xml

import "runtime"

type runtimeStats struct{ heap int64 }

func (s *runtimeStats) read() {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	s.heap = int64(m.HeapAlloc)
}
