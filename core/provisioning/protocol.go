package provisioning

import (
	"strconv"
	"strings"

	"github.com/extasis/extasis/core/xml"
)

// NSExtasis is our own namespace for what the IoT protocols do not cover:
// owners' Rego modules, enforcement mode, listing and changing rules, the
// decision audit and answers to questions by data form.
const NSExtasis = "urn:extasis:provisioning:0"

// FormType is the FORM_TYPE of the question forms sent to owners.
const FormType = "urn:extasis:provisioning:question:0"

// nsLegacy is XEP-0324's single namespace (device side only).
const nsLegacy = "urn:xmpp:iot:provisioning"

// family is a generation of the IoT namespaces (digest §0.2).
type family uint8

const (
	famNF family = iota // urn:nf:iot:…, what Waher's libraries send today
	famIEEE
	famNFI
	famLegacy // urn:xmpp:iot:provisioning
)

var familyPrefix = [...]string{famNF: "urn:nf:iot:", famIEEE: "urn:ieee:iot:", famNFI: "urn:nfi:iot:"}

// ns returns the namespace of area ("prov:d", "prov:o", "sd", "ctr",
// "events") in family f; the legacy family has one namespace for
// provisioning.
func (f family) ns(area string) string {
	if f == famLegacy {
		return nsLegacy
	}
	return familyPrefix[f] + area + ":1.0"
}

// familyOf returns the family and area of a namespace.
func familyOf(ns string) (f family, area string, ok bool) {
	if ns == nsLegacy {
		return famLegacy, "prov", true
	}
	for i, p := range familyPrefix {
		if rest, found := strings.CutPrefix(ns, p); found {
			if a, found := strings.CutSuffix(rest, ":1.0"); found {
				return family(i), a, true
			}
		}
	}
	return 0, "", false
}

// Features are what the provisioning component advertises in disco#info:
// decision support, owner provisioning and tokens in every family, legacy
// XEP-0324 and our own namespace.
func Features() []string {
	var out []string
	for _, f := range []family{famIEEE, famNF, famNFI} {
		out = append(out, f.ns("prov:d"), f.ns("prov:o"), f.ns("prov:t"))
	}
	return append(out, nsLegacy, NSExtasis)
}

// question is a device-side question as parsed, with what is needed to
// answer in the form it was asked.
type question struct {
	req      Request
	fam      family
	name     string // isFriend, canRead, canControl
	remote   string // the jid attribute as sent
	allCats  bool   // the request asked for all categories
	paramTag string // "p" (schema) or "parameter" (Waher, legacy)
}

func tokenList(v string) []string {
	if v == "" {
		return nil
	}
	return strings.Fields(v)
}

func boolAttr(e *xml.Element, name string) bool {
	v := e.Attr(name)
	return v == "true" || v == "1"
}

// parseTokens reads st/dt/ut (XEP-0324: serviceToken/deviceToken/userToken).
func parseTokens(e *xml.Element, legacy bool) Tokens {
	if legacy {
		return Tokens{Service: tokenList(e.Attr("serviceToken")), Device: tokenList(e.Attr("deviceToken")), User: tokenList(e.Attr("userToken"))}
	}
	return Tokens{Service: tokenList(e.Attr("st")), Device: tokenList(e.Attr("dt")), User: tokenList(e.Attr("ut"))}
}

// parseNode reads one nd (or legacy node) element; an empty id alone means no
// node (digest §2.1, Waher always writes id).
func parseNode(c *xml.Element, legacy bool) (Node, bool) {
	if legacy {
		if c.Name.Local != "node" {
			return Node{}, false
		}
		return Node{ID: c.Attr("nodeId"), Source: c.Attr("sourceId"), Partition: c.Attr("cacheType")}, true
	}
	if c.Name.Local != "nd" {
		return Node{}, false
	}
	return Node{ID: c.Attr("id"), Source: c.Attr("src"), Partition: c.Attr("pt")}, true
}

// parseCategories reads the category attributes of e; none at all means
// all (XEP-0323 §3.2).
func parseCategoryAttrs(e *xml.Element, legacy bool) (c Categories, all bool) {
	if boolAttr(e, "all") {
		return AllCategories, true
	}
	names := categoryAttrs[:]
	if legacy {
		names = legacyCategoryAttrs[:]
	}
	for i, n := range names {
		if boolAttr(e, n) {
			c |= 1 << i
		}
	}
	if c == 0 {
		return AllCategories, true
	}
	return c, c == AllCategories
}

