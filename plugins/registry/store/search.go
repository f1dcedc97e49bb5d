package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/extasis/extasis/sdk/iotdisco"
)

// OpKind is a search operator (digest §5.5); Operator.Numeric picks the
// str or num family.
type OpKind uint8

const (
	OpEq OpKind = iota + 1
	OpNEq
	OpGt
	OpGtEq
	OpLt
	OpLtEq
	OpRange
	OpNRange
	OpMask  // strings only
	OpRegEx // strings only
)

// Limits on regular expressions: RE2 (Go's regexp) matches in linear
// time, and these bound the size of what runs per value.
const (
	MaxRegExLen  = 256
	MaxRegExInst = 2000
)

// Operator is one search condition. A record matches when it has a tag
// of the operator's type whose name matches and whose value satisfies it;
// a record lacking the tag never matches (NEq and NRange included).
type Operator struct {
	Kind    OpKind
	Numeric bool
	// Name is the tag name, case-insensitive. With NameWildcard set, that
	// character in Name stands for any sequence, and any tag whose name
	// matches may satisfy the operator.
	Name         string
	NameWildcard rune
	// Str and Num are the operand of the single-value operators; Str is
	// also the pattern of OpMask (with Wildcard) and OpRegEx.
	Str      string
	Num      float64
	Wildcard rune
	// Range bounds: Min <(=) v <(=) Max for OpRange, v <(=) Min or
	// v >(=) Max for OpNRange. An included endpoint belongs to the range.
	StrMin, StrMax           string
	NumMin, NumMax           float64
	MinIncluded, MaxIncluded bool

	name   string   // folded
	parts  []string // Name around NameWildcard, folded
	vparts []string // OpMask: Str around Wildcard
	re     *regexp.Regexp
}

// CompileRegEx checks a strRegEx pattern against the limits and compiles
// it to match whole values.
func CompileRegEx(p string) (*regexp.Regexp, error) {
	if len(p) > MaxRegExLen {
		return nil, fmt.Errorf("%w: regular expression longer than %d bytes", ErrBadSearch, MaxRegExLen)
	}
	re, err := syntax.Parse(p, syntax.Perl)
	if err != nil {
		return nil, fmt.Errorf("%w: regular expression: %w", ErrBadSearch, err)
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil, fmt.Errorf("%w: regular expression: %w", ErrBadSearch, err)
	}
	if len(prog.Inst) > MaxRegExInst {
		return nil, fmt.Errorf("%w: regular expression too complex (%d instructions, at most %d)", ErrBadSearch, len(prog.Inst), MaxRegExInst)
	}
	return regexp.Compile(`^(?:` + p + `)$`)
}

// prepare folds the name and compiles patterns.
func (o *Operator) prepare() error {
	if o.Kind < OpEq || o.Kind > OpRegEx {
		return fmt.Errorf("%w: unknown operator", ErrBadSearch)
	}
	if o.Numeric && (o.Kind == OpMask || o.Kind == OpRegEx) {
		return fmt.Errorf("%w: masks and regular expressions apply to strings", ErrBadSearch)
	}
	for _, v := range []string{o.Name, o.Str, o.StrMin, o.StrMax} {
		if !utf8.ValidString(v) {
			return fmt.Errorf("%w: operands must be UTF-8", ErrBadSearch)
		}
	}
	o.name = iotdisco.Fold(o.Name)
	o.parts = nil
	if o.NameWildcard != 0 {
		for _, p := range strings.Split(o.Name, string(o.NameWildcard)) {
			o.parts = append(o.parts, iotdisco.Fold(p))
		}
	}
	if o.Kind == OpRegEx {
		re, err := CompileRegEx(o.Str)
		if err != nil {
			return err
		}
		o.re = re
	}
	if o.Kind == OpMask {
		if o.Wildcard == 0 {
			return fmt.Errorf("%w: strMask needs a wildcard character", ErrBadSearch)
		}
		o.vparts = strings.Split(o.Str, string(o.Wildcard))
	}
	return nil
}

// namesKey reports whether the operator names KEY, which makes the whole
// search empty (XEP-0347: searches on KEY never find things). A name
// wildcard that could match KEY does not: the index holds no KEY.
func (o *Operator) namesKey() bool {
	return o.NameWildcard == 0 && o.name == iotdisco.KeyTag
}

// matchNum evaluates a numeric operator on one value.
func (o *Operator) matchNum(v float64) bool {
	m, _ := matchOrdered(o, v, o.Num, o.NumMin, o.NumMax)
	return m
}

