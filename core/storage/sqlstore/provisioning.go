package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/extasis/extasis/core/jid"
	"github.com/extasis/extasis/core/storage"
)

var _ storage.Provisioning = (*Store)(nil)

// provUS converts a time to the stored microseconds; the zero time is now.
func provUS(t time.Time) int64 {
	if t.IsZero() {
		t = now()
	}
	return t.UTC().UnixMicro()
}

func checkRef(r storage.ThingRef) error {
	if r.JID.IsZero() {
		return fmt.Errorf("sqlstore: empty thing JID: %w", storage.ErrInvalid)
	}
	for _, f := range [...]struct{ n, v string }{{"node", r.Node}, {"source", r.Source}, {"partition", r.Partition}} {
		if err := storage.CheckText(f.n, f.v); err != nil {
			return err
		}
	}
	return nil
}

func refArgs(r storage.ThingRef) []any {
	return []any{r.JID.Bare().String(), r.Node, r.Source, r.Partition}
}

// bumpProvisioning increments the change counter inside tx.
func bumpProvisioning(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `UPDATE prov_meta SET version = version + 1 WHERE id = 1`)
	return err
}

// provWrite runs fn in a write transaction that bumps the change counter.
func (s *Store) provWrite(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(op, err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		if isStorageErr(err) {
			return err
		}
		return s.fail(op, err)
	}
	if err := bumpProvisioning(ctx, tx); err != nil {
		return s.fail(op, err)
	}
	if err := tx.Commit(); err != nil {
		return s.fail(op, err)
	}
	return nil
}

// isStorageErr reports whether err is one this file built (not found, a
// stored value it cannot read), returned as is rather than as a driver
// failure.
func isStorageErr(err error) bool {
	var pe provError
	return errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrInvalid) || errors.As(err, &pe)
}

// provError is a stored value this file cannot read back.
type provError struct{ err error }

func (e provError) Error() string { return e.err.Error() }
func (e provError) Unwrap() error { return e.err }

// ProvisioningVersion implements storage.Provisioning.
func (s *Store) ProvisioningVersion(ctx context.Context) (int64, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var v int64
	if err := s.queryRow(ctx, `SELECT version FROM prov_meta WHERE id = 1`).Scan(&v); err != nil {
		return 0, s.fail("provisioning version", err)
	}
	return v, nil
}

// PutOwnedThing implements storage.Provisioning.
func (s *Store) PutOwnedThing(ctx context.Context, t storage.OwnedThing) error {
	if err := checkRef(t.Thing); err != nil {
		return err
	}
	o, err := owner(t.Owner)
	if err != nil {
		return err
	}
	return s.provWrite(ctx, "put owned thing", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO prov_things (thing, node, source, part, owner, enforce, claimed)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (thing, node, source, part) DO UPDATE SET owner = $5, enforce = $6, claimed = $7`,
			append(refArgs(t.Thing), o, t.Enforce, provUS(t.Claimed))...)
		return err
	})
}

// DeleteOwnedThing implements storage.Provisioning.
func (s *Store) DeleteOwnedThing(ctx context.Context, ref storage.ThingRef) error {
	if err := checkRef(ref); err != nil {
		return err
	}
	return s.provWrite(ctx, "delete owned thing", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM prov_things WHERE thing = $1 AND node = $2 AND source = $3 AND part = $4`, refArgs(ref)...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("sqlstore: thing %s: %w", ref.JID, storage.ErrNotFound)
		}
		return nil
	})
}

func scanRef(thing, node, source, part string) (storage.ThingRef, error) {
	j, err := jid.Parse(thing)
	if err != nil {
		return storage.ThingRef{}, provError{fmt.Errorf("sqlstore: stored thing JID %q: %w", thing, err)}
	}
	return storage.ThingRef{JID: j, Node: node, Source: source, Partition: part}, nil
}

func parseStoredJID(what, v string) (jid.JID, error) {
	if v == "" {
		return jid.JID{}, nil
	}
	j, err := jid.Parse(v)
	if err != nil {
		return jid.JID{}, provError{fmt.Errorf("sqlstore: stored %s JID %q: %w", what, v, err)}
	}
	return j, nil
}

