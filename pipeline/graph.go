package pipeline

import (
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Stages form a directed graph: a stage runs after every stage in its requisiteStageRefIds. Where
// refIds are duplicated, the first stage with the refId is the one the graph knows.

// CycleError reports stages that wait for each other, so none of them can start.
type CycleError struct {
	// RefIDs lists the cycle in running order, the first refId repeated at the end: 1, 2, 1 means
	// 2 waits for 1 and 1 waits for 2.
	RefIDs []string
}

// Error names the refIds in the cycle.
func (e *CycleError) Error() string {
	quoted := make([]string, len(e.RefIDs))
	for i, r := range e.RefIDs {
		quoted[i] = strconv.Quote(r)
	}
	return "stages wait for each other in a cycle: " + strings.Join(quoted, " -> ")
}

// findCycles returns one cycle, as stage indexes in running order, for every group of stages that
// wait for each other (strongly connected components), ordered by their earliest stage. Each cycle
// starts at its earliest stage. A stage naming itself is reported elsewhere, not as a cycle.
func findCycles(stages []Stage) [][]int {
	index := map[string]int{}
	for i, s := range stages {
		if _, dup := index[s.RefID]; !dup {
			index[s.RefID] = i
		}
	}
	// up[i] lists the stages i waits for, in the order i lists them.
	up := make([][]int, len(stages))
	for i, s := range stages {
		if index[s.RefID] != i {
			continue
		}
		for _, r := range uniqueStrings(s.RequisiteStageRefIDs) {
			if j, ok := index[r]; ok && j != i {
				up[i] = append(up[i], j)
			}
		}
	}
	var cycles [][]int
	for _, comp := range stronglyConnected(up) {
		if len(comp) == 1 && !slices.Contains(up[comp[0]], comp[0]) {
			continue
		}
		cycles = append(cycles, cycleIn(up, comp))
	}
	sort.Slice(cycles, func(a, b int) bool { return cycles[a][0] < cycles[b][0] })
	return cycles
}

// cycleIn walks upstream from the earliest stage of a component, staying inside it, until a stage
// repeats, and returns that cycle in running order starting at its earliest stage.
func cycleIn(up [][]int, comp []int) []int {
	inComp := map[int]bool{}
	start := comp[0]
	for _, c := range comp {
		inComp[c] = true
		if c < start {
			start = c
		}
	}
	seenAt := map[int]int{}
	var walk []int
	for at := start; ; {
		if pos, seen := seenAt[at]; seen {
			walk = walk[pos:]
			break
		}
		seenAt[at] = len(walk)
		walk = append(walk, at)
		moved := false
		for _, next := range up[at] {
			if inComp[next] {
				at, moved = next, true
				break
			}
		}
		if !moved {
			// Cannot happen in a real component; stop rather than loop.
			break
		}
	}
	// walk goes from a stage to what it waits for; running order is the reverse.
	for i, j := 0, len(walk)-1; i < j; i, j = i+1, j-1 {
		walk[i], walk[j] = walk[j], walk[i]
	}
	earliest := 0
	for i, s := range walk {
		if s < walk[earliest] {
			earliest = i
		}
	}
	return append(walk[earliest:], walk[:earliest]...)
}

// stronglyConnected is Tarjan's algorithm over stage indexes.
func stronglyConnected(edges [][]int) [][]int {
	n := len(edges)
	index := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	var comps [][]int
	next := 0
	var visit func(v int)
	visit = func(v int) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range edges[v] {
			if index[w] < 0 {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			var comp []int
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				comp = append(comp, w)
				if w == v {
					break
				}
			}
			sort.Ints(comp)
			comps = append(comps, comp)
		}
	}
	for v := 0; v < n; v++ {
		if index[v] < 0 {
			visit(v)
		}
	}
	return comps
}

// cycleRefIDs names a cycle's stages, repeating the first at the end.
func cycleRefIDs(stages []Stage, cycle []int) []string {
	refs := make([]string, 0, len(cycle)+1)
	for _, i := range cycle {
		refs = append(refs, stages[i].RefID)
	}
	return append(refs, stages[cycle[0]].RefID)
}

func describeCycle(stages []Stage, cycle []int) string {
	return (&CycleError{RefIDs: cycleRefIDs(stages, cycle)}).Error()
}

func uniqueStrings(list []string) []string {
	seen := make(map[string]bool, len(list))
	out := make([]string, 0, len(list))
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
