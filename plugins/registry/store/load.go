package store

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
)

// loadWait bounds how long a search waits for the index to be loaded
// before it is answered with ErrNotReady.
const loadWait = 5 * time.Second

// IndexStats describes the search index.
type IndexStats struct {
	Things int           // searchable things (claimed, public, with a tag)
	Tags   int           // their tags, KEY never among them
	Values int           // distinct values over all tag names
	Load   time.Duration // how long the last load from SQL took
}

// index is the search index with what keeps it in step with SQL.
type index struct {
	mu sync.RWMutex
	d  *ixdata

	// commit are stripes by thing id, held by a write from just before
	// its commit until it is applied: the database orders two writes to
	// one thing (on the thing's row), and this keeps memory in the same
	// order. Held across Commit only; nothing under them waits for the
	// database, so a write waiting for a stripe never blocks the holder.
	commit [64]sync.Mutex

	reload sync.Mutex // one load at a time

	lmu     sync.Mutex
	loading bool
	dirty   []uint32 // things written while a load runs
	ready   chan struct{}
	loaded  bool
	stats   IndexStats
	lastErr error
}

func newIndex() *index {
	return &index{d: newIxdata(), ready: make(chan struct{})}
}

// lock takes the commit stripes of ids, in ascending order.
func (x *index) lock(ids []uint32) (unlock func()) {
	var mask uint64
	for _, id := range ids {
		mask |= 1 << (id % uint32(len(x.commit)))
	}
	return x.lockMask(mask)
}

// lockAll takes every commit stripe: no write commits meanwhile.
func (x *index) lockAll() (unlock func()) { return x.lockMask(^uint64(0)) }

func (x *index) lockMask(mask uint64) (unlock func()) {
	for i := range x.commit {
		if mask&(1<<i) != 0 {
			x.commit[i].Lock()
		}
	}
	return func() {
		for i := range x.commit {
			if mask&(1<<i) != 0 {
				x.commit[i].Unlock()
			}
		}
	}
}

// apply replaces the things ids with rows, under their commit stripes.
func (x *index) apply(ids []uint32, rows []itag) {
	x.mu.Lock()
	x.d.set(ids, rows)
	x.mu.Unlock()
	x.touched(ids)
}

// hide takes things out of searches: their write's commit failed, and
// whether it happened is unknown. Showing a thing that may have become
// private is worse than missing one until its next write or a restart.
func (x *index) hide(ids []uint32) {
	x.mu.Lock()
	for _, id := range ids {
		x.d.drop(id)
	}
	x.mu.Unlock()
	x.touched(ids)
}

// touched notes writes that a running load must read again.
func (x *index) touched(ids []uint32) {
	x.lmu.Lock()
	if x.loading {
		x.dirty = append(x.dirty, ids...)
	}
	x.lmu.Unlock()
}

// wait blocks until the index has been loaded once.
func (x *index) wait(ctx context.Context) error {
	select {
	case <-x.ready:
		return nil
	default:
	}
	t := time.NewTimer(loadWait)
	defer t.Stop()
	select {
	case <-x.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return ErrNotReady
	}
}

// WaitIndex blocks until the search index has been loaded from SQL
// (Open starts loading it in the background; searches wait up to 5 s for
// it, then fail with ErrNotReady) or ctx ends, and describes it. The
// error then names the last failed attempt, if any: the store retries
// until it succeeds or closes.
func (s *Store) WaitIndex(ctx context.Context) (IndexStats, error) {
	x := s.ix
	select {
	case <-x.ready:
	case <-ctx.Done():
		x.lmu.Lock()
		defer x.lmu.Unlock()
		if x.lastErr != nil {
			return IndexStats{}, fmt.Errorf("store: search index not loaded: %w (last attempt: %w)", ctx.Err(), x.lastErr)
		}
		return IndexStats{}, fmt.Errorf("store: search index not loaded: %w", ctx.Err())
	}
	x.mu.RLock()
	st := IndexStats{Things: int(x.d.all.GetCardinality()), Tags: x.d.tags, Values: x.d.values()}
	x.mu.RUnlock()
	x.lmu.Lock()
	st.Load = x.stats.Load
	x.lmu.Unlock()
	return st, nil
}

