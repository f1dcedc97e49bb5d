package store

import (
	"cmp"
	"database/sql"
	"slices"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/tidwall/btree"
)

// The search index: for every tag name, the distinct values of the
// visible things' tags in order, each with the ids of the things that have
// it (a posting), and each thing's value (fwd). Searches run on it alone
// and read only their page of results from SQL. It holds what SQL says
// and nothing else: it is rebuilt from SQL when the store opens, and every
// write that can change what a search sees re-reads the things it touched
// inside its transaction and applies them here right after the commit.

const (
	// listMax is the longest posting kept as a sorted slice; longer ones
	// are compressed bitmaps (roaring), which intersect fast and take
	// about two bytes an id.
	listMax = 64
	// denseMin is the size from which a fwd may become a slice.
	denseMin = 1024
	// btreeDegree: nodes of up to 63 values, a few cache lines of
	// pointers.
	btreeDegree = 32
)

// entry is one distinct value of one tag and the things that have it.
// Near-unique tags (serial numbers, coordinates) mostly have one thing
// per value, held inline.
type entry[K cmp.Ordered] struct {
	v    K
	n    uint32
	one  uint32   // the thing, when n == 1
	more *moreIDs // when n > 1
}

type moreIDs struct {
	list []uint32        // sorted, while n <= listMax
	bm   *roaring.Bitmap // beyond
}

func (e *entry[K]) add(id uint32) {
	switch {
	case e.n == 0:
		e.one = id
	case e.n == 1:
		if id == e.one {
			return
		}
		e.more = &moreIDs{list: []uint32{min(id, e.one), max(id, e.one)}}
	case e.more.bm != nil:
		if !e.more.bm.CheckedAdd(id) {
			return
		}
	default:
		i, found := slices.BinarySearch(e.more.list, id)
		if found {
			return
		}
		e.more.list = slices.Insert(e.more.list, i, id)
		if len(e.more.list) > listMax {
			e.more.bm = roaring.BitmapOf(e.more.list...)
			e.more.list = nil
		}
	}
	e.n++
}

func (e *entry[K]) remove(id uint32) {
	switch {
	case e.n == 0:
		return
	case e.n == 1:
		if e.one != id {
			return
		}
	case e.more.bm != nil:
		if !e.more.bm.CheckedRemove(id) {
			return
		}
		// Half of listMax: a value on the edge does not flip at every
		// change.
		if e.more.bm.GetCardinality() <= listMax/2 {
			e.more.list, e.more.bm = e.more.bm.ToArray(), nil
		}
	default:
		i, found := slices.BinarySearch(e.more.list, id)
		if !found {
			return
		}
		e.more.list = slices.Delete(e.more.list, i, i+1)
	}
	e.n--
	if e.n == 1 {
		e.one, e.more = e.more.list[0], nil
	}
}

// each calls f with the ids in ascending order until f returns false,
// and reports whether it got to the end.
func (e *entry[K]) each(f func(id uint32) bool) bool {
	switch {
	case e.n == 1:
		return f(e.one)
	case e.n == 0:
		return true
	case e.more.bm != nil:
		done := true
		e.more.bm.Iterate(func(id uint32) bool {
			done = f(id)
			return done
		})
		return done
	}
	for _, id := range e.more.list {
		if !f(id) {
			return false
		}
	}
	return true
}

// bitmap returns the ids as a bitmap, which the caller must not modify
// (it may be the index's own).
func (e *entry[K]) bitmap() *roaring.Bitmap {
	switch {
	case e.n == 0:
		return roaring.New()
	case e.n == 1:
		return roaring.BitmapOf(e.one)
	case e.more.bm != nil:
		return e.more.bm
	}
	return roaring.BitmapOf(e.more.list...)
}

// column is one tag name's values of one type (a name can carry strings
// on some things and numbers on others).
type column[K cmp.Ordered] struct {
	vals *btree.BTreeG[*entry[K]]
	fwd  fwd[*entry[K]]
}

func newColumn[K cmp.Ordered]() *column[K] {
	// Strings compare by byte, which for UTF-8 is code point order, as
	// SQLite's BINARY and PostgreSQL's "C" collations do. The index has
	// its own lock.
	return &column[K]{vals: btree.NewBTreeGOptions(func(a, b *entry[K]) bool { return a.v < b.v },
		btree.Options{Degree: btreeDegree, NoLocks: true})}
}