// matchStr evaluates a string operator on one value.
func (o *Operator) matchStr(v string) bool {
	if m, ok := matchOrdered(o, v, o.Str, o.StrMin, o.StrMax); ok {
		return m
	}
	switch o.Kind {
	case OpMask:
		return mask(v, o.vparts)
	case OpRegEx:
		return o.re.MatchString(v)
	}
	return false
}

// matchOrdered evaluates the comparisons numbers and strings share, with
// x the operand and lo, hi a range's bounds; ok is false for any other
// kind of operator.
func matchOrdered[K cmp.Ordered](o *Operator, v, x, lo, hi K) (match, ok bool) {
	switch o.Kind {
	case OpEq:
		return v == x, true
	case OpNEq:
		return v != x, true
	case OpGt:
		return v > x, true
	case OpGtEq:
		return v >= x, true
	case OpLt:
		return v < x, true
	case OpLtEq:
		return v <= x, true
	case OpRange:
		return (v > lo || (o.MinIncluded && v == lo)) && (v < hi || (o.MaxIncluded && v == hi)), true
	case OpNRange:
		return (v < lo || (!o.MinIncluded && v == lo)) || (v > hi || (!o.MaxIncluded && v == hi)), true
	}
	return false, false
}

// mask matches v against literal parts separated by an any-sequence
// wildcard. Leftmost matching of the middle parts is enough: with only
// one kind of wildcard, an earlier match never prevents a later one.
func mask(v string, parts []string) bool {
	if len(parts) == 1 {
		return v == parts[0]
	}
	if !strings.HasPrefix(v, parts[0]) {
		return false
	}
	v = v[len(parts[0]):]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(v, mid)
		if i < 0 {
			return false
		}
		v = v[i+len(mid):]
	}
	return strings.HasSuffix(v, parts[len(parts)-1])
}

// successor is the least string greater than every string starting with
// p, in code point order; "" if there is none.
func successor(p string) string {
	r := []rune(p)
	for len(r) > 0 {
		last := r[len(r)-1]
		if last < utf8.MaxRune {
			last++
			if last >= 0xD800 && last <= 0xDFFF {
				last = 0xE000
			}
			r[len(r)-1] = last
			return string(r)
		}
		r = r[:len(r)-1]
	}
	return ""
}

// args numbers placeholders across one query.
type args struct{ v []any }

func (a *args) add(v any) string {
	a.v = append(a.v, v)
	return "$" + strconv.Itoa(len(a.v))
}

// span is an interval of values; an end that is not set is unbounded.
type span[K cmp.Ordered] struct {
	lo, hi         K
	hasLo, hasHi   bool
	loIncl, hiIncl bool
}

func (s span[K]) point() bool { return s.hasLo && s.hasHi && s.loIncl && s.hiIncl && s.lo == s.hi }

// spans returns intervals holding every value that satisfies the
// operator, given its operand v or bounds lo and hi; possibly more (the
// operator's own test runs on every value visited).
func spans[K cmp.Ordered](o *Operator, v, lo, hi K) []span[K] {
	switch o.Kind {
	case OpEq:
		return []span[K]{{lo: v, hi: v, hasLo: true, hasHi: true, loIncl: true, hiIncl: true}}
	case OpNEq:
		return []span[K]{{hi: v, hasHi: true}, {lo: v, hasLo: true}}
	case OpGt:
		return []span[K]{{lo: v, hasLo: true}}
	case OpGtEq:
		return []span[K]{{lo: v, hasLo: true, loIncl: true}}
	case OpLt:
		return []span[K]{{hi: v, hasHi: true}}
	case OpLtEq:
		return []span[K]{{hi: v, hasHi: true, hiIncl: true}}
	case OpRange:
		return []span[K]{{lo: lo, hi: hi, hasLo: true, hasHi: true, loIncl: o.MinIncluded, hiIncl: o.MaxIncluded}}
	case OpNRange:
		// Disjoint only when lo < hi; otherwise every value may match.
		if lo < hi {
			return []span[K]{{hi: lo, hasHi: true, hiIncl: !o.MinIncluded}, {lo: hi, hasLo: true, loIncl: !o.MaxIncluded}}
		}
	}
	return []span[K]{{}}
}

