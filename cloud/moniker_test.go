package cloud

import (
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	tests := []struct {
		app, stack, detail string
		seq                int
		cluster, group     string
	}{
		{"app", "", "", 3, "app", "app-v003"},
		{"app", "stack", "", 3, "app-stack", "app-stack-v003"},
		{"app", "stack", "detail", 3, "app-stack-detail", "app-stack-detail-v003"},
		{"app", "", "detail", 3, "app--detail", "app--detail-v003"},
		{"app", "stack", "some-detail", 0, "app-stack-some-detail", "app-stack-some-detail-v000"},
		{"app", "", "", 999, "app", "app-v999"},
		{"app", "", "", 1000, "app", "app-v000"},
		{"app", "", "", 1003, "app", "app-v003"},
		{"app", "", "", -1, "app", "app-v999"},
	}
	for _, tt := range tests {
		if got := ClusterName(tt.app, tt.stack, tt.detail); got != tt.cluster {
			t.Errorf("ClusterName(%q, %q, %q) = %q, want %q", tt.app, tt.stack, tt.detail, got, tt.cluster)
		}
		if got := ServerGroupName(tt.app, tt.stack, tt.detail, tt.seq); got != tt.group {
			t.Errorf("ServerGroupName(%q, %q, %q, %d) = %q, want %q", tt.app, tt.stack, tt.detail, tt.seq, got, tt.group)
		}
	}
}

func TestParseServerGroupName(t *testing.T) {
	seq := func(n int) *int { return &n }
	tests := []struct {
		name string
		want Moniker
		err  string
	}{
		{"app-v003", Moniker{App: "app", Cluster: "app", Sequence: seq(3)}, ""},
		{"app-stack-v003", Moniker{App: "app", Cluster: "app-stack", Stack: "stack", Sequence: seq(3)}, ""},
		{"app-stack-detail-v003", Moniker{App: "app", Cluster: "app-stack-detail", Stack: "stack", Detail: "detail", Sequence: seq(3)}, ""},
		{"app--detail-v012", Moniker{App: "app", Cluster: "app--detail", Detail: "detail", Sequence: seq(12)}, ""},
		{"app-stack-my-long-detail-v999", Moniker{App: "app", Cluster: "app-stack-my-long-detail", Stack: "stack", Detail: "my-long-detail", Sequence: seq(999)}, ""},
		{"app-v1000", Moniker{App: "app", Cluster: "app", Sequence: seq(1000)}, ""},
		{"app", Moniker{App: "app", Cluster: "app"}, ""},
		{"app-stack", Moniker{App: "app", Cluster: "app-stack", Stack: "stack"}, ""},
		// Two digits is not a sequence: it is part of the detail.
		{"app-stack-v01", Moniker{App: "app", Cluster: "app-stack-v01", Stack: "stack", Detail: "v01"}, ""},
		{"my.app_1-v000", Moniker{App: "my.app_1", Cluster: "my.app_1", Sequence: seq(0)}, ""},
		{"", Moniker{}, "empty server group name"},
		{"-v003", Moniker{}, "not of the form"},
		{"-app", Moniker{}, "not of the form"},
		{"app/x-v001", Moniker{}, "not of the form"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseServerGroupName(tt.name)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.App != tt.want.App || got.Cluster != tt.want.Cluster || got.Stack != tt.want.Stack || got.Detail != tt.want.Detail {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if (got.Sequence == nil) != (tt.want.Sequence == nil) || (got.Sequence != nil && *got.Sequence != *tt.want.Sequence) {
				t.Errorf("sequence = %v, want %v", deref(got.Sequence), deref(tt.want.Sequence))
			}
		})
	}
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestSequences(t *testing.T) {
	tests := []struct {
		name   string
		seqs   []int
		latest int
		ok     bool
		next   int
	}{
		{"none", nil, 0, false, 0},
		{"one", []int{0}, 0, true, 1},
		{"run", []int{0, 1, 2}, 2, true, 3},
		{"unordered with duplicates", []int{2, 0, 1, 2}, 2, true, 3},
		{"gaps below", []int{5, 7}, 7, true, 8},
		{"last before wrap", []int{997, 998, 999}, 999, true, 0},
		{"wrapped once", []int{998, 999, 0}, 0, true, 1},
		{"wrapped further", []int{999, 0, 1, 2}, 2, true, 3},
		{"oldest cleaned up across the wrap", []int{3, 999}, 3, true, 4},
		{"even split keeps the highest", []int{0, 500}, 500, true, 501},
		{"out of range values wrap", []int{1001}, 1, true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			latest, ok := LatestSequence(tt.seqs)
			if latest != tt.latest || ok != tt.ok {
				t.Errorf("LatestSequence = %d, %v; want %d, %v", latest, ok, tt.latest, tt.ok)
			}
			if got := NextSequence(tt.seqs); got != tt.next {
				t.Errorf("NextSequence = %d, want %d", got, tt.next)
			}
		})
	}
	all := make([]int, SequenceLimit)
	for i := range all {
		all[i] = i
	}
	if got := NextSequence(all); got != 0 {
		t.Errorf("NextSequence(all taken) = %d, want 0 (the one after the highest)", got)
	}
}
