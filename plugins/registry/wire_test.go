package main

import (
	"errors"
	"testing"

	"github.com/extasis/extasis/plugins/registry/store"
	"github.com/extasis/extasis/sdk/iotdisco"
)

// FuzzRequest: any iq payload is parsed into tags and search operators
// without panicking; refusals are bad-request texts; accepted tags pass
// the tag rules and accepted operators are ones the store can run.
func FuzzRequest(f *testing.F) {
	for _, s := range []string{
		`<register xmlns='urn:nf:iot:disco:1.0'>` + meterT + `</register>`,
		`<search xmlns='urn:nf:iot:disco:1.0'><strMask name='SN' value='A7Q-*' wildcard='*'/><numRange name='V' min='3' max='4' maxIncluded='false'/></search>`,
		`<search xmlns='urn:xmpp:iot:discovery'><strEq name='M*' nameWildcard='*' value='x'/><numNRange name='V' min='-1e3' max='.5'/></search>`,
		`<search xmlns='urn:nf:iot:disco:1.0'><strRegEx name='SN' value='(a|b)+'/></search>`,
		`<mine xmlns='urn:nf:iot:disco:1.0' public='false'><num name='V' value='3.10'/><str name='KEY' value='&amp;&lt;'/></mine>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		e, err := payload([]byte("<iq type='get' id='f'>" + p + "</iq>"))
		if err != nil {
			return
		}
		var br *badRequest
		if tg, err := tags(e, 32); err != nil {
			if !errors.As(err, &br) {
				t.Fatalf("tags: %v is not a bad request", err)
			}
		} else if err := iotdisco.CheckTags(tg); err != nil {
			t.Fatalf("accepted tags break the rules: %v", err)
		}
		ops, err := operators(e, e.name.Space)
		if err != nil {
			if !errors.As(err, &br) {
				t.Fatalf("operators: %v is not a bad request", err)
			}
			return
		}
		for _, op := range ops {
			if op.Name == "" {
				t.Fatalf("operator without a name: %+v", op)
			}
			if op.Kind == store.OpMask && op.Wildcard == 0 {
				t.Fatalf("mask without a wildcard: %+v", op)
			}
		}
		if _, err := boolAttr(e, "public", true); err != nil && !errors.As(err, &br) {
			t.Fatal(err)
		}
		if _, err := intAttr(e, "offset", 0); err != nil && !errors.As(err, &br) {
			t.Fatal(err)
		}
	})
}