// OwnedThings implements storage.Provisioning.
func (s *Store) OwnedThings(ctx context.Context, ownerJID jid.JID) ([]storage.OwnedThing, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	q := `SELECT thing, node, source, part, owner, enforce, claimed FROM prov_things ORDER BY thing, node, source, part`
	var args []any
	if !ownerJID.IsZero() {
		q = `SELECT thing, node, source, part, owner, enforce, claimed FROM prov_things WHERE owner = $1 ORDER BY thing, node, source, part`
		args = append(args, ownerJID.Bare().String())
	}
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, s.fail("owned things", err)
	}
	defer rows.Close()
	var out []storage.OwnedThing
	for rows.Next() {
		var thing, node, source, part, o string
		var t storage.OwnedThing
		var claimed int64
		if err := rows.Scan(&thing, &node, &source, &part, &o, &t.Enforce, &claimed); err != nil {
			return nil, s.fail("owned things", err)
		}
		if t.Thing, err = scanRef(thing, node, source, part); err != nil {
			return nil, err
		}
		if t.Owner, err = parseStoredJID("owner", o); err != nil {
			return nil, err
		}
		t.Claimed = fromMicros(claimed)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("owned things", err)
	}
	return out, nil
}

// encodeNames stores nil as NULL (unrestricted) and a list as JSON.
func encodeNames(field string, names []string) (sql.NullString, error) {
	if names == nil {
		return sql.NullString{}, nil
	}
	for _, n := range names {
		if err := storage.CheckText(field, n); err != nil {
			return sql.NullString{}, err
		}
	}
	b, err := json.Marshal(names)
	if err != nil {
		return sql.NullString{}, fmt.Errorf("sqlstore: %s: %w", field, err)
	}
	return sql.NullString{String: string(b), Valid: true}, nil
}

func decodeNames(v sql.NullString) ([]string, error) {
	if !v.Valid {
		return nil, nil
	}
	out := []string{}
	if err := json.Unmarshal([]byte(v.String), &out); err != nil {
		return nil, provError{fmt.Errorf("sqlstore: stored name list: %w", err)}
	}
	return out, nil
}

type ruleCols struct {
	cats, fields, params sql.NullString
}

func ruleArgs(r storage.ProvisioningRule) (ruleCols, error) {
	var c ruleCols
	var err error
	if err = checkRef(r.Thing); err != nil {
		return c, err
	}
	for _, f := range [...]struct{ n, v string }{{"action", r.Action}, {"origin", r.Origin}, {"remote", r.Remote}} {
		if err := storage.CheckText(f.n, f.v); err != nil {
			return c, err
		}
	}
	if r.Action == "" || r.Origin == "" {
		return c, fmt.Errorf("sqlstore: rule without action or origin: %w", storage.ErrInvalid)
	}
	if c.cats, err = encodeNames("categories", r.Categories); err != nil {
		return c, err
	}
	if c.fields, err = encodeNames("fields", r.Fields); err != nil {
		return c, err
	}
	c.params, err = encodeNames("params", r.Params)
	return c, err
}

// AddRule implements storage.Provisioning.
func (s *Store) AddRule(ctx context.Context, r storage.ProvisioningRule) (int64, error) {
	o, err := owner(r.Owner)
	if err != nil {
		return 0, err
	}
	c, err := ruleArgs(r)
	if err != nil {
		return 0, err
	}
	var id int64
	err = s.provWrite(ctx, "add rule", func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO prov_rules
			(owner, thing, node, source, part, action, origin, remote, allow, categories, fields, params, created)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id`,
			append(append([]any{o}, refArgs(r.Thing)...), r.Action, r.Origin, r.Remote, r.Allow, c.cats, c.fields, c.params, provUS(r.Created))...).Scan(&id)
	})
	return id, err
}

// UpdateRule implements storage.Provisioning.
func (s *Store) UpdateRule(ctx context.Context, r storage.ProvisioningRule) error {
	o, err := owner(r.Owner)
	if err != nil {
		return err
	}
	c, err := ruleArgs(r)
	if err != nil {
		return err
	}
	return s.provWrite(ctx, "update rule", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE prov_rules SET thing = $3, node = $4, source = $5, part = $6,
			action = $7, origin = $8, remote = $9, allow = $10, categories = $11, fields = $12, params = $13, created = $14
			WHERE id = $1 AND owner = $2`,
			append(append([]any{r.ID, o}, refArgs(r.Thing)...), r.Action, r.Origin, r.Remote, r.Allow, c.cats, c.fields, c.params, provUS(r.Created))...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("sqlstore: rule %d of %s: %w", r.ID, o, storage.ErrNotFound)
		}
		return nil
	})
}

