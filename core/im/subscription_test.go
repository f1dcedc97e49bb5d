package im

import (
	"testing"

	"github.com/extasis/extasis/core/storage"
)

// The nine states of RFC 6121 Appendix A, in its order.
var appendixStates = []subState{
	{Sub: storage.None},
	{Sub: storage.None, Out: true},
	{Sub: storage.None, In: true},
	{Sub: storage.None, Out: true, In: true},
	{Sub: storage.To},
	{Sub: storage.To, In: true},
	{Sub: storage.From},
	{Sub: storage.From, Out: true},
	{Sub: storage.Both},
}

// TestAppendixA checks every transition against RFC 6121 Appendix A: for
// each of the eight stanza kinds (four outbound, four inbound) and each of
// the nine states, the new state and whether the stanza goes on.
func TestAppendixA(t *testing.T) {
	type row struct {
		next string
		pass bool
	}
	tables := []struct {
		name string
		f    func(subState) (subState, bool)
		want []row
	}{
		{"outbound subscribe", outSubscribe, []row{
			{"None + Pending Out", true}, {"None + Pending Out", true}, {"None + Pending Out/In", true},
			{"None + Pending Out/In", true}, {"To", true}, {"To + Pending In", true},
			{"From + Pending Out", true}, {"From + Pending Out", true}, {"Both", true}}},
		{"outbound subscribed", outSubscribed, []row{
			{"None + Pre-approved", false}, {"None + Pending Out + Pre-approved", false}, {"From", true},
			{"From + Pending Out", true}, {"To + Pre-approved", false}, {"Both", true},
			{"From", false}, {"From + Pending Out", false}, {"Both", false}}},
		{"outbound unsubscribe", outUnsubscribe, []row{
			{"None", false}, {"None", true}, {"None + Pending In", false},
			{"None + Pending In", true}, {"None", true}, {"None + Pending In", true},
			{"From", false}, {"From", true}, {"From", true}}},
		{"outbound unsubscribed", outUnsubscribed, []row{
			{"None", false}, {"None + Pending Out", false}, {"None", true},
			{"None + Pending Out", true}, {"To", false}, {"To", true},
			{"None", true}, {"None + Pending Out", true}, {"To", true}}},
		{"inbound subscribe", func(s subState) (subState, bool) { n, d, _ := inSubscribe(s); return n, d }, []row{
			{"None + Pending In", true}, {"None + Pending Out/In", true}, {"None + Pending In", false},
			{"None + Pending Out/In", false}, {"To + Pending In", true}, {"To + Pending In", false},
			{"From", false}, {"From + Pending Out", false}, {"Both", false}}},
		{"inbound subscribed", inSubscribed, []row{
			{"None", false}, {"To", true}, {"None + Pending In", false},
			{"To + Pending In", true}, {"To", false}, {"To + Pending In", false},
			{"From", false}, {"Both", true}, {"Both", false}}},
		{"inbound unsubscribe", inUnsubscribe, []row{
			{"None", false}, {"None + Pending Out", false}, {"None", true},
			{"None + Pending Out", true}, {"To", false}, {"To", true},
			{"None", true}, {"None + Pending Out", true}, {"To", true}}},
		{"inbound unsubscribed", inUnsubscribed, []row{
			{"None", false}, {"None", true}, {"None + Pending In", false},
			{"None + Pending In", true}, {"None", true}, {"None + Pending In", true},
			{"From", false}, {"From", true}, {"From", true}}},
	}
	for _, tb := range tables {
		for i, from := range appendixStates {
			t.Run(tb.name+"/"+stateName(from), func(t *testing.T) {
				next, pass := tb.f(from)
				if got := stateName(next); got != tb.want[i].next || pass != tb.want[i].pass {
					t.Fatalf("got %q pass=%v, want %q pass=%v", got, pass, tb.want[i].next, tb.want[i].pass)
				}
			})
		}
	}
}

// TestPreApprovedSubscribe: §3.4, an inbound request for a pre-approved
// contact is answered by the server and the approval is used up.
func TestPreApprovedSubscribe(t *testing.T) {
	tests := []struct {
		from subState
		want string
	}{
		{subState{Sub: storage.None, Approved: true}, "From"},
		{subState{Sub: storage.None, Out: true, Approved: true}, "From + Pending Out"},
		{subState{Sub: storage.To, Approved: true}, "Both"},
	}
	for _, tt := range tests {
		t.Run(stateName(tt.from), func(t *testing.T) {
			next, deliver, auto := inSubscribe(tt.from)
			if stateName(next) != tt.want || deliver || !auto {
				t.Fatalf("got %s deliver=%v auto=%v", stateName(next), deliver, auto)
			}
		})
	}
}
