package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"sort"

	"github.com/extasis/extasis/sdk/iotdisco"
)

// State is a record's place in the registry's state machine.
type State int8

const (
	Unclaimed State = 0
	Claimed   State = 1
	// Removed: claimed, but withdrawn from searches by the owner.
	Removed State = 2
)

func (s State) String() string {
	switch s {
	case Unclaimed:
		return "unclaimed"
	case Claimed:
		return "claimed"
	case Removed:
		return "removed"
	}
	return "unknown"
}

// Node addresses a thing behind a concentrator: node id, source and
// partition (id, src, pt). The zero Node is the JID itself.
type Node struct{ ID, Source, Partition string }

// Ref is a record's identity: the thing's bare JID and node.
type Ref struct {
	JID string
	Node
}

// Thing is one record.
type Thing struct {
	ID int64
	Ref
	State     State
	Owner     string // bare JID; the thing itself when self-owned; "" unclaimed
	Public    bool
	SelfOwned bool
	NS        string // the namespace the thing last used, for notifications
	Tags      []iotdisco.Tag
}

// Visible reports whether searches see the record.
func (t *Thing) Visible() bool { return t.State == Claimed && t.Public }

// Event names published through the outbox (core/event documents them).
const (
	EventClaimed  = "thing.claimed"
	EventDisowned = "thing.disowned"
)

// Notification kinds: the element sent to the thing.
const (
	NotifyClaimed  = "claimed"
	NotifyRemoved  = "removed"
	NotifyDisowned = "disowned"
)

// Digest is the SHA-256 of a tag set in canonical form: names folded and
// sorted, strings exact, numbers by value (3.1 and 3.10 are one number).
// A claim matches a record with the same digest.
func Digest(tags []iotdisco.Tag) string {
	type kv struct{ name, kind, value string }
	c := make([]kv, 0, len(tags))
	for _, t := range tags {
		e := kv{name: iotdisco.Fold(t.Name), kind: "s", value: t.Value}
		if t.Numeric {
			f, _ := iotdisco.ParseNumber(t.Value)
			e.kind, e.value = "n", iotdisco.FormatNumber(f)
		}
		c = append(c, e)
	}
	sort.Slice(c, func(i, j int) bool { return c[i].name < c[j].name })
	h := sha256.New()
	for _, e := range c {
		// Lengths first: no value can forge a boundary.
		h.Write([]byte(e.kind))
		writeLen(h, e.name)
		writeLen(h, e.value)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func writeLen(h interface{ Write([]byte) (int, error) }, s string) {
	var b [4]byte
	n := len(s)
	b[0], b[1], b[2], b[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	h.Write(b[:])
	h.Write([]byte(s))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// wtx is a write transaction that notes the things whose searchable
// state it may change.
type wtx struct {
	*sql.Tx
	// touched: thing id -> 1 visible at commit, -1 not visible (deleted,
	// or its row written invisible by this transaction, which holds the
	// row until it commits), 0 to be read.
	touched map[int64]int8
}

// touch notes that a thing's tags changed.
func (tx *wtx) touch(id int64) {
	if _, ok := tx.touched[id]; !ok {
		tx.touched[id] = 0
	}
}

// visible notes a thing's visibility as this transaction leaves it.
func (tx *wtx) visible(id int64, vis bool) {
	tx.touched[id] = int8(2*b2i(vis) - 1)
}

// tx runs f in a write transaction and brings the search index up to
// date with what it committed.
//
// The things f touched are read again inside the transaction, after f
// wrote their registry_things row (every write that changes tags or
// visibility does, which on PostgreSQL holds the row until commit), so
// that what is read is what commits; it is applied right after the commit
// under the things' commit stripes, in commit order.
func (s *Store) tx(ctx context.Context, op string, f func(tx *wtx) error) error {
	sqlTx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(op, err)
	}
	defer sqlTx.Rollback()
	tx := &wtx{Tx: sqlTx, touched: map[int64]int8{}}
	if err := f(tx); err != nil {
		if isProtocol(err) {
			return err
		}
		return s.fail(op, err)
	}
	if len(tx.touched) == 0 {
		return s.fail(op, sqlTx.Commit())
	}
	ids := make([]uint32, 0, len(tx.touched))
	var read []uint32
	for id, vis := range tx.touched {
		u, err := thingID(id)
		if err != nil {
			return err
		}
		ids = append(ids, u)
		if vis >= 0 {
			read = append(read, u)
		}
	}
	rows, err := searchable(ctx, tx, read)
	if err != nil {
		return s.fail(op, err)
	}
	unlock := s.ix.lock(ids)
	defer unlock()
	if err := sqlTx.Commit(); err != nil {
		s.ix.hide(ids)
		return s.fail(op, err)
	}
	s.ix.apply(ids, rows)
	return nil
}

func isProtocol(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) || errors.Is(err, ErrLimit)
}

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}

const thingCols = "id, jid, nid, src, pt, state, owner, public, self_owned, ns"

// scanThing reads thingCols and then extra.
func scanThing(row interface{ Scan(...any) error }, extra ...any) (*Thing, error) {
	var t Thing
	var pub, self int
	err := row.Scan(append([]any{&t.ID, &t.JID, &t.Node.ID, &t.Source, &t.Partition, &t.State, &t.Owner, &pub, &self, &t.NS}, extra...)...)
	if err != nil {
		return nil, err
	}
	t.Public, t.SelfOwned = pub == 1, self == 1
	return &t, nil
}

// byRef loads a record without its tags; ErrNotFound if none.
func byRef(ctx context.Context, q querier, r Ref) (*Thing, error) {
	t, err := scanThing(q.QueryRowContext(ctx, "SELECT "+thingCols+
		" FROM registry_things WHERE jid = $1 AND nid = $2 AND src = $3 AND pt = $4", r.JID, r.Node.ID, r.Source, r.Partition))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return t, err
}

// Get returns a record with its tags (KEY included while unclaimed).
func (s *Store) Get(ctx context.Context, r Ref) (*Thing, error) {
	t, err := byRef(ctx, s.r, r)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, s.fail("get", err)
	}
	if t.Tags, err = loadTags(ctx, s.r, t.ID); err != nil {
		return nil, s.fail("get", err)
	}
	return t, nil
}