// ruleWhere builds the WHERE clause of a rule filter.
func ruleWhere(f storage.RuleFilter) (string, []any) {
	var conds []string
	var args []any
	add := func(col string, v any) {
		args = append(args, v)
		conds = append(conds, col+" = $"+strconv.Itoa(len(args)))
	}
	if f.ID != 0 {
		add("id", f.ID)
	}
	if !f.Owner.IsZero() {
		add("owner", f.Owner.Bare().String())
	}
	if !f.Thing.IsZero() {
		add("thing", f.Thing.Bare().String())
	}
	if f.ByNode {
		add("node", f.Node.Node)
		add("source", f.Node.Source)
		add("part", f.Node.Partition)
	}
	if f.Action != "" {
		add("action", f.Action)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

const ruleSelect = `SELECT id, owner, thing, node, source, part, action, origin, remote, allow, categories, fields, params, created FROM prov_rules`

func scanRules(rows *sql.Rows) ([]storage.ProvisioningRule, error) {
	var out []storage.ProvisioningRule
	for rows.Next() {
		var r storage.ProvisioningRule
		var o, thing, node, source, part string
		var cats, fields, params sql.NullString
		var created int64
		if err := rows.Scan(&r.ID, &o, &thing, &node, &source, &part, &r.Action, &r.Origin, &r.Remote, &r.Allow, &cats, &fields, &params, &created); err != nil {
			return nil, err
		}
		var err error
		if r.Owner, err = parseStoredJID("owner", o); err != nil {
			return nil, err
		}
		if r.Thing, err = scanRef(thing, node, source, part); err != nil {
			return nil, err
		}
		if r.Categories, err = decodeNames(cats); err != nil {
			return nil, err
		}
		if r.Fields, err = decodeNames(fields); err != nil {
			return nil, err
		}
		if r.Params, err = decodeNames(params); err != nil {
			return nil, err
		}
		r.Created = fromMicros(created)
		out = append(out, r)
	}
	return out, rows.Err()
}

// Rules implements storage.Provisioning.
func (s *Store) Rules(ctx context.Context, f storage.RuleFilter) ([]storage.ProvisioningRule, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	where, args := ruleWhere(f)
	rows, err := s.r.QueryContext(ctx, ruleSelect+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, s.fail("rules", err)
	}
	defer rows.Close()
	out, err := scanRules(rows)
	if err != nil {
		if isStorageErr(err) {
			return nil, err
		}
		return nil, s.fail("rules", err)
	}
	return out, nil
}

// DeleteRules implements storage.Provisioning.
func (s *Store) DeleteRules(ctx context.Context, f storage.RuleFilter) ([]storage.ProvisioningRule, error) {
	var out []storage.ProvisioningRule
	where, args := ruleWhere(f)
	err := s.provWrite(ctx, "delete rules", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, ruleSelect+where+` ORDER BY id`, args...)
		if err != nil {
			return err
		}
		out, err = scanRules(rows)
		rows.Close()
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM prov_rules`+where, args...)
		return err
	})
	return out, err
}

// PutQuestion implements storage.Provisioning.
func (s *Store) PutQuestion(ctx context.Context, q storage.ProvisioningQuestion) error {
	o, err := owner(q.Owner)
	if err != nil {
		return err
	}
	if err := checkRef(q.Thing); err != nil {
		return err
	}
	if err := storage.CheckText("key", q.Key); err != nil {
		return err
	}
	if q.Key == "" || q.Action == "" {
		return fmt.Errorf("sqlstore: question without key or action: %w", storage.ErrInvalid)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if _, err := s.w.ExecContext(ctx, `INSERT INTO prov_questions (qkey, owner, thing, node, source, part, action, remote, raw, asked)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		append(append([]any{q.Key, o}, refArgs(q.Thing)...), q.Action, q.Remote.Bare().String(), nonNil(q.Raw), provUS(q.Asked))...); err != nil {
		return s.fail("put question", err)
	}
	return nil
}

// Questions implements storage.Provisioning.
func (s *Store) Questions(ctx context.Context, ownerJID jid.JID) ([]storage.ProvisioningQuestion, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	q := `SELECT qkey, owner, thing, node, source, part, action, remote, raw, asked FROM prov_questions`
	var args []any
	if !ownerJID.IsZero() {
		q += ` WHERE owner = $1`
		args = append(args, ownerJID.Bare().String())
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY asked, qkey`, args...)
	if err != nil {
		return nil, s.fail("questions", err)
	}
	defer rows.Close()
	var out []storage.ProvisioningQuestion
	for rows.Next() {
		var qu storage.ProvisioningQuestion
		var o, thing, node, source, part, remote string
		var asked int64
		if err := rows.Scan(&qu.Key, &o, &thing, &node, &source, &part, &qu.Action, &remote, &qu.Raw, &asked); err != nil {
			return nil, s.fail("questions", err)
		}
		if qu.Owner, err = parseStoredJID("owner", o); err != nil {
			return nil, err
		}
		if qu.Thing, err = scanRef(thing, node, source, part); err != nil {
			return nil, err
		}
		if qu.Remote, err = parseStoredJID("remote", remote); err != nil {
			return nil, err
		}
		qu.Asked = fromMicros(asked)
		out = append(out, qu)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("questions", err)
	}
	return out, nil
}

// DeleteQuestion implements storage.Provisioning.
func (s *Store) DeleteQuestion(ctx context.Context, key string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if _, err := s.w.ExecContext(ctx, `DELETE FROM prov_questions WHERE qkey = $1`, key); err != nil {
		return s.fail("delete question", err)
	}
	return nil
}

// DeleteQuestionsOf implements storage.Provisioning.
func (s *Store) DeleteQuestionsOf(ctx context.Context, thing jid.JID) (int, error) {
	if thing.IsZero() {
		return 0, fmt.Errorf("sqlstore: empty thing JID: %w", storage.ErrInvalid)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	res, err := s.w.ExecContext(ctx, `DELETE FROM prov_questions WHERE thing = $1`, thing.Bare().String())
	if err != nil {
		return 0, s.fail("delete questions", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.fail("delete questions", err)
	}
	return int(n), nil
}

// PutOwnerPolicy implements storage.Provisioning.
func (s *Store) PutOwnerPolicy(ctx context.Context, p storage.OwnerPolicy) error {
	o, err := owner(p.Owner)
	if err != nil {
		return err
	}
	if err := storage.CheckText("module", p.Module); err != nil {
		return err
	}
	return s.provWrite(ctx, "put owner policy", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO prov_policies (owner, module, updated) VALUES ($1, $2, $3)
			ON CONFLICT (owner) DO UPDATE SET module = $2, updated = $3`, o, p.Module, provUS(p.Updated))
		return err
	})
}