func (c *column[K]) add(id uint32, v K) {
	if old := c.fwd.get(id); old != nil {
		if old.v == v {
			return
		}
		c.remove(id)
	}
	e, ok := c.vals.Get(&entry[K]{v: v})
	if !ok {
		e = &entry[K]{v: v}
		c.vals.Set(e)
	}
	e.add(id)
	c.fwd.set(id, e)
}

func (c *column[K]) remove(id uint32) {
	e := c.fwd.get(id)
	if e == nil {
		return
	}
	e.remove(id)
	if e.n == 0 {
		c.vals.Delete(e)
	}
	c.fwd.del(id)
}

// fwd maps thing ids to their entry in one column: a map while few of
// the ids have the tag, a slice indexed by id once a third of them do
// (8 bytes a thing instead of about 22).
type fwd[T comparable] struct {
	m   map[uint32]T
	d   []T
	n   int
	max uint32 // no id above it was ever set
}

func (f *fwd[T]) get(id uint32) T {
	if f.d != nil {
		if int(id) < len(f.d) {
			return f.d[id]
		}
		var zero T
		return zero
	}
	return f.m[id]
}

// set maps id to v, which is not the zero value.
func (f *fwd[T]) set(id uint32, v T) {
	var zero T
	f.max = max(f.max, id)
	if f.d != nil {
		if need := int(id) + 1; need > len(f.d) {
			old := len(f.d)
			f.d = slices.Grow(f.d, need-old)[:need]
			clear(f.d[old:])
		}
		if f.d[id] == zero {
			f.n++
		}
		f.d[id] = v
		return
	}
	if f.m == nil {
		f.m = map[uint32]T{}
	}
	f.m[id] = v
	f.n = len(f.m)
	if f.n >= denseMin && uint64(f.n)*3 >= uint64(f.max)+1 {
		f.d = make([]T, f.max+1)
		for k, v := range f.m {
			f.d[k] = v
		}
		f.m = nil
	}
}

func (f *fwd[T]) del(id uint32) {
	var zero T
	if f.d == nil {
		delete(f.m, id)
		f.n = len(f.m)
		return
	}
	if int(id) >= len(f.d) || f.d[id] == zero {
		return
	}
	f.d[id] = zero
	f.n--
	if uint64(f.n)*8 < uint64(len(f.d)) {
		f.m = make(map[uint32]T, f.n)
		for k, v := range f.d {
			if v != zero {
				f.m[uint32(k)] = v
			}
		}
		f.d = nil
	}
}

// itag is a searchable tag as read from SQL.
type itag struct {
	id   uint32
	name string // folded
	s    sql.NullString
	n    sql.NullFloat64
}

// ixdata is one version of the index; index swaps a new one in after a
// reload.
type ixdata struct {
	str  map[string]*column[string]
	num  map[string]*column[float64]
	all  *roaring.Bitmap // things with at least one searchable tag
	tags int
}

// addTo adds thing id's value v to the column name of cols, created if
// missing, and returns how many tags the column gained (none when the
// thing had a value under that name already: it is replaced).
func addTo[K cmp.Ordered](cols map[string]*column[K], name string, id uint32, v K) int {
	c := cols[name]
	if c == nil {
		c = newColumn[K]()
		cols[name] = c
	}
	n := c.fwd.n
	c.add(id, v)
	return c.fwd.n - n
}

func newIxdata() *ixdata {
	return &ixdata{str: map[string]*column[string]{}, num: map[string]*column[float64]{}, all: roaring.New()}
}

func (d *ixdata) put(t itag) {
	switch {
	case t.n.Valid:
		d.tags += addTo(d.num, t.name, t.id, t.n.Float64)
	case t.s.Valid:
		d.tags += addTo(d.str, t.name, t.id, t.s.String)
	default:
		return
	}
	d.all.Add(t.id)
}

