package store

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"regexp/syntax"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

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

	name  string // folded
	parts []string
	re    *regexp.Regexp
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
	if o.Kind == OpMask && o.Wildcard == 0 {
		return fmt.Errorf("%w: strMask needs a wildcard character", ErrBadSearch)
	}
	return nil
}

// namesKey reports whether the operator names KEY, which makes the whole
// search empty (XEP-0347: searches on KEY never find things). A name
// wildcard that could match KEY does not: match skips KEY.
func (o *Operator) namesKey() bool {
	return o.NameWildcard == 0 && o.name == iotdisco.KeyTag
}

// tagRow is a tag as the matcher sees it.
type tagRow struct {
	name string // folded
	s    sql.NullString
	n    sql.NullFloat64
}

// match evaluates the operator on one record's tags.
func (o *Operator) match(tags []tagRow) bool {
	for i := range tags {
		t := &tags[i]
		if t.name == iotdisco.KeyTag {
			continue
		}
		if o.NameWildcard == 0 {
			if t.name != o.name {
				continue
			}
		} else if !mask(t.name, o.parts) {
			continue
		}
		if o.value(t) {
			return true
		}
	}
	return false
}

func (o *Operator) value(t *tagRow) bool {
	if o.Numeric {
		if !t.n.Valid {
			return false
		}
		v := t.n.Float64
		switch o.Kind {
		case OpEq:
			return v == o.Num
		case OpNEq:
			return v != o.Num
		case OpGt:
			return v > o.Num
		case OpGtEq:
			return v >= o.Num
		case OpLt:
			return v < o.Num
		case OpLtEq:
			return v <= o.Num
		case OpRange:
			return (v > o.NumMin || (o.MinIncluded && v == o.NumMin)) && (v < o.NumMax || (o.MaxIncluded && v == o.NumMax))
		case OpNRange:
			return (v < o.NumMin || (!o.MinIncluded && v == o.NumMin)) || (v > o.NumMax || (!o.MaxIncluded && v == o.NumMax))
		}
		return false
	}
	if !t.s.Valid {
		return false
	}
	v := t.s.String
	switch o.Kind {
	case OpEq:
		return v == o.Str
	case OpNEq:
		return v != o.Str
	case OpGt:
		return v > o.Str
	case OpGtEq:
		return v >= o.Str
	case OpLt:
		return v < o.Str
	case OpLtEq:
		return v <= o.Str
	case OpRange:
		return (v > o.StrMin || (o.MinIncluded && v == o.StrMin)) && (v < o.StrMax || (o.MaxIncluded && v == o.StrMax))
	case OpNRange:
		return (v < o.StrMin || (!o.MinIncluded && v == o.StrMin)) || (v > o.StrMax || (!o.MaxIncluded && v == o.StrMax))
	case OpMask:
		return mask(v, strings.Split(o.Str, string(o.Wildcard)))
	case OpRegEx:
		return o.re.MatchString(v)
	}
	return false
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

// pred is the operator as a SQL condition on the tag row alias t, and
// whether it is exact (no check left for Go). "" when the operator cannot
// use an index (a name wildcard).
func (o *Operator) pred(t string, a *args) (string, bool) {
	if o.NameWildcard != 0 {
		return "", false
	}
	col, val := t+".s", any(o.Str)
	lo, hi := any(o.StrMin), any(o.StrMax)
	if o.Numeric {
		col, val, lo, hi = t+".n", o.Num, o.NumMin, o.NumMax
	}
	w := t + ".name = " + a.add(o.name) + " AND "
	switch o.Kind {
	case OpEq:
		return w + col + " = " + a.add(val), true
	case OpNEq:
		return w + col + " <> " + a.add(val), true
	case OpGt:
		return w + col + " > " + a.add(val), true
	case OpGtEq:
		return w + col + " >= " + a.add(val), true
	case OpLt:
		return w + col + " < " + a.add(val), true
	case OpLtEq:
		return w + col + " <= " + a.add(val), true
	case OpRange:
		return w + col + pick(o.MinIncluded, " >= ", " > ") + a.add(lo) + " AND " + col + pick(o.MaxIncluded, " <= ", " < ") + a.add(hi), true
	case OpNRange:
		return w + "(" + col + pick(o.MinIncluded, " < ", " <= ") + a.add(lo) + " OR " + col + pick(o.MaxIncluded, " > ", " >= ") + a.add(hi) + ")", true
	case OpMask:
		parts := strings.Split(o.Str, string(o.Wildcard))
		if len(parts) == 1 {
			return w + col + " = " + a.add(o.Str), true
		}
		exact := len(parts) == 2 && parts[1] == ""
		return w + prefixRange(col, parts[0], a), exact
	case OpRegEx:
		prefix, complete := o.re.LiteralPrefix()
		if complete {
			return w + col + " = " + a.add(prefix), true
		}
		return w + prefixRange(col, prefix, a), false
	}
	return "", false
}

// prefixRange selects the values starting with p, through the index.
func prefixRange(col, p string, a *args) string {
	if p == "" {
		return col + " IS NOT NULL"
	}
	if s := successor(p); s != "" {
		return col + " >= " + a.add(p) + " AND " + col + " < " + a.add(s)
	}
	return col + " >= " + a.add(p)
}

func pick(c bool, a, b string) string {
	if c {
		return a
	}
	return b
}

// Found is one page of search results. Things carry their tags without
// KEY, sorted by name; Owner is set (legacy XEP-0347 results show it).
type Found struct {
	Things []*Thing
	More   bool
}

// estimateCap bounds how many index entries counting one operator reads:
// below it, the operator is selective enough to drive the search.
const estimateCap = 4096

// batch is how many candidates one keyset query fetches.
const batch = 512

// Search returns the visible records matching every operator (AND),
// skipping offset matches and returning at most max, with More set when
// further matches exist.
//
// Order: by the value of the first indexable operator's tag (numbers by
// value, strings by code point), then by record id; by record id when no
// operator is indexable (only name wildcards). The order depends on the
// request alone, so paging is stable while the records do not change.
//
// The plan: count, up to estimateCap, the index entries each indexable
// operator selects. When one selects fewer, it drives: its candidates are
// fetched at once and sorted. Otherwise the first indexable operator
// drives through its index, in order, one keyset page at a time. Other
// operators are EXISTS probes on the primary key; what SQL cannot express
// exactly (masks, regular expressions, name wildcards) is checked in Go.
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
	p, err := s.plan(ctx, ops)
	if err != nil {
		return nil, s.fail("search", err)
	}
	ids, more, err := s.run(ctx, p, ops, offset, max)
	if err != nil {
		if err == ErrTooBroad {
			return nil, err
		}
		return nil, s.fail("search", err)
	}
	things, err := s.load(ctx, ids)
	if err != nil {
		return nil, s.fail("search", err)
	}
	return &Found{Things: things, More: more}, nil
}

