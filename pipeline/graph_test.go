package pipeline

import (
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

func TestFindCycles(t *testing.T) {
	tests := []struct {
		name   string
		stages []Stage
		want   [][]string
	}{
		{"none", stagesOf("1", "2<1"), nil},
		{"two separate cycles", stagesOf("1<2", "2<1", "3", "4<5", "5<4"), [][]string{{"1", "2", "1"}, {"4", "5", "4"}}},
		{"self ignored", stagesOf("1<1"), nil},
		{"one component, several loops", stagesOf("1<3", "2<1", "3<2,1", "4<3"), [][]string{{"1", "2", "3", "1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [][]string
			for _, c := range findCycles(tt.stages) {
				got = append(got, cycleRefIDs(tt.stages, c))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}