// parseQuestion reads an isFriend, canRead or canControl payload.
func parseQuestion(e *xml.Element, fam family) (*question, bool) {
	legacy := fam == famLegacy
	q := &question{fam: fam, name: e.Name.Local, remote: e.Attr("jid"), paramTag: "p"}
	if legacy {
		q.paramTag = "parameter"
	}
	switch e.Name.Local {
	case "isFriend":
		q.req.Action = Friend
		return q, true
	case "canRead":
		q.req.Action = Read
		q.req.Categories, q.allCats = parseCategoryAttrs(e, legacy)
	case "canControl":
		q.req.Action = Control
	default:
		return nil, false
	}
	q.req.Tokens = parseTokens(e, legacy)
	fieldTag, fieldAttr := "f", "n"
	if legacy {
		fieldTag, fieldAttr = "field", "name"
	}
	for _, c := range e.Children {
		if c.Name.Space != e.Name.Space {
			continue
		}
		if n, ok := parseNode(c, legacy); ok {
			if !n.IsZero() {
				q.req.Nodes = append(q.req.Nodes, n)
			}
			continue
		}
		switch {
		case q.req.Action == Read && c.Name.Local == fieldTag:
			if v := c.Attr(fieldAttr); v != "" {
				q.req.Fields = append(q.req.Fields, v)
			}
		case q.req.Action == Control && c.Name.Local == "p":
			if v := c.Attr("n"); v != "" {
				q.req.Params = append(q.req.Params, v)
			}
		case q.req.Action == Control && c.Name.Local == "parameter":
			// Waher's devices send <parameter name/> and only read that
			// back: answer in the element they used.
			q.paramTag = "parameter"
			if v := c.Attr("name"); v != "" {
				q.req.Params = append(q.req.Params, v)
			}
		}
	}
	return q, true
}

// nodeElement renders n as nd (or legacy node) in space.
func nodeElement(space string, n Node, legacy bool) *xml.Element {
	if legacy {
		e := xml.New(space, "node", "nodeId", n.ID)
		if n.Source != "" {
			e.SetAttr("sourceId", n.Source)
		}
		if n.Partition != "" {
			e.SetAttr("cacheType", n.Partition)
		}
		return e
	}
	e := xml.New(space, "nd", "id", n.ID)
	if n.Source != "" {
		e.SetAttr("src", n.Source)
	}
	if n.Partition != "" {
		e.SetAttr("pt", n.Partition)
	}
	return e
}

// setCategoryAttrs writes the categories as flags; all six as all='true'
// when the request said all (digest §0.5 trap 5: always echo categories).
func setCategoryAttrs(e *xml.Element, c Categories, all, legacy bool) {
	if all && c == AllCategories {
		e.SetAttr("all", "true")
		return
	}
	names := categoryAttrs[:]
	if legacy {
		names = legacyCategoryAttrs[:]
	}
	for i, n := range names {
		if c&(1<<i) != 0 {
			e.SetAttr(n, "true")
		}
	}
}

// answer renders the response payload to q for decision d.
func (q *question) answer(d Decision) []byte {
	space := q.fam.ns("prov:d")
	legacy := q.fam == famLegacy
	e := xml.New(space, q.name+"Response", "jid", q.remote, "result", strconv.FormatBool(d.Allow))
	if d.Allow {
		switch q.req.Action {
		case Read:
			setCategoryAttrs(e, d.Categories, q.allCats, legacy)
			q.addNodes(e, d, legacy)
			if d.Fields != nil {
				tag, attr := "f", "n"
				if legacy {
					tag, attr = "field", "name"
				}
				for _, f := range d.Fields {
					e.Add(xml.New(space, tag, attr, f))
				}
			}
		case Control:
			q.addNodes(e, d, legacy)
			if d.Params != nil {
				attr := "n"
				if q.paramTag == "parameter" {
					attr = "name"
				}
				for _, p := range d.Params {
					e.Add(xml.New(space, q.paramTag, attr, p))
				}
			}
		}
	}
	return e.Append(nil, "")
}

// addNodes echoes the permitted nodes when the question named nodes.
func (q *question) addNodes(e *xml.Element, d Decision, legacy bool) {
	if len(q.req.Nodes) == 0 {
		return
	}
	for _, n := range d.Nodes {
		e.Add(nodeElement(e.Name.Space, n, legacy))
	}
}

// clearCachePayload is the clearCache push for a thing (node-scoped when n
// is set).
func clearCachePayload(fam family, n Node) []byte {
	e := xml.New(fam.ns("prov:d"), "clearCache")
	if !n.IsZero() && fam != famLegacy {
		e.SetAttr("id", n.ID)
		if n.Source != "" {
			e.SetAttr("src", n.Source)
		}
		if n.Partition != "" {
			e.SetAttr("pt", n.Partition)
		}
	}
	return e.Append(nil, "")
}

// friendPayload is a friend or unfriend message payload.
func friendPayload(fam family, name, remote string) []byte {
	return xml.New(fam.ns("prov:d"), name, "jid", remote).Append(nil, "")
}