type plan struct {
	order  int // the operator whose value orders results; -1: record id
	driver int // the operator whose index selects candidates
	small  bool
	// residual: operators SQL does not decide exactly; onValue: the only
	// one is the order operator, checked on the fetched value.
	residual, onValue bool
}

func (s *Store) plan(ctx context.Context, ops []Operator) (plan, error) {
	p := plan{order: -1, driver: -1}
	var inexact []int
	for i := range ops {
		cond, exact := ops[i].pred("x", &args{})
		if cond != "" && p.order < 0 {
			p.order = i
		}
		if !exact {
			inexact = append(inexact, i)
		}
	}
	p.residual = len(inexact) > 0
	p.onValue = len(inexact) == 1 && inexact[0] == p.order
	if p.order < 0 {
		return p, nil
	}
	// One round trip counts every indexable operator, each up to the cap.
	a := &args{}
	var cols []string
	var idx []int
	for i := range ops {
		cond, _ := ops[i].pred("x", a)
		if cond == "" {
			continue
		}
		cols = append(cols, "(SELECT COUNT(*) FROM (SELECT 1 FROM registry_tags x WHERE x.vis = 1 AND "+cond+
			" LIMIT "+strconv.Itoa(estimateCap)+") c"+strconv.Itoa(i)+")")
		idx = append(idx, i)
	}
	counts := make([]int64, len(cols))
	dest := make([]any, len(cols))
	for i := range counts {
		dest[i] = &counts[i]
	}
	if err := s.r.QueryRowContext(ctx, "SELECT "+strings.Join(cols, ", "), a.v...).Scan(dest...); err != nil {
		return p, err
	}
	best := int64(estimateCap)
	for j, n := range counts {
		if n < best {
			best, p.driver, p.small = n, idx[j], true
		}
	}
	if !p.small {
		p.driver = p.order
	}
	return p, nil
}

