package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/extasis/extasis/plugins/registry/store"
	"github.com/extasis/extasis/sdk/iotdisco"
)

// The namespaces served. Requests are answered in the namespace they came
// in; notifications use the one the thing last used, default NF (what
// deployed things understand).
const (
	nsNF     = "urn:nf:iot:disco:1.0"
	nsIEEE   = "urn:ieee:iot:disco:1.0"
	nsNFI    = "urn:nfi:iot:disco:1.0"
	nsLegacy = "urn:xmpp:iot:discovery" // XEP-0347
	nsStanza = "urn:ietf:params:xml:ns:xmpp-stanzas"
	nsDisco  = "http://jabber.org/protocol/disco#info"
)

func served(ns string) bool { return ns == nsNF || ns == nsIEEE || ns == nsNFI || ns == nsLegacy }

// elem is a parsed element: enough of XML for the registry's requests.
type elem struct {
	name  xml.Name
	attrs []xml.Attr
	kids  []*elem
}

func (e *elem) attr(local string) (string, bool) {
	for _, a := range e.attrs {
		if a.Name.Local == local && a.Name.Space == "" {
			return a.Value, true
		}
	}
	return "", false
}

func (e *elem) get(local string) string { v, _ := e.attr(local); return v }

// Bounds on a request's shape, well above what a valid one needs.
const (
	maxDepth    = 8
	maxChildren = 512
)

// payload parses the first child of the iq in raw.
func payload(raw []byte) (*elem, error) {
	d := xml.NewDecoder(bytes.NewReader(raw))
	d.Strict = true
	depth := 0
	var stack []*elem
	var root *elem
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("registry: malformed request: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth > maxDepth {
				return nil, errors.New("registry: request nested too deeply")
			}
			if depth == 1 {
				continue // the iq
			}
			e := &elem{name: t.Name, attrs: t.Attr}
			if len(stack) == 0 {
				if root != nil {
					d.Skip()
					depth--
					continue
				}
				root = e
			} else {
				p := stack[len(stack)-1]
				if len(p.kids) >= maxChildren {
					return nil, errors.New("registry: too many elements in the request")
				}
				p.kids = append(p.kids, e)
			}
			stack = append(stack, e)
		case xml.EndElement:
			depth--
			if len(stack) > 0 && depth >= 1 {
				stack = stack[:len(stack)-1]
			}
		}
	}
	if root == nil {
		return nil, errors.New("registry: the iq has no payload")
	}
	return root, nil
}

// badRequest is a request error whose text goes back to the sender.
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

func bad(format string, a ...any) error { return &badRequest{msg: fmt.Sprintf(format, a...)} }

// node reads the node attributes: id/src/pt, or XEP-0347's
// nodeId/sourceId/cacheType (cacheType is mapped to the partition).
func node(e *elem, ns string) store.Node {
	if ns == nsLegacy {
		return store.Node{ID: e.get("nodeId"), Source: e.get("sourceId"), Partition: e.get("cacheType")}
	}
	return store.Node{ID: e.get("id"), Source: e.get("src"), Partition: e.get("pt")}
}

