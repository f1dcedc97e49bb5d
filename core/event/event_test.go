package event

import (
	"context"
	"testing"

	"github.com/extasis/extasis/core/jid"
)

func TestSubscribePublishCancel(t *testing.T) {
	b := New()
	var got []string
	c1 := b.Subscribe(NameSessionOnline, func(_ context.Context, e Event) {
		got = append(got, "a:"+e.(SessionOnline).JID.String())
	})
	c2 := b.Subscribe(NameSessionOnline, func(_ context.Context, e Event) { got = append(got, "b") })
	b.Subscribe(NameThingClaimed, func(_ context.Context, e Event) { got = append(got, "claim:"+e.(Custom).Attrs["thing"]) })

	b.Publish(context.Background(), SessionOnline{JID: jid.MustParse("a@b/c")})
	b.Publish(context.Background(), Custom{Name: NameThingClaimed, Attrs: map[string]string{"thing": "t@b"}})
	c1()
	c1()
	b.Publish(context.Background(), SessionOnline{JID: jid.MustParse("a@b/c")})
	c2()
	if b.HasSubscribers(NameSessionOnline) {
		t.Fatal("subscribers left after cancel")
	}
	want := []string{"a:a@b/c", "b", "claim:t@b", "b"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}