// query builds the candidate query, which yields (thing id, s, n) with s
// and n the order operator's value. With keyset, the last two arguments
// are the previous page's last value and id.
func (p plan) query(ops []Operator, keyset bool) (string, *args) {
	a := &args{}
	var q strings.Builder
	if p.order < 0 {
		q.WriteString("SELECT t.id, NULL, NULL FROM registry_things t WHERE t.vis = 1")
		if keyset {
			q.WriteString(" AND t.id > " + a.add(int64(0)))
		}
		q.WriteString(" ORDER BY t.id LIMIT " + strconv.Itoa(batch))
		return q.String(), a
	}
	cond, _ := ops[p.driver].pred("x", a)
	val := "x"
	if p.driver != p.order {
		val = "k"
		kc, _ := ops[p.order].pred("k", a)
		// CROSS JOIN keeps the driver as the outer loop on SQLite, whose
		// statistics average over all tag names (unique serial numbers
		// make any (name, value) look selective); PostgreSQL plans it
		// from per-value statistics either way.
		q.WriteString("SELECT x.thing_id, k.s, k.n FROM registry_tags x CROSS JOIN registry_tags k WHERE k.thing_id = x.thing_id AND " + kc + " AND")
	} else {
		q.WriteString("SELECT x.thing_id, x.s, x.n FROM registry_tags x WHERE")
	}
	q.WriteString(" x.vis = 1 AND " + cond)
	for i := range ops {
		if i == p.driver || i == p.order {
			continue
		}
		cond, _ := ops[i].pred("y", a)
		if cond == "" {
			continue
		}
		q.WriteString(" AND EXISTS (SELECT 1 FROM registry_tags y WHERE y.thing_id = x.thing_id AND " + cond + ")")
	}
	if p.small {
		return q.String(), a
	}
	col := val + ".s"
	if ops[p.order].Numeric {
		col = val + ".n"
	}
	if keyset {
		q.WriteString(" AND (" + col + ", x.thing_id) > (" + a.add(nil) + ", " + a.add(int64(0)) + ")")
	}
	q.WriteString(" ORDER BY " + col + ", x.thing_id LIMIT " + strconv.Itoa(batch))
	return q.String(), a
}

// cand is a candidate record with the order operator's value.
type cand struct {
	id int64
	t  tagRow
}

func less(a, b cand) bool {
	switch {
	case a.t.n.Valid && b.t.n.Valid && a.t.n.Float64 != b.t.n.Float64:
		return a.t.n.Float64 < b.t.n.Float64
	case a.t.s.Valid && b.t.s.Valid && a.t.s.String != b.t.s.String:
		return a.t.s.String < b.t.s.String
	}
	return a.id < b.id
}