func loadTags(ctx context.Context, q querier, id int64) ([]iotdisco.Tag, error) {
	rows, err := q.QueryContext(ctx, "SELECT label, s, n FROM registry_tags WHERE thing_id = $1 ORDER BY name", id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var tags []iotdisco.Tag
	for rows.Next() {
		t, err := scanTag(rows)
		if err != nil {
			return nil, err
		}
		tags = append(tags, t)
	}
	return tags, rows.Err()
}

func scanTag(rows interface{ Scan(...any) error }, extra ...any) (iotdisco.Tag, error) {
	var label string
	var sv sql.NullString
	var nv sql.NullFloat64
	if err := rows.Scan(append(extra, &label, &sv, &nv)...); err != nil {
		return iotdisco.Tag{}, err
	}
	return tagOf(label, sv, nv), nil
}

func tagOf(label string, sv sql.NullString, nv sql.NullFloat64) iotdisco.Tag {
	if nv.Valid {
		return iotdisco.Tag{Name: label, Value: iotdisco.FormatNumber(nv.Float64), Numeric: true}
	}
	return iotdisco.Tag{Name: label, Value: sv.String}
}

// putTag inserts or replaces one tag.
func putTag(ctx context.Context, tx *wtx, id int64, t iotdisco.Tag) error {
	var sv, nv any
	if t.Numeric {
		f, err := iotdisco.ParseNumber(t.Value)
		if err != nil {
			return err
		}
		nv = f
	} else {
		sv = t.Value
	}
	tx.touch(id)
	_, err := tx.ExecContext(ctx, `INSERT INTO registry_tags (thing_id, name, label, s, n) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (thing_id, name) DO UPDATE SET label = excluded.label, s = excluded.s, n = excluded.n`,
		id, iotdisco.Fold(t.Name), t.Name, sv, nv)
	return err
}

// deleteTags deletes a thing's tags, or only those named.
func deleteTags(ctx context.Context, tx *wtx, id int64, names ...string) error {
	tx.touch(id)
	if len(names) == 0 {
		_, err := tx.ExecContext(ctx, "DELETE FROM registry_tags WHERE thing_id = $1", id)
		return err
	}
	for _, n := range names {
		if _, err := tx.ExecContext(ctx, "DELETE FROM registry_tags WHERE thing_id = $1 AND name = $2", id, n); err != nil {
			return err
		}
	}
	return nil
}

// setState writes a record's state columns.
func (s *Store) setState(ctx context.Context, tx *wtx, t *Thing) error {
	tx.visible(t.ID, t.Visible())
	_, err := tx.ExecContext(ctx, `UPDATE registry_things SET state = $1, owner = $2, public = $3, self_owned = $4,
		vis = $5, ns = $6, updated = $7 WHERE id = $8`,
		t.State, t.Owner, b2i(t.Public), b2i(t.SelfOwned), b2i(t.Visible()), t.NS, s.o.Now().Unix(), t.ID)
	return err
}

func withoutKey(tags []iotdisco.Tag) []iotdisco.Tag {
	out := make([]iotdisco.Tag, 0, len(tags))
	for _, t := range tags {
		if iotdisco.Fold(t.Name) != iotdisco.KeyTag {
			out = append(out, t)
		}
	}
	return out
}

// Register records a thing's tags (digest §5.2). For an unclaimed or new
// record the whole tag set is replaced, or, with selfOwned, the record
// becomes claimed by the thing itself, public, without KEY. For a claimed
// or removed record nothing changes and owned is true: the caller
// answers with its owner. The tags must have passed iotdisco.CheckTags.
func (s *Store) Register(ctx context.Context, r Ref, tags []iotdisco.Tag, selfOwned bool, ns string) (out *Thing, owned bool, err error) {
	if len(tags) > s.o.MaxTags {
		return nil, false, ErrLimit
	}
	err = s.tx(ctx, "register", func(tx *wtx) error {
		now := s.o.Now().Unix()
		t, err := byRef(ctx, tx, r)
		switch {
		case errors.Is(err, ErrNotFound):
			t = &Thing{Ref: r}
		case err != nil:
			return err
		case t.State != Unclaimed:
			t.NS = ns
			_, err := tx.ExecContext(ctx, "UPDATE registry_things SET ns = $1 WHERE id = $2", ns, t.ID)
			out, owned = t, true
			return err
		}
		digest := Digest(tags)
		if !selfOwned {
			var other int64
			err := tx.QueryRowContext(ctx, "SELECT id FROM registry_things WHERE digest = $1 AND state = 0 AND id <> $2 LIMIT 1",
				digest, t.ID).Scan(&other)
			if err == nil {
				return ErrConflict
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		t.NS, t.State, t.Owner, t.Public, t.SelfOwned = ns, Unclaimed, "", false, false
		if selfOwned {
			t.State, t.Owner, t.Public, t.SelfOwned = Claimed, r.JID, true, true
			tags = withoutKey(tags)
		}
		if t.ID == 0 {
			err = tx.QueryRowContext(ctx, `INSERT INTO registry_things (jid, nid, src, pt, digest, ns, created, updated)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id`,
				r.JID, r.Node.ID, r.Source, r.Partition, digest, ns, now).Scan(&t.ID)
		} else {
			_, err = tx.ExecContext(ctx, "UPDATE registry_things SET digest = $1 WHERE id = $2", digest, t.ID)
			if err == nil {
				err = deleteTags(ctx, tx, t.ID)
			}
		}
		if err != nil {
			return err
		}
		for _, tag := range tags {
			if err := putTag(ctx, tx, t.ID, tag); err != nil {
				return err
			}
		}
		if err := s.setState(ctx, tx, t); err != nil {
			return err
		}
		if selfOwned {
			if err := s.queueEvent(ctx, tx, EventClaimed, t); err != nil {
				return err
			}
		}
		t.Tags = tags
		out = t
		return nil
	})
	return out, owned, err
}

// Claim pairs owner with the unclaimed record whose tag set equals tags
// exactly (names case-insensitive, strings exact, numbers by value),
// deletes its KEY, queues the claimed notification and the thing.claimed
// event. Of concurrent claims of one record exactly one succeeds. A
// record already claimed by the same owner with the same tags succeeds
// again (changed reports whether public or the removed state changed, in
// which case the thing is notified again). Anything else is ErrNotFound.
func (s *Store) Claim(ctx context.Context, owner string, tags []iotdisco.Tag, public bool) (t *Thing, changed bool, err error) {
	digest := Digest(tags)
	err = s.tx(ctx, "claim", func(tx *wtx) error {
		rows, err := tx.QueryContext(ctx, "SELECT "+thingCols+" FROM registry_things WHERE digest = $1 ORDER BY id", digest)
		if err != nil {
			return err
		}
		var cands []*Thing
		for rows.Next() {
			c, err := scanThing(rows)
			if err != nil {
				rows.Close()
				return err
			}
			cands = append(cands, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, c := range cands {
			switch {
			case c.State == Unclaimed:
				c.State, c.Owner, c.Public = Claimed, owner, public
				res, err := tx.ExecContext(ctx, "UPDATE registry_things SET state = 1, owner = $1 WHERE id = $2 AND state = 0", owner, c.ID)
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n != 1 {
					continue // another claimant won
				}
				if err := deleteTags(ctx, tx, c.ID, iotdisco.KeyTag); err != nil {
					return err
				}
				if err := s.setState(ctx, tx, c); err != nil {
					return err
				}
				if err := s.queueNotify(ctx, tx, NotifyClaimed, c); err != nil {
					return err
				}
				if err := s.queueEvent(ctx, tx, EventClaimed, c); err != nil {
					return err
				}
				t, changed = c, true
				return nil
			case c.Owner == owner && !c.SelfOwned:
				if c.State == Claimed && c.Public == public {
					t = c
					return nil
				}
				c.State, c.Public = Claimed, public
				if err := s.setState(ctx, tx, c); err != nil {
					return err
				}
				if err := s.queueNotify(ctx, tx, NotifyClaimed, c); err != nil {
					return err
				}
				t, changed = c, true
				return nil
			}
		}
		return ErrNotFound
	})
	return t, changed, err
}

// Update merges tags into a record (digest §5.2): given tags overwrite,
// a string tag with an empty value is deleted, KEY is ignored. owner ""
// is the thing updating itself: an unclaimed record is left alone and
// disowned is true; a removed or missing one is ErrNotFound. A non-empty
// owner must own the record, else ErrNotFound.
func (s *Store) Update(ctx context.Context, r Ref, tags []iotdisco.Tag, owner, ns string) (t *Thing, disowned bool, err error) {
	err = s.tx(ctx, "update", func(tx *wtx) error {
		var err error
		t, err = byRef(ctx, tx, r)
		if err != nil {
			return err
		}
		switch {
		case owner != "":
			if t.State == Unclaimed || t.Owner != owner {
				return ErrNotFound
			}
		case t.State == Unclaimed:
			disowned = true
			return nil
		case t.State == Removed:
			return ErrNotFound
		default:
			if ns != "" {
				t.NS = ns
			}
		}
		// The record's row first, then its tags, as every write does: two
		// writes to one thing then wait for each other instead of
		// deadlocking (PostgreSQL).
		if _, err := tx.ExecContext(ctx, "UPDATE registry_things SET ns = $1, updated = $2 WHERE id = $3", t.NS, s.o.Now().Unix(), t.ID); err != nil {
			return err
		}
		for _, tag := range tags {
			name := iotdisco.Fold(tag.Name)
			switch {
			case name == iotdisco.KeyTag:
			case !tag.Numeric && tag.Value == "":
				if err := deleteTags(ctx, tx, t.ID, name); err != nil {
					return err
				}
			default:
				if err := putTag(ctx, tx, t.ID, tag); err != nil {
					return err
				}
			}
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM registry_tags WHERE thing_id = $1", t.ID).Scan(&n); err != nil {
			return err
		}
		if n > s.o.MaxTags {
			return ErrLimit
		}
		return nil
	})
	return t, disowned, err
}

// Remove withdraws owner's thing from searches and queues the removed
// notification; removing a removed thing succeeds without a new one.
func (s *Store) Remove(ctx context.Context, r Ref, owner string) (t *Thing, err error) {
	err = s.tx(ctx, "remove", func(tx *wtx) error {
		var err error
		if t, err = byRef(ctx, tx, r); err != nil {
			return err
		}
		if t.State == Unclaimed || t.Owner != owner {
			return ErrNotFound
		}
		if t.State == Removed {
			return nil
		}
		t.State = Removed
		if err := s.setState(ctx, tx, t); err != nil {
			return err
		}
		return s.queueNotify(ctx, tx, NotifyRemoved, t)
	})
	return t, err
}

// Owned returns owner's claimed or removed record, or ErrNotFound: the
// check before asking the thing to accept a disown.
func (s *Store) Owned(ctx context.Context, r Ref, owner string) (*Thing, error) {
	t, err := byRef(ctx, s.r, r)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, s.fail("owned", err)
	}
	if t.State == Unclaimed || t.Owner != owner {
		return nil, ErrNotFound
	}
	return t, nil
}

// Disown returns owner's record to the unclaimed state after the thing
// accepted: all tags wiped, a random KEY (so that nobody can claim it
// before the thing registers again), pending notifications dropped, the
// thing.disowned event queued. notify also queues a disowned
// notification, for a thing that was not asked first (its owner's
// account was deleted).
func (s *Store) Disown(ctx context.Context, r Ref, owner string, notify bool) (t *Thing, err error) {
	err = s.tx(ctx, "disown", func(tx *wtx) error {
		var err error
		if t, err = byRef(ctx, tx, r); err != nil {
			return err
		}
		if t.State == Unclaimed || t.Owner != owner {
			return ErrNotFound
		}
		return s.disown(ctx, tx, t, notify)
	})
	return t, err
}

func (s *Store) disown(ctx context.Context, tx *wtx, t *Thing, notify bool) error {
	key := make([]byte, 32)
	rand.Read(key)
	tags := []iotdisco.Tag{{Name: iotdisco.KeyTag, Value: hex.EncodeToString(key)}}
	if _, err := tx.ExecContext(ctx, "UPDATE registry_things SET digest = $1 WHERE id = $2", Digest(tags), t.ID); err != nil {
		return err
	}
	if err := deleteTags(ctx, tx, t.ID); err != nil {
		return err
	}
	if err := putTag(ctx, tx, t.ID, tags[0]); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM registry_outbox WHERE jid = $1 AND nid = $2 AND src = $3 AND pt = $4",
		t.JID, t.Node.ID, t.Source, t.Partition); err != nil {
		return err
	}
	prev := t.Owner
	t.State, t.Owner, t.Public, t.SelfOwned, t.Tags = Unclaimed, "", false, false, nil
	if err := s.setState(ctx, tx, t); err != nil {
		return err
	}
	if notify {
		if err := s.queueNotify(ctx, tx, NotifyDisowned, t); err != nil {
			return err
		}
	}
	t.Owner = prev // for the event
	err := s.queueEvent(ctx, tx, EventDisowned, t)
	t.Owner = ""
	return err
}

// Unregister deletes a record with its tags and pending notifications;
// a claimed one queues thing.disowned (its owner lost it). existed is
// false when there was nothing to delete.
func (s *Store) Unregister(ctx context.Context, r Ref) (existed bool, err error) {
	err = s.tx(ctx, "unregister", func(tx *wtx) error {
		t, err := byRef(ctx, tx, r)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		existed = true
		return s.delete(ctx, tx, t)
	})
	return existed, err
}

func (s *Store) delete(ctx context.Context, tx *wtx, t *Thing) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM registry_things WHERE id = $1", t.ID); err != nil {
		return err
	}
	if err := deleteTags(ctx, tx, t.ID); err != nil {
		return err
	}
	tx.visible(t.ID, false)
	if _, err := tx.ExecContext(ctx, "DELETE FROM registry_outbox WHERE jid = $1 AND nid = $2 AND src = $3 AND pt = $4",
		t.JID, t.Node.ID, t.Source, t.Partition); err != nil {
		return err
	}
	if t.State != Unclaimed {
		return s.queueEvent(ctx, tx, EventDisowned, t)
	}
	return nil
}

// ReleaseOwner disowns every thing owner owns, notifying each: the owner's
// account is gone, and a later account of the same name must not inherit
// the things. Self-owned things are not touched.
func (s *Store) ReleaseOwner(ctx context.Context, owner string) ([]*Thing, error) {
	var out []*Thing
	err := s.tx(ctx, "release owner", func(tx *wtx) error {
		rows, err := tx.QueryContext(ctx, "SELECT "+thingCols+" FROM registry_things WHERE owner = $1 AND self_owned = 0 ORDER BY id", owner)
		if err != nil {
			return err
		}
		var list []*Thing
		for rows.Next() {
			t, err := scanThing(rows)
			if err != nil {
				rows.Close()
				return err
			}
			list = append(list, t)
		}
		rows.Close()
		for _, t := range list {
			if err := s.disown(ctx, tx, t, true); err != nil {
				return err
			}
			out = append(out, t)
		}
		return rows.Err()
	})
	return out, err
}

// DeleteJID deletes every record of a thing JID (its account is gone).
func (s *Store) DeleteJID(ctx context.Context, jid string) (int, error) {
	n := 0
	err := s.tx(ctx, "delete jid", func(tx *wtx) error {
		rows, err := tx.QueryContext(ctx, "SELECT "+thingCols+" FROM registry_things WHERE jid = $1", jid)
		if err != nil {
			return err
		}
		var list []*Thing
		for rows.Next() {
			t, err := scanThing(rows)
			if err != nil {
				rows.Close()
				return err
			}
			list = append(list, t)
		}
		rows.Close()
		for _, t := range list {
			if err := s.delete(ctx, tx, t); err != nil {
				return err
			}
			n++
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM registry_sessions WHERE jid = $1", jid)
		return err
	})
	return n, err
}

// eventAttrs are the documented attributes of thing.claimed and
// thing.disowned.
func eventAttrs(t *Thing) map[string]string {
	a := map[string]string{"thing": t.JID, "owner": t.Owner}
	if t.Node != (Node{}) {
		a["node"], a["source"], a["partition"] = t.Node.ID, t.Source, t.Partition
	}
	return a
}

func (s *Store) queueEvent(ctx context.Context, q querier, name string, t *Thing) error {
	b, err := json.Marshal(eventAttrs(t))
	if err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, "INSERT INTO registry_events (name, attrs, created) VALUES ($1, $2, $3)", name, string(b), s.o.Now().Unix())
	return err
}

func (s *Store) queueNotify(ctx context.Context, q querier, kind string, t *Thing) error {
	// A newer notification of the same kind replaces an undelivered one:
	// the thing needs only the latest claimed state.
	if _, err := q.ExecContext(ctx, "DELETE FROM registry_outbox WHERE jid = $1 AND nid = $2 AND src = $3 AND pt = $4 AND kind = $5",
		t.JID, t.Node.ID, t.Source, t.Partition, kind); err != nil {
		return err
	}
	_, err := q.ExecContext(ctx, `INSERT INTO registry_outbox (jid, kind, nid, src, pt, owner, public, ns, created)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		t.JID, kind, t.Node.ID, t.Source, t.Partition, t.Owner, b2i(t.Public), t.NS, s.o.Now().Unix())
	return err
}
