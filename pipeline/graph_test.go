package pipeline

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// stagesOf builds stages from refId and requisites, written "2<1,3" for stage 2 waiting for 1 and 3.
func stagesOf(specs ...string) []Stage {
	var out []Stage
	for _, spec := range specs {
		s := Stage{Type: "wait"}
		ref, reqs, _ := strings.Cut(spec, "<")
		s.RefID = ref
		if reqs != "" {
			s.RequisiteStageRefIDs = strings.Split(reqs, ",")
		}
		out = append(out, s)
	}
	return out
}

func refIDs(stages []Stage) []string {
	out := []string{}
	for _, s := range stages {
		out = append(out, s.RefID)
	}
	return out
}

func TestStageGraph(t *testing.T) {
	p := Pipeline{Stages: stagesOf("1", "2<1", "3<1", "4<2,3", "5", "6<9")}
	if s, ok := p.StageByRefID("3"); !ok || s.RefID != "3" {
		t.Errorf("StageByRefID(3) = %v, %v", s, ok)
	}
	if _, ok := p.StageByRefID("9"); ok {
		t.Error("StageByRefID(9) found a stage")
	}
	tests := []struct {
		name string
		got  []Stage
		want []string
	}{
		{"roots", p.Roots(), []string{"1", "5"}},
		{"downstream of 1", p.Downstream("1"), []string{"2", "3"}},
		{"downstream of 3", p.Downstream("3"), []string{"4"}},
		{"downstream of a leaf", p.Downstream("4"), []string{}},
		{"upstream of 4", p.Upstream("4"), []string{"2", "3"}},
		{"upstream skips unknown", p.Upstream("6"), []string{}},
		{"upstream of unknown", p.Upstream("9"), []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := refIDs(tt.got); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTopologicalOrder(t *testing.T) {
	tests := []struct {
		name   string
		stages []Stage
		want   []string
		err    string
		cycle  []string
	}{
		{"empty", nil, []string{}, "", nil},
		{"diamond", stagesOf("1", "2<1", "3<1", "4<2,3", "5"), []string{"1", "2", "3", "4", "5"}, "", nil},
		{"listed out of order", stagesOf("b<a", "c<b", "a"), []string{"a", "b", "c"}, "", nil},
		{"earlier stage first among ready", stagesOf("x<r", "r", "y"), []string{"r", "x", "y"}, "", nil},
		{"requisite listed twice", stagesOf("1", "2<1,1"), []string{"1", "2"}, "", nil},
		{"cycle", stagesOf("1<3", "2<1", "3<2", "4"), nil,
			`stages wait for each other in a cycle: "1" -> "2" -> "3" -> "1"`, []string{"1", "2", "3", "1"}},
		{"cycle downstream of a stage", stagesOf("0", "a<0,c", "b<a", "c<b", "d<c"), nil,
			`stages wait for each other in a cycle: "a" -> "b" -> "c" -> "a"`, []string{"a", "b", "c", "a"}},
		{"self", stagesOf("1<1"), nil, `stages wait for each other in a cycle: "1" -> "1"`, []string{"1", "1"}},
		{"duplicate refId", stagesOf("1", "1"), nil, `duplicate refId "1"`, nil},
		{"unknown requisite", stagesOf("1<7"), nil, `stage "1" waits for unknown refId "7"`, nil},
		{"no refId", []Stage{{Type: "wait", Name: "Hold"}}, nil, "stage 0 (Hold) has no refId", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Pipeline{Stages: tt.stages}.TopologicalOrder()
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				var cycle *CycleError
				if errors.As(err, &cycle) != (tt.cycle != nil) {
					t.Fatalf("error %T, cycle expected: %v", err, tt.cycle != nil)
				}
				if cycle != nil && !reflect.DeepEqual(cycle.RefIDs, tt.cycle) {
					t.Fatalf("cycle %v, want %v", cycle.RefIDs, tt.cycle)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ids := refIDs(got); !reflect.DeepEqual(ids, tt.want) {
				t.Fatalf("order %v, want %v", ids, tt.want)
			}
		})
	}
}

func TestFindCycles(t *testing.T) {
	tests := []struct {
		name     string
		stages   []Stage
		withSelf bool
		want     [][]string
	}{
		{"none", stagesOf("1", "2<1"), false, nil},
		{"two separate cycles", stagesOf("1<2", "2<1", "3", "4<5", "5<4"), false, [][]string{{"1", "2", "1"}, {"4", "5", "4"}}},
		{"self ignored", stagesOf("1<1"), false, nil},
		{"self counted", stagesOf("1<1"), true, [][]string{{"1", "1"}}},
		{"one component, several loops", stagesOf("1<3", "2<1", "3<2,1", "4<3"), false, [][]string{{"1", "2", "3", "1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [][]string
			for _, c := range findCycles(tt.stages, tt.withSelf) {
				got = append(got, cycleRefIDs(tt.stages, c))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}