// OwnerPolicies implements storage.Provisioning.
func (s *Store) OwnerPolicies(ctx context.Context, ownerJID jid.JID) ([]storage.OwnerPolicy, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	q := `SELECT owner, module, updated FROM prov_policies`
	var args []any
	if !ownerJID.IsZero() {
		q += ` WHERE owner = $1`
		args = append(args, ownerJID.Bare().String())
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY owner`, args...)
	if err != nil {
		return nil, s.fail("owner policies", err)
	}
	defer rows.Close()
	var out []storage.OwnerPolicy
	for rows.Next() {
		var p storage.OwnerPolicy
		var o string
		var updated int64
		if err := rows.Scan(&o, &p.Module, &updated); err != nil {
			return nil, s.fail("owner policies", err)
		}
		if p.Owner, err = parseStoredJID("owner", o); err != nil {
			return nil, err
		}
		p.Updated = fromMicros(updated)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("owner policies", err)
	}
	return out, nil
}

// DeleteOwnerPolicy implements storage.Provisioning.
func (s *Store) DeleteOwnerPolicy(ctx context.Context, ownerJID jid.JID) error {
	o, err := owner(ownerJID)
	if err != nil {
		return err
	}
	return s.provWrite(ctx, "delete owner policy", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM prov_policies WHERE owner = $1`, o)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("sqlstore: policy of %s: %w", o, storage.ErrNotFound)
		}
		return nil
	})
}