// strSpans is spans for a string operator: a mask or a regular
// expression visits the values that start with its literal prefix.
func (o *Operator) strSpans() []span[string] {
	prefix := func(p string) []span[string] {
		sp := span[string]{lo: p, hasLo: true, loIncl: true}
		if s := successor(p); s != "" {
			sp.hi, sp.hasHi = s, true
		}
		return []span[string]{sp}
	}
	switch o.Kind {
	case OpMask:
		if len(o.vparts) == 1 {
			return spans(&Operator{Kind: OpEq}, o.Str, "", "")
		}
		return prefix(o.vparts[0])
	case OpRegEx:
		p, complete := o.re.LiteralPrefix()
		if complete {
			return spans(&Operator{Kind: OpEq}, p, "", "")
		}
		return prefix(p)
	}
	return spans(o, o.Str, o.StrMin, o.StrMax)
}

// view is an operator bound to one column of its type.
type view interface {
	// small returns the matching things when there are at most limit,
	// found by visiting at most limit values; the bitmap must not be
	// modified.
	small(limit int) (*roaring.Bitmap, bool)
	// single reports that every match has the same value.
	single() bool
	// count is the number of things in the column.
	count() int
	has(id uint32) bool
	// walk calls f with the matches in result order (value, then id)
	// until f returns false or the budget runs out.
	walk(b *budget, f func(id uint32) bool)
	// sort puts matches in result order.
	sort(ids []uint32)
}

type colView[K cmp.Ordered] struct {
	c     *column[K]
	spans []span[K]
	test  func(K) bool
}

var (
	_ view = (*colView[string])(nil)
	_ view = (*colView[float64])(nil)
)

func (v *colView[K]) single() bool { return len(v.spans) == 1 && v.spans[0].point() }

func (v *colView[K]) count() int { return v.c.fwd.n }

func (v *colView[K]) has(id uint32) bool {
	e := v.c.fwd.get(id)
	return e != nil && v.test(e.v)
}

// entries calls f with the entries in the spans, in order, until f
// returns false, and reports whether it got to the end.
func (v *colView[K]) entries(f func(e *entry[K]) bool) bool {
	for _, sp := range v.spans {
		ok := true
		visit := func(e *entry[K]) bool {
			if sp.hasLo && !sp.loIncl && e.v == sp.lo {
				return true
			}
			if sp.hasHi && (e.v > sp.hi || (!sp.hiIncl && e.v == sp.hi)) {
				return false
			}
			ok = f(e)
			return ok
		}
		if sp.hasLo {
			v.c.vals.Ascend(&entry[K]{v: sp.lo}, visit)
		} else {
			v.c.vals.Scan(visit)
		}
		if !ok {
			return false
		}
	}
	return true
}

func (v *colView[K]) small(limit int) (*roaring.Bitmap, bool) {
	if v.single() {
		e, ok := v.c.vals.Get(&entry[K]{v: v.spans[0].lo})
		if !ok || !v.test(e.v) {
			return roaring.New(), true
		}
		return e.bitmap(), true
	}
	var ids []uint32
	visited := 0
	if !v.entries(func(e *entry[K]) bool {
		if visited++; visited > limit {
			return false
		}
		if !v.test(e.v) {
			return true
		}
		if len(ids)+int(e.n) > limit {
			return false
		}
		e.each(func(id uint32) bool {
			ids = append(ids, id)
			return true
		})
		return true
	}) {
		return nil, false
	}
	slices.Sort(ids)
	return roaring.BitmapOf(ids...), true
}

func (v *colView[K]) walk(b *budget, f func(id uint32) bool) {
	v.entries(func(e *entry[K]) bool {
		if !b.spend() {
			return false
		}
		if !v.test(e.v) {
			return true
		}
		return e.each(func(id uint32) bool { return b.spend() && f(id) })
	})
}