// loadLoop loads the index, retrying with backoff until it succeeds or
// ctx ends.
func (s *Store) loadLoop(ctx context.Context) {
	for delay := time.Second; ; delay = min(2*delay, time.Minute) {
		err := s.reindex(ctx)
		if err == nil || ctx.Err() != nil {
			return
		}
		s.ix.lmu.Lock()
		s.ix.lastErr = err
		s.ix.lmu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}

// reindex builds a new index from SQL and swaps it in. Writes go on
// meanwhile: those that commit while it reads are noted and read again
// at the end, with every commit stripe held, so that nothing read early
// survives a later write.
func (s *Store) reindex(ctx context.Context) error {
	x := s.ix
	x.reload.Lock()
	defer x.reload.Unlock()
	start := time.Now()
	x.lmu.Lock()
	x.loading, x.dirty = true, nil
	x.lmu.Unlock()
	done := false
	defer func() {
		if !done {
			x.lmu.Lock()
			x.loading, x.dirty = false, nil
			x.lmu.Unlock()
		}
	}()

	d, err := s.build(ctx)
	if err != nil {
		return err
	}

	// Catch up. The connection is taken before the stripes: writers
	// waiting for a stripe hold connections, and the pool may have no
	// other.
	conn, err := s.r.Conn(ctx)
	if err != nil {
		return s.fail("load index", err)
	}
	defer conn.Close()
	unlock := x.lockAll()
	defer unlock()
	x.lmu.Lock()
	dirty := x.dirty
	x.lmu.Unlock()
	slices.Sort(dirty)
	dirty = slices.Compact(dirty)
	again, err := searchable(ctx, conn, dirty)
	if err != nil {
		return s.fail("load index", err)
	}
	d.set(dirty, again)
	x.mu.Lock()
	x.d = d
	x.mu.Unlock()
	x.lmu.Lock()
	x.loading, x.dirty, x.lastErr = false, nil, nil
	x.stats = IndexStats{Load: time.Since(start)}
	if !x.loaded {
		x.loaded = true
		close(x.ready)
	}
	x.lmu.Unlock()
	done = true
	return nil
}

// build reads a new index from SQL: the visible things, then one pass
// over the tag table, whose rows a second goroutine turns into the index
// while the next ones are read.
func (s *Store) build(ctx context.Context) (*ixdata, error) {
	vis := roaring.New()
	rows, err := s.r.QueryContext(ctx, qLoadVisible)
	if err != nil {
		return nil, s.fail("load index", err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, s.fail("load index", err)
		}
		u, err := thingID(id)
		if err != nil {
			rows.Close()
			return nil, err
		}
		vis.Add(u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, s.fail("load index", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	const batchLen = 4096
	full := make(chan []itag, 4)
	free := make(chan []itag, 8) // batches are reused: 7M rows would be 450 MB of garbage
	errc := make(chan error, 1)
	go func() {
		defer close(full)
		errc <- s.scanTags(ctx, vis, batchLen, full, free)
	}()
	b := newBulk()
	for batch := range full {
		for i := range batch {
			b.put(&batch[i])
		}
		select {
		case free <- batch[:0]:
		default:
		}
	}
	if err := <-errc; err != nil {
		return nil, err
	}
	return b.finish(), nil
}

// scanTags reads the searchable tags of the things in vis, in batches.
func (s *Store) scanTags(ctx context.Context, vis *roaring.Bitmap, batchLen int, full chan<- []itag, free <-chan []itag) error {
	rows, err := s.r.QueryContext(ctx, qLoadTags)
	if err != nil {
		return s.fail("load index", err)
	}
	defer rows.Close()
	next := func() []itag {
		select {
		case b := <-free:
			return b
		default:
			return make([]itag, 0, batchLen)
		}
	}
	send := func(b []itag) error {
		select {
		case full <- b:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	batch := next()
	var t itag
	var id int64
	for rows.Next() {
		if err := rows.Scan(&id, &t.name, &t.s, &t.n); err != nil {
			return s.fail("load index", err)
		}
		if id <= 0 || id > math.MaxUint32 || !vis.Contains(uint32(id)) {
			continue
		}
		t.id = uint32(id)
		if batch = append(batch, t); len(batch) == batchLen {
			if err := send(batch); err != nil {
				return err
			}
			batch = next()
		}
	}
	if err := rows.Err(); err != nil {
		return s.fail("load index", err)
	}
	if len(batch) > 0 {
		return send(batch)
	}
	return nil
}

// thingID is a record id as the index holds it.
func thingID(id int64) (uint32, error) {
	if id <= 0 || id > math.MaxUint32 {
		return 0, fmt.Errorf("store: record id %d outside the search index's range (1 to 2^32-1)", id)
	}
	return uint32(id), nil
}

// The SQL that feeds the index: at load, the visible things and every
// tag (one pass in primary key order; the tags of invisible things are
// skipped in Go rather than by a join that would probe the things for
// every tag); after a write, the searchable tags of the things it touched.
const (
	qLoadVisible = "SELECT id FROM registry_things WHERE vis = 1"
	qLoadTags    = "SELECT thing_id, name, s, n FROM registry_tags WHERE name <> 'KEY'"
	qSearchable  = `SELECT t.thing_id, t.name, t.s, t.n FROM registry_tags t JOIN registry_things h ON h.id = t.thing_id
		WHERE t.thing_id IN ({{ids}}) AND h.vis = 1 AND t.name <> 'KEY'`
)

// searchable reads the searchable tags of things: those of visible
// things, KEY left out. A thing without rows is not searchable.
func searchable(ctx context.Context, q querier, ids []uint32) ([]itag, error) {
	var out []itag
	for chunk := range slices.Chunk(ids, 500) {
		qs, a := inIDs(qSearchable, chunk)
		rows, err := q.QueryContext(ctx, qs, a...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var t itag
			var id int64
			if err := rows.Scan(&id, &t.name, &t.s, &t.n); err != nil {
				rows.Close()
				return nil, err
			}
			t.id = uint32(id)
			out = append(out, t)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