func joinIDs(ids []int64) string {
	b := make([]byte, 0, 8*len(ids))
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return string(b)
}

func splitIDs(v string) []int64 {
	if v == "" {
		return nil
	}
	parts := strings.Split(v, ",")
	out := make([]int64, 0, len(parts))
	for _, p := range parts {
		if n, err := strconv.ParseInt(p, 10, 64); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// AppendDecisions implements storage.Provisioning.
func (s *Store) AppendDecisions(ctx context.Context, ds []storage.ProvisioningDecision) error {
	if len(ds) == 0 {
		return nil
	}
	for _, d := range ds {
		if err := checkRef(d.Thing); err != nil {
			return err
		}
		for _, f := range [...]struct{ n, v string }{{"action", d.Action}, {"via", d.Via}, {"reason", d.Reason}, {"request", d.Request}, {"granted", d.Granted}} {
			if err := storage.CheckText(f.n, f.v); err != nil {
				return err
			}
		}
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.fail("append decisions", err)
	}
	defer tx.Rollback()
	const q = `INSERT INTO prov_decisions (at, owner, thing, node, source, part, requester, action, via, allow, reason, rules, request, granted)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`
	st, err := tx.PrepareContext(ctx, q)
	if err != nil {
		return s.fail("append decisions", err)
	}
	defer st.Close()
	for _, d := range ds {
		if _, err := st.ExecContext(ctx, append(append([]any{provUS(d.Time), d.Owner.Bare().String()}, refArgs(d.Thing)...),
			d.Requester.Bare().String(), d.Action, d.Via, d.Allow, d.Reason, joinIDs(d.Rules), d.Request, d.Granted)...); err != nil {
			return s.fail("append decisions", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return s.fail("append decisions", err)
	}
	return nil
}

// Decisions implements storage.Provisioning.
func (s *Store) Decisions(ctx context.Context, f storage.DecisionFilter) ([]storage.ProvisioningDecision, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var conds []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, cond+" $"+strconv.Itoa(len(args)))
	}
	if !f.Owner.IsZero() {
		add("owner =", f.Owner.Bare().String())
	}
	if !f.Thing.IsZero() {
		add("thing =", f.Thing.Bare().String())
	}
	if f.Before > 0 {
		add("id <", f.Before)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q := `SELECT id, at, owner, thing, node, source, part, requester, action, via, allow, reason, rules, request, granted FROM prov_decisions`
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	q += " ORDER BY id DESC LIMIT " + strconv.Itoa(limit)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.fail("decisions", err)
	}
	defer rows.Close()
	var out []storage.ProvisioningDecision
	for rows.Next() {
		var d storage.ProvisioningDecision
		var at int64
		var o, thing, node, source, part, req, rules string
		if err := rows.Scan(&d.ID, &at, &o, &thing, &node, &source, &part, &req, &d.Action, &d.Via, &d.Allow, &d.Reason, &rules, &d.Request, &d.Granted); err != nil {
			return nil, s.fail("decisions", err)
		}
		if d.Owner, err = parseStoredJID("owner", o); err != nil {
			return nil, err
		}
		if d.Thing, err = scanRef(thing, node, source, part); err != nil {
			return nil, err
		}
		if d.Requester, err = parseStoredJID("requester", req); err != nil {
			return nil, err
		}
		d.Time = fromMicros(at)
		d.Rules = splitIDs(rules)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("decisions", err)
	}
	return out, nil
}

// PruneDecisions implements storage.Provisioning.
func (s *Store) PruneDecisions(ctx context.Context, before time.Time) (int64, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	res, err := s.w.ExecContext(ctx, `DELETE FROM prov_decisions WHERE at < $1`, before.UTC().UnixMicro())
	if err != nil {
		return 0, s.fail("prune decisions", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.fail("prune decisions", err)
	}
	return n, nil
}

// QueueNotice implements storage.Provisioning.
func (s *Store) QueueNotice(ctx context.Context, n storage.ProvisioningNotice) (int64, error) {
	if n.Thing.IsZero() || (n.Kind != "iq" && n.Kind != "message") || len(n.Raw) == 0 {
		return 0, fmt.Errorf("sqlstore: notice needs a thing, a kind (iq or message) and a payload: %w", storage.ErrInvalid)
	}
	var id int64
	err := s.provWrite(ctx, "queue notice", func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO prov_notices (thing, kind, raw, queued) VALUES ($1, $2, $3, $4) RETURNING id`,
			n.Thing.Bare().String(), n.Kind, n.Raw, provUS(n.Queued)).Scan(&id)
	})
	return id, err
}

// Notices implements storage.Provisioning.
func (s *Store) Notices(ctx context.Context, thing jid.JID) ([]storage.ProvisioningNotice, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	q := `SELECT id, thing, kind, raw, queued FROM prov_notices`
	var args []any
	if !thing.IsZero() {
		q += ` WHERE thing = $1`
		args = append(args, thing.Bare().String())
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return nil, s.fail("notices", err)
	}
	defer rows.Close()
	var out []storage.ProvisioningNotice
	for rows.Next() {
		var n storage.ProvisioningNotice
		var t string
		var queued int64
		if err := rows.Scan(&n.ID, &t, &n.Kind, &n.Raw, &queued); err != nil {
			return nil, s.fail("notices", err)
		}
		if n.Thing, err = parseStoredJID("thing", t); err != nil {
			return nil, err
		}
		n.Queued = fromMicros(queued)
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("notices", err)
	}
	return out, nil
}

// DeleteNotice implements storage.Provisioning.
func (s *Store) DeleteNotice(ctx context.Context, id int64) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if _, err := s.w.ExecContext(ctx, `DELETE FROM prov_notices WHERE id = $1`, id); err != nil {
		return s.fail("delete notice", err)
	}
	return nil
}

// PutToken implements storage.Provisioning.
func (s *Store) PutToken(ctx context.Context, t storage.ProvisioningToken) error {
	if t.Token == "" || t.Holder.IsZero() || len(t.Cert) == 0 {
		return fmt.Errorf("sqlstore: a token needs its text, a holder and a certificate: %w", storage.ErrInvalid)
	}
	if err := storage.CheckText("token", t.Token); err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if _, err := s.w.ExecContext(ctx, `INSERT INTO prov_tokens (token, holder, cert, created) VALUES ($1, $2, $3, $4)`,
		t.Token, t.Holder.Bare().String(), t.Cert, provUS(t.Created)); err != nil {
		return s.fail("put token", err)
	}
	return nil
}

// Token implements storage.Provisioning.
func (s *Store) Token(ctx context.Context, token string) (storage.ProvisioningToken, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var (
		t       = storage.ProvisioningToken{Token: token}
		holder  string
		created int64
	)
	err := s.queryRow(ctx, `SELECT holder, cert, created FROM prov_tokens WHERE token = $1`, token).Scan(&holder, &t.Cert, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.ProvisioningToken{}, fmt.Errorf("sqlstore: token: %w", storage.ErrNotFound)
	}
	if err != nil {
		return storage.ProvisioningToken{}, s.fail("token", err)
	}
	if t.Holder, err = jid.Parse(holder); err != nil {
		return storage.ProvisioningToken{}, fmt.Errorf("sqlstore: stored token holder %q: %w", holder, err)
	}
	t.Created = fromMicros(created)
	return t, nil
}