// boolAttr reads an xs:boolean attribute.
func boolAttr(e *elem, name string, def bool) (bool, error) {
	v, ok := e.attr(name)
	if !ok {
		return def, nil
	}
	switch v {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, bad("%s='%s' is not a boolean (true or false)", name, v)
}

// tags reads str and num children, applying the tag rules.
func tags(e *elem, maxTags int) ([]iotdisco.Tag, error) {
	out := make([]iotdisco.Tag, 0, len(e.kids))
	for _, k := range e.kids {
		var t iotdisco.Tag
		switch k.name.Local {
		case "str":
		case "num":
			t.Numeric = true
		default:
			return nil, bad("<%s/> is not a tag (str or num)", k.name.Local)
		}
		var ok bool
		if t.Name, ok = k.attr("name"); !ok {
			return nil, bad("a <%s/> tag has no name", k.name.Local)
		}
		if t.Value, ok = k.attr("value"); !ok {
			return nil, bad("tag %s has no value", t.Name)
		}
		out = append(out, t)
	}
	if len(out) > maxTags {
		return nil, bad("%d tags: at most %d per thing", len(out), maxTags)
	}
	if err := iotdisco.CheckTags(out); err != nil {
		return nil, bad("%s", trimPrefix(err))
	}
	return out, nil
}

// trimPrefix drops the package prefix of a rule error for the reply text.
func trimPrefix(err error) string {
	msg := err.Error()
	for _, p := range []string{"iotdisco: ", "invalid tag: "} {
		if len(msg) > len(p) && msg[:len(p)] == p {
			msg = msg[len(p):]
		}
	}
	return msg
}

var opKinds = map[string]struct {
	kind    store.OpKind
	numeric bool
}{
	"strEq": {store.OpEq, false}, "strNEq": {store.OpNEq, false}, "strGt": {store.OpGt, false},
	"strGtEq": {store.OpGtEq, false}, "strLt": {store.OpLt, false}, "strLtEq": {store.OpLtEq, false},
	"strRange": {store.OpRange, false}, "strNRange": {store.OpNRange, false}, "strMask": {store.OpMask, false},
	"strRegEx": {store.OpRegEx, false},
	"numEq":    {store.OpEq, true}, "numNEq": {store.OpNEq, true}, "numGt": {store.OpGt, true},
	"numGtEq": {store.OpGtEq, true}, "numLt": {store.OpLt, true}, "numLtEq": {store.OpLtEq, true},
	"numRange": {store.OpRange, true}, "numNRange": {store.OpNRange, true},
}

// operators reads a search's operators (digest §5.5). XEP-0347 has no
// strRegEx and no nameWildcard.
func operators(e *elem, ns string) ([]store.Operator, error) {
	if len(e.kids) == 0 {
		return nil, bad("a search needs at least one operator")
	}
	ops := make([]store.Operator, 0, len(e.kids))
	for _, k := range e.kids {
		spec, ok := opKinds[k.name.Local]
		if !ok || (ns == nsLegacy && spec.kind == store.OpRegEx) {
			return nil, bad("<%s/> is not a search operator", k.name.Local)
		}
		op := store.Operator{Kind: spec.kind, Numeric: spec.numeric}
		if op.Name, ok = k.attr("name"); !ok || op.Name == "" {
			return nil, bad("%s has no name", k.name.Local)
		}
		if w, ok := k.attr("nameWildcard"); ok && ns != nsLegacy && w != "" {
			r, err := oneChar(w, "nameWildcard")
			if err != nil {
				return nil, err
			}
			op.NameWildcard = r
		}
		val := func(attr string) (string, float64, error) {
			v, ok := k.attr(attr)
			if !ok {
				return "", 0, bad("%s on %s has no %s", k.name.Local, op.Name, attr)
			}
			if utf8.RuneCountInString(v) > 2*iotdisco.MaxValueLen {
				return "", 0, bad("%s on %s: %s is too long", k.name.Local, op.Name, attr)
			}
			if !spec.numeric {
				return v, 0, nil
			}
			f, err := iotdisco.ParseNumber(v)
			if err != nil {
				return "", 0, bad("%s on %s: %v", k.name.Local, op.Name, err)
			}
			return v, f, nil
		}
		var err error
		switch spec.kind {
		case store.OpRange, store.OpNRange:
			if op.StrMin, op.NumMin, err = val("min"); err != nil {
				return nil, err
			}
			if op.StrMax, op.NumMax, err = val("max"); err != nil {
				return nil, err
			}
			if op.MinIncluded, err = boolAttr(k, "minIncluded", true); err != nil {
				return nil, err
			}
			if op.MaxIncluded, err = boolAttr(k, "maxIncluded", true); err != nil {
				return nil, err
			}
		case store.OpMask:
			if op.Str, _, err = val("value"); err != nil {
				return nil, err
			}
			w, ok := k.attr("wildcard")
			if !ok {
				return nil, bad("strMask on %s has no wildcard", op.Name)
			}
			if op.Wildcard, err = oneChar(w, "wildcard"); err != nil {
				return nil, err
			}
		default:
			if op.Str, op.Num, err = val("value"); err != nil {
				return nil, err
			}
		}
		ops = append(ops, op)
	}
	return ops, nil
}

func oneChar(s, attr string) (rune, error) {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 || n != len(s) || r == utf8.RuneError {
		return 0, bad("%s='%s' must be one character", attr, s)
	}
	return r, nil
}

// intAttr reads a non-negative integer attribute.
func intAttr(e *elem, name string, def int) (int, error) {
	v, ok := e.attr(name)
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, bad("%s='%s' is not a non-negative integer", name, v)
	}
	return n, nil
}

// out builds reply payloads.
type out struct{ bytes.Buffer }

// open writes <name xmlns? attrs...> with attrs as name, value pairs;
// empty values are left out.
func (b *out) open(name, ns string, attrs ...string) {
	b.WriteByte('<')
	b.WriteString(name)
	if ns != "" {
		b.attr("xmlns", ns)
	}
	for i := 0; i+1 < len(attrs); i += 2 {
		if attrs[i+1] != "" {
			b.attr(attrs[i], attrs[i+1])
		}
	}
}

func (b *out) attr(k, v string) {
	b.WriteByte(' ')
	b.WriteString(k)
	b.WriteString(`='`)
	xml.EscapeText(b, []byte(v)) // escapes ' too
	b.WriteByte('\'')
}

// empty writes a self-closing element.
func (b *out) empty(name, ns string, attrs ...string) {
	b.open(name, ns, attrs...)
	b.WriteString("/>")
}

// nodeAttrs returns a node's attributes in the namespace's vocabulary.
func nodeAttrs(n store.Node, ns string) []string {
	if ns == nsLegacy {
		return []string{"nodeId", n.ID, "sourceId", n.Source, "cacheType", n.Partition}
	}
	return []string{"id", n.ID, "src", n.Source, "pt", n.Partition}
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// tagElems writes tags as str and num elements.
func (b *out) tagElems(tags []iotdisco.Tag) {
	for _, t := range tags {
		name := "str"
		if t.Numeric {
			name = "num"
		}
		b.empty(name, "", "name", t.Name, "value", t.Value)
	}
}

// claimedElem is what both sides of a claim receive: jid is the other
// party, public always present (the schema's default is false).
func claimedElem(ns, jid string, n store.Node, public bool, withPublic bool) []byte {
	var b out
	attrs := append([]string{"jid", jid}, nodeAttrs(n, ns)...)
	if withPublic {
		attrs = append(attrs, "public", boolStr(public))
	}
	b.empty("claimed", ns, attrs...)
	return b.Bytes()
}