func (v *colView[K]) sort(ids []uint32) {
	type kv struct {
		v  K
		id uint32
	}
	s := make([]kv, len(ids))
	for i, id := range ids {
		s[i] = kv{v.c.fwd.get(id).v, id}
	}
	slices.SortFunc(s, func(a, b kv) int {
		if c := cmp.Compare(a.v, b.v); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	for i := range s {
		ids[i] = s[i].id
	}
}

// views binds an operator to the columns it reads: its tag's column of
// its type, or with a name wildcard every column whose name matches.
func (d *ixdata) views(o *Operator) []view {
	var out []view
	if o.Numeric {
		bind := func(c *column[float64]) {
			out = append(out, &colView[float64]{c: c, spans: spans(o, o.Num, o.NumMin, o.NumMax), test: o.matchNum})
		}
		if o.NameWildcard == 0 {
			if c := d.num[o.name]; c != nil {
				bind(c)
			}
			return out
		}
		for name, c := range d.num {
			if mask(name, o.parts) {
				bind(c)
			}
		}
		return out
	}
	bind := func(c *column[string]) {
		out = append(out, &colView[string]{c: c, spans: o.strSpans(), test: o.matchStr})
	}
	if o.NameWildcard == 0 {
		if c := d.str[o.name]; c != nil {
			bind(c)
		}
		return out
	}
	for name, c := range d.str {
		if mask(name, o.parts) {
			bind(c)
		}
	}
	return out
}

// budget counts what a search examines: values visited and things
// checked.
type budget struct{ left int }

func (b *budget) spend() bool {
	b.left--
	return b.left >= 0
}

// pager keeps one page of matches in result order.
type pager struct {
	offset, max, matched int
	page                 []int64
	more                 bool
}

// add takes the next match; true when the page is full and one more
// match proved More.
func (p *pager) add(id uint32) bool {
	if p.matched >= p.offset {
		if len(p.page) == p.max {
			p.more = true
			return true
		}
		p.page = append(p.page, int64(id))
	}
	p.matched++
	return false
}

// cond is one operator during a search.
type cond struct {
	views []view
	set   *roaring.Bitmap // its matches, when few (or one value)
}

func (c *cond) has(id uint32) bool {
	for _, v := range c.views {
		if v.has(id) {
			return true
		}
	}
	return false
}

// Found is one page of search results. Things carry their tags without
// KEY, sorted by name; Owner is set (legacy XEP-0347 results show it).
type Found struct {
	Things []*Thing
	More   bool
}

// collectMax is how many matches an operator may have and still be
// collected into a set up front; beyond, it is checked thing by thing.
const collectMax = 4096

// Search returns the visible records matching every operator (AND),
// skipping offset matches and returning at most max, with More set when
// further matches exist.
//
// Order: by the value of the first indexable operator's tag (numbers by
// value, strings by code point), then by record id; by record id when no
// operator is indexable (only name wildcards). The order depends on the
// request alone, so paging is stable while the records do not change.
//
// The search runs on the in-memory index (index.go); only the page of
// results is read from SQL.
func (s *Store) Search(ctx context.Context, ops []Operator, offset, max int) (*Found, error) {
	if len(ops) == 0 {
		return nil, fmt.Errorf("%w: no operator", ErrBadSearch)
	}
	if max <= 0 || offset < 0 {
		return &Found{}, nil
	}
	for i := range ops {
		if err := ops[i].prepare(); err != nil {
			return nil, err
		}
		if ops[i].namesKey() {
			return &Found{}, nil
		}
	}
	if err := s.ix.wait(ctx); err != nil {
		if errors.Is(err, ErrNotReady) {
			return nil, err
		}
		return nil, s.fail("search", err)
	}
	s.ix.mu.RLock()
	ids, more, _, err := s.ix.d.search(ops, offset, max, s.o.MaxScan)
	s.ix.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	things, err := s.page(ctx, ids)
	if err != nil {
		return nil, s.fail("search", err)
	}
	return &Found{Things: things, More: more}, nil
}

// search finds one page of matches.
//
// Every indexable operator with few matches (at most collectMax, or one
// value: its posting) becomes a set, and the sets are intersected. Then:
// when the order operator is one value, the intersection is already in
// result order; when it is small, or cheaper to sort than to find by
// walking, it is checked and sorted; otherwise the order operator's
// values are walked in order, each thing checked against the
// intersection and the other operators. Name wildcards are checked thing
// by thing. What is examined beyond the sets is bounded by maxScan
// (ErrTooBroad).
func (d *ixdata) search(ops []Operator, offset, max, maxScan int) (page []int64, more bool, tr trace, err error) {
	conds := make([]cond, len(ops))
	order := -1
	var r *roaring.Bitmap
	for i := range ops {
		c := &conds[i]
		if c.views = d.views(&ops[i]); len(c.views) == 0 {
			return nil, false, trace{path: "none"}, nil // no thing has the tag
		}
		if ops[i].NameWildcard != 0 {
			continue
		}
		if order < 0 {
			order = i
		}
		set, ok := c.views[0].small(collectMax)
		if !ok {
			continue
		}
		c.set = set
		if r == nil {
			r = set
		} else {
			r = roaring.And(r, set)
		}
		if r.IsEmpty() {
			return nil, false, trace{path: "none"}, nil
		}
	}
	var rest []*cond // what r does not decide
	for i := range conds {
		if conds[i].set == nil {
			rest = append(rest, &conds[i])
		}
	}
	check := func(id uint32, skip *cond) bool {
		for _, c := range rest {
			if c != skip && !c.has(id) {
				return false
			}
		}
		return true
	}
	pg := &pager{offset: offset, max: max}
	b := &budget{left: maxScan + collectMax}
	each := func(set *roaring.Bitmap) {
		set.Iterate(func(id uint32) bool {
			if !b.spend() {
				return false
			}
			return !check(id, nil) || !pg.add(id)
		})
	}
	sorted := func(ord view) {
		var ids []uint32
		r.Iterate(func(id uint32) bool {
			if !b.spend() {
				return false
			}
			if check(id, nil) {
				ids = append(ids, id)
			}
			return true
		})
		ord.sort(ids)
		for _, id := range ids {
			if pg.add(id) {
				break
			}
		}
	}
	switch {
	case order < 0:
		tr.path = "all"
		each(d.all)
	case conds[order].set != nil && conds[order].views[0].single():
		tr.path = "set"
		each(r)
	default:
		ord := &conds[order]
		if r != nil {
			// Walking finds about one match in count/card values.
			card := float64(r.GetCardinality())
			walk := (float64(offset) + float64(max) + 1) * float64(ord.views[0].count()) / card
			if card <= collectMax || card <= walk {
				tr.path = "sort"
				sorted(ord.views[0])
				break
			}
		}
		tr.path = "walk"
		ord.views[0].walk(b, func(id uint32) bool {
			if r != nil && !r.Contains(id) {
				return true
			}
			return !check(id, ord) || !pg.add(id)
		})
		// The walk met too few of r: sorting r may still fit.
		if b.left < 0 && r != nil && r.GetCardinality() <= uint64(maxScan+collectMax) {
			tr.path, tr.examined = "walk+sort", maxScan+collectMax
			pg = &pager{offset: offset, max: max}
			b = &budget{left: maxScan + collectMax}
			sorted(ord.views[0])
		}
	}
	if b.left < 0 {
		tr.examined += maxScan + collectMax
		return nil, false, tr, ErrTooBroad
	}
	tr.examined += maxScan + collectMax - b.left
	return pg.page, pg.more, tr, nil
}

// trace says how a search ran, for tests: the path taken (none, all,
// set, sort, walk or walk+sort) and how many values and things it
// examined beyond the sets.
type trace struct {
	path     string
	examined int
}

// The SQL a search runs: its page of records, then their tags, by
// primary key ({{ids}} is the list of ids). Two queries rather than a
// join, which would repeat every record's columns on each of its tags:
// a quarter faster, and less than half the garbage.
const (
	qPage     = "SELECT " + thingCols + " FROM registry_things WHERE id IN ({{ids}}) AND vis = 1"
	qPageTags = "SELECT thing_id, label, s, n FROM registry_tags WHERE thing_id IN ({{ids}}) AND name <> 'KEY' ORDER BY thing_id, name"
)

// inIDs puts ids into a query's {{ids}} as placeholders.
func inIDs[T int64 | uint32](q string, ids []T) (string, []any) {
	a := &args{}
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(a.add(int64(id)))
	}
	return strings.Replace(q, "{{ids}}", b.String(), 1), a.v
}

// page reads records and their tags (KEY left out), in ids' order. A
// record that stopped being visible since the index said it matched is
// left out.
func (s *Store) page(ctx context.Context, ids []int64) ([]*Thing, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	q, a := inIDs(qPage, ids)
	rows, err := s.r.QueryContext(ctx, q, a...)
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]*Thing, len(ids))
	for rows.Next() {
		t, err := scanThing(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		byID[t.ID] = t
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	q, a = inIDs(qPageTags, ids)
	rows, err = s.r.QueryContext(ctx, q, a...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		t, err := scanTag(rows, &id)
		if err != nil {
			return nil, err
		}
		if th := byID[id]; th != nil {
			th.Tags = append(th.Tags, t)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]*Thing, 0, len(ids))
	for _, id := range ids {
		if t := byID[id]; t != nil {
			out = append(out, t)
		}
	}
	return out, nil
}
