package xml

import "testing"

func TestSetAttrs(t *testing.T) {
	tests := []struct {
		name, raw string
		kv        []string
		want      string
	}{
		{"replace in place", `<message to='a' from="spoof" id='1'><body/></message>`, []string{"from", "b@c/d"},
			`<message to='a' from="b@c/d" id='1'><body/></message>`},
		{"add", `<message to='a'/>`, []string{"from", "b", "id", "x&y"}, `<message to='a' from='b' id='x&amp;y'/>`},
		{"add to open tag", `<message to='a'><body/></message>`, []string{"from", "b"}, `<message to='a' from='b'><body/></message>`},
		{"remove", `<message  from='x'  to='a' xml:lang='en'/>`, []string{"-from", "", "-xml:lang", ""}, `<message  to='a'/>`},
		{"remove missing", `<message to='a'/>`, []string{"-from", ""}, `<message to='a'/>`},
		{"last wins", `<a x='1'/>`, []string{"x", "2", "x", "3", "y", "4", "-y", ""}, `<a x='3'/>`},
		{"set xml:lang", `<a xml:lang='en'/>`, []string{"xml:lang", "de"}, `<a xml:lang='de'/>`},
		{"no attributes", `<a/>`, []string{"x", "'\""}, `<a x='&apos;&quot;'/>`},
		{"space before close", `<a x='1' ></a>`, []string{"y", "2"}, `<a x='1' y='2' ></a>`},
		{"gt in value", `<a x='>' y='z'>t</a>`, []string{"y", "w"}, `<a x='>' y='w'>t</a>`},
		{"child attrs untouched", `<a><b from='x'/></a>`, []string{"-from", ""}, `<a><b from='x'/></a>`},
		{"odd kv", `<a x='1'/>`, []string{"x"}, `<a x='1'/>`},
		{"not an element", `hello`, []string{"x", "1"}, `hello`},
		{"unterminated value", `<a x='1/>`, []string{"x", "2"}, `<a x='1/>`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(SetAttrs([]byte("pre"), []byte(tc.raw), tc.kv...))
			if got != "pre"+tc.want {
				t.Fatalf("got  %s\nwant pre%s", got, tc.want)
			}
			if _, err := Parse([]byte(tc.raw), ""); err == nil {
				if _, err := Parse([]byte(tc.want), ""); err != nil {
					t.Fatalf("output does not parse: %v", err)
				}
			}
		})
	}
}

func TestInsertChild(t *testing.T) {
	child := []byte(`<delay xmlns='urn:xmpp:delay' stamp='2002-09-10T23:08:25Z'/>`)
	tests := []struct{ raw, want string }{
		{`<message to='a'/>`, `<message to='a'>` + string(child) + `</message>`},
		{`<message to='a' />`, `<message to='a' >` + string(child) + `</message>`},
		{`<c:message xmlns:c='jabber:client'/>`, `<c:message xmlns:c='jabber:client'>` + string(child) + `</c:message>`},
		{`<message><body>x</body></message>`, `<message><body>x</body>` + string(child) + `</message>`},
		{`<message>text</message >`, `<message>text` + string(child) + `</message >`},
		{`<message>`, `<message>`},
		{`nothing`, `nothing`},
	}
	for _, tc := range tests {
		got := InsertChild(nil, []byte(tc.raw), child)
		if string(got) != tc.want {
			t.Errorf("InsertChild(%s) = %s", tc.raw, got)
			continue
		}
		if tc.raw == tc.want {
			continue
		}
		e, err := Parse(got, "jabber:client")
		if err != nil {
			t.Fatalf("%s: %v", got, err)
		}
		last := e.Children[len(e.Children)-1]
		if last.Name != (Name{"urn:xmpp:delay", "delay"}) || last.Attr("stamp") == "" {
			t.Errorf("%s: last child %+v", got, last)
		}
	}
}

func TestEnsureNamespace(t *testing.T) {
	tests := []struct{ raw, want string }{
		{`<message to='a'><body/></message>`, `<message xmlns='jabber:client' to='a'><body/></message>`},
		{`<message/>`, `<message xmlns='jabber:client'/>`},
		{`<message xmlns='jabber:server'/>`, `<message xmlns='jabber:server'/>`},
		{`<message xmlns:x='urn:x' xmlns = "jabber:server"/>`, `<message xmlns:x='urn:x' xmlns = "jabber:server"/>`},
		{`bad`, `bad`},
	}
	for _, tc := range tests {
		got := EnsureNamespace(nil, []byte(tc.raw), "jabber:client")
		if string(got) != tc.want {
			t.Errorf("EnsureNamespace(%s) = %s", tc.raw, got)
			continue
		}
		if tc.raw == "bad" {
			continue
		}
		e, err := Parse(got, "")
		if err != nil {
			t.Fatal(err)
		}
		if tc.raw == tc.want && e.Name.Space != "jabber:server" || tc.raw != tc.want && e.Name.Space != "jabber:client" {
			t.Errorf("%s: namespace %q", got, e.Name.Space)
		}
	}
}

func TestInnerXML(t *testing.T) {
	tests := []struct{ raw, want string }{
		{`<a/>`, ""},
		{`<a x='>'><b/>t<c>u</c></a>`, `<b/>t<c>u</c>`},
		{`<a></a>`, ""},
		{`<a>`, ""},
		{``, ""},
	}
	for _, tc := range tests {
		if got := InnerXML([]byte(tc.raw)); string(got) != tc.want {
			t.Errorf("InnerXML(%s) = %q", tc.raw, got)
		}
	}
	if InnerXML([]byte(`<a/>`)) != nil {
		t.Error("InnerXML of an empty-element tag is not nil")
	}
}

func TestSetAttrsAllocs(t *testing.T) {
	raw := []byte(`<message to='a' from='b' xml:lang='en'><body>x</body></message>`)
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { buf = SetAttrs(buf[:0], raw, "from", "c", "id", "new") }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
