package triggers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gennaker/gennaker/pipeline"
)

// evalCase is one delivery against candidates, and what Evaluate should make of it.
type evalCase struct {
	name       string
	d          Delivery
	candidates []Candidate
	// matches and disabled name candidates as application/pipeline#index.
	matches  []string
	disabled []string
	checked  int
	unsigned int
	// reasons are fragments each expected in Reasons, in order, one line each.
	reasons []string
	// err, when set, is the error Evaluate must wrap.
	err error
	// deliveries, when set, are the matches' delivery IDs, in order; otherwise every match is
	// the request's DeliveryID.
	deliveries []string
}

func runEvalCases(t *testing.T, tests []evalCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Evaluate(tt.d, tt.candidates)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("error: got %v, want one wrapping %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			var matches []string
			for _, m := range out.Matches {
				matches = append(matches, label(m.Candidate))
			}
			var disabled []string
			for _, m := range out.Disabled {
				disabled = append(disabled, label(m.Candidate))
			}
			if !reflect.DeepEqual(matches, tt.matches) {
				t.Errorf("matches: got %v, want %v", matches, tt.matches)
			}
			if !reflect.DeepEqual(disabled, tt.disabled) {
				t.Errorf("disabled: got %v, want %v", disabled, tt.disabled)
			}
			if out.Checked != tt.checked || out.Unsigned != tt.unsigned {
				t.Errorf("checked %d, unsigned %d; want %d, %d", out.Checked, out.Unsigned, tt.checked, tt.unsigned)
			}
			if len(out.Reasons) != len(tt.reasons) {
				t.Fatalf("reasons: got\n  %s\nwant fragments\n  %s", strings.Join(out.Reasons, "\n  "), strings.Join(tt.reasons, "\n  "))
			}
			for i, want := range tt.reasons {
				if !strings.Contains(out.Reasons[i], want) {
					t.Errorf("reason %d: %q does not contain %q", i, out.Reasons[i], want)
				}
			}
			for i, m := range slices.Concat(out.Matches, out.Disabled) {
				want := DeliveryID(tt.d)
				switch {
				case tt.deliveries == nil:
				case i < len(tt.deliveries):
					want = tt.deliveries[i]
				default:
					// A registry event's disabled match: its test looks at it.
					continue
				}
				if m.Trigger.DeliveryID != want || m.DeliveryID != want {
					t.Errorf("%s: delivery ID %q (trigger %q), want %q", label(m.Candidate), m.DeliveryID, m.Trigger.DeliveryID, want)
				}
				if tt.deliveries == nil && m.ExecutionID != ExecutionID(tt.d, m.Candidate) {
					t.Errorf("%s: execution ID %q, want ExecutionID's %q", label(m.Candidate), m.ExecutionID, ExecutionID(tt.d, m.Candidate))
				}
			}
			if tt.deliveries != nil && len(tt.deliveries) != len(out.Matches) {
				t.Errorf("delivery IDs: %d matches, want %d", len(out.Matches), len(tt.deliveries))
			}
		})
	}
}

func label(c Candidate) string { return fmt.Sprintf("%s/%s#%d", c.Application, c.Pipeline, c.Index) }

// cand builds a candidate from a trigger written as JSON, as a saved pipeline holds it.
func cand(t *testing.T, app, name string, index int, trigger string) Candidate {
	t.Helper()
	var tr pipeline.Trigger
	if err := json.Unmarshal([]byte(trigger), &tr); err != nil {
		t.Fatalf("trigger %s: %v", trigger, err)
	}
	return Candidate{Application: app, Pipeline: name, PipelineID: app + "-" + name + "-id", Index: index, Trigger: tr}
}

func disabledPipeline(c Candidate) Candidate {
	c.PipelineDisabled = true
	return c
}

func load(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// patch sets fields of a JSON object, a dotted key reaching into nested objects; a nil value deletes.
func patch(t *testing.T, body []byte, set map[string]any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	for key, v := range set {
		parts := strings.Split(key, ".")
		cur := m
		for _, p := range parts[:len(parts)-1] {
			next, ok := cur[p].(map[string]any)
			if !ok {
				t.Fatalf("patch %s: %s is not an object", key, p)
			}
			cur = next
		}
		if v == nil {
			delete(cur, parts[len(parts)-1])
		} else {
			cur[parts[len(parts)-1]] = v
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// headers builds a header from name, value pairs.
func headers(pairs ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(pairs); i += 2 {
		h.Set(pairs[i], pairs[i+1])
	}
	return h
}