// drop removes a thing. The index keeps no list of a thing's tags (it
// would cost more than all the rest for things with few tags), so it asks
// every column; tag names are few next to things.
func (d *ixdata) drop(id uint32) {
	if !d.all.CheckedRemove(id) {
		return
	}
	for name, c := range d.str {
		n := c.fwd.n
		c.remove(id)
		d.tags -= n - c.fwd.n
		if c.fwd.n == 0 {
			delete(d.str, name)
		}
	}
	for name, c := range d.num {
		n := c.fwd.n
		c.remove(id)
		d.tags -= n - c.fwd.n
		if c.fwd.n == 0 {
			delete(d.num, name)
		}
	}
}

// set replaces the things ids with what rows say (a thing without rows is
// not searchable).
func (d *ixdata) set(ids []uint32, rows []itag) {
	for _, id := range ids {
		d.drop(id)
	}
	for _, t := range rows {
		d.put(t)
	}
}

// bulk builds an ixdata from rows in any order: while loading, values
// are found by hash, not in the trees; at the end each column's distinct
// values are sorted and loaded into its tree at once, which packs its
// nodes.
type bulk struct {
	d   *ixdata
	str map[string]*bulkCol[string]
	num map[string]*bulkCol[float64]
}

type bulkCol[K cmp.Ordered] struct {
	c    *column[K]
	byV  map[K]*entry[K]
	seen []*entry[K] // in the order values first came: often sorted already
}

func newBulk() *bulk {
	return &bulk{d: newIxdata(), str: map[string]*bulkCol[string]{}, num: map[string]*bulkCol[float64]{}}
}

func (b *bulk) put(t *itag) {
	switch {
	case t.n.Valid:
		bulkAdd(b.num, b.d.num, t.name, t.id, t.n.Float64)
	case t.s.Valid:
		bulkAdd(b.str, b.d.str, t.name, t.id, t.s.String)
	default:
		return
	}
	b.d.tags++
	b.d.all.Add(t.id)
}

// bulkAdd adds thing id's value v to the loading column name of cols,
// created (and listed in the index's columns idx) if missing.
func bulkAdd[K cmp.Ordered](cols map[string]*bulkCol[K], idx map[string]*column[K], name string, id uint32, v K) {
	bc := cols[name]
	if bc == nil {
		bc = &bulkCol[K]{c: newColumn[K](), byV: map[K]*entry[K]{}}
		cols[name], idx[name] = bc, bc.c
	}
	bc.add(id, v)
}

// add adds a tag new to the column (the load reads each (thing, name)
// pair once).
func (bc *bulkCol[K]) add(id uint32, v K) {
	e := bc.byV[v]
	if e == nil {
		e = &entry[K]{v: v}
		bc.byV[v] = e
		bc.seen = append(bc.seen, e)
	}
	e.add(id)
	bc.c.fwd.set(id, e)
}

// finish sorts and loads the columns, two at a time (the serial numbers
// of a million things take a second alone).
func (b *bulk) finish() *ixdata {
	var jobs []func()
	for _, bc := range b.str {
		jobs = append(jobs, bc.finish)
	}
	for _, bc := range b.num {
		jobs = append(jobs, bc.finish)
	}
	work := make(chan func())
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for f := range work {
				f()
			}
		})
	}
	for _, f := range jobs {
		work <- f
	}
	close(work)
	wg.Wait()
	b.d.all.RunOptimize()
	return b.d
}

func (bc *bulkCol[K]) finish() {
	// Keys beside the pointers: sorting compares without following them.
	type kv struct {
		v K
		e *entry[K]
	}
	s := make([]kv, len(bc.seen))
	for i, e := range bc.seen {
		s[i] = kv{e.v, e}
	}
	bc.seen, bc.byV = nil, nil
	slices.SortFunc(s, func(a, b kv) int { return cmp.Compare(a.v, b.v) })
	for _, x := range s {
		bc.c.vals.Load(x.e)
		if x.e.more != nil && x.e.more.bm != nil {
			x.e.more.bm.RunOptimize()
		}
	}
	// The slice grew by a quarter at a time while loading.
	if bc.c.fwd.d != nil {
		bc.c.fwd.d = slices.Clone(bc.c.fwd.d)
	}
}

func (d *ixdata) values() int {
	n := 0
	for _, c := range d.str {
		n += c.vals.Len()
	}
	for _, c := range d.num {
		n += c.vals.Len()
	}
	return n
}