// run walks candidates in order and collects one page of matches.
func (s *Store) run(ctx context.Context, p plan, ops []Operator, offset, max int) (page []int64, more bool, err error) {
	matched, scanned := 0, 0
	// take checks a batch of candidates; full when the page is full and
	// one more match proved More.
	take := func(cs []cand) (full bool, err error) {
		scanned += len(cs)
		if scanned > s.o.MaxScan+estimateCap {
			return false, ErrTooBroad
		}
		var tags map[int64][]tagRow
		if p.residual && !p.onValue {
			ids := make([]int64, len(cs))
			for i, c := range cs {
				ids[i] = c.id
			}
			if tags, err = s.tagRows(ctx, ids); err != nil {
				return false, err
			}
		}
		for _, c := range cs {
			switch {
			case p.onValue:
				if !ops[p.order].value(&c.t) {
					continue
				}
			case p.residual:
				if !matchAll(ops, tags[c.id]) {
					continue
				}
			}
			if matched >= offset {
				if len(page) == max {
					return true, nil
				}
				page = append(page, c.id)
			}
			matched++
		}
		return false, nil
	}

	if p.small {
		q, a := p.query(ops, false)
		cs, err := s.cands(ctx, q, a.v)
		if err != nil {
			return nil, false, err
		}
		sort.Slice(cs, func(i, j int) bool { return less(cs[i], cs[j]) })
		for len(cs) > 0 {
			n := min(len(cs), batch)
			full, err := take(cs[:n])
			if err != nil || full {
				return page, full, err
			}
			cs = cs[n:]
		}
		return page, false, nil
	}
	q, a := p.query(ops, false)
	next, na := p.query(ops, true)
	for {
		cs, err := s.cands(ctx, q, a.v)
		if err != nil {
			return nil, false, err
		}
		full, err := take(cs)
		if err != nil || full {
			return page, full, err
		}
		if len(cs) < batch {
			return page, false, nil
		}
		last := cs[len(cs)-1]
		q, a = next, na
		if p.order < 0 {
			a.v[len(a.v)-1] = last.id
			continue
		}
		if ops[p.order].Numeric {
			a.v[len(a.v)-2] = last.t.n.Float64
		} else {
			a.v[len(a.v)-2] = last.t.s.String
		}
		a.v[len(a.v)-1] = last.id
	}
}

func (s *Store) cands(ctx context.Context, q string, a []any) ([]cand, error) {
	rows, err := s.r.QueryContext(ctx, q, a...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []cand
	for rows.Next() {
		var c cand
		if err := rows.Scan(&c.id, &c.t.s, &c.t.n); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func matchAll(ops []Operator, tags []tagRow) bool {
	for i := range ops {
		if !ops[i].match(tags) {
			return false
		}
	}
	return true
}

func inList(ids []int64, a *args) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(a.add(id))
	}
	return b.String()
}

func (s *Store) tagRows(ctx context.Context, ids []int64) (map[int64][]tagRow, error) {
	a := &args{}
	rows, err := s.r.QueryContext(ctx, "SELECT thing_id, name, s, n FROM registry_tags WHERE thing_id IN ("+inList(ids, a)+")", a.v...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[int64][]tagRow, len(ids))
	for rows.Next() {
		var id int64
		var t tagRow
		if err := rows.Scan(&id, &t.name, &t.s, &t.n); err != nil {
			return nil, err
		}
		out[id] = append(out[id], t)
	}
	return out, rows.Err()
}

// load reads records and their tags (KEY left out), in ids' order.
func (s *Store) load(ctx context.Context, ids []int64) ([]*Thing, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	a := &args{}
	rows, err := s.r.QueryContext(ctx, "SELECT "+thingCols+" FROM registry_things WHERE id IN ("+inList(ids, a)+")", a.v...)
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
	a = &args{}
	rows, err = s.r.QueryContext(ctx, "SELECT thing_id, label, s, n FROM registry_tags WHERE thing_id IN ("+inList(ids, a)+") AND name <> 'KEY' ORDER BY thing_id, name", a.v...)
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
	out := make([]*Thing, 0, len(ids))
	for _, id := range ids {
		if t := byID[id]; t != nil {
			out = append(out, t)
		}
	}
	return out, rows.Err()
}
