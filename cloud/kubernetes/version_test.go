package kubernetes

import "testing"

func TestNextVersion(t *testing.T) {
	tests := []struct {
		name     string
		existing []string
		base     string
		want     string
		seq      int
	}{
		{"first", nil, "web", "web-v000", 0},
		{"after v000 to v002", []string{"web-v000", "web-v001", "web-v002"}, "web", "web-v003", 3},
		{"unordered", []string{"web-v002", "web-v000", "web-v001"}, "web", "web-v003", 3},
		{"after the highest", []string{"web-v001", "web-v007"}, "web", "web-v008", 8},
		{"other bases ignored", []string{"web-config-v009", "webx-v004", "web-v001"}, "web", "web-v002", 2},
		{"unversioned name ignored", []string{"web", "web-v1", "web-vx01"}, "web", "web-v000", 0},
		{"wraps after v999", []string{"web-v998", "web-v999"}, "web", "web-v000", 0},
		{"after the wrap", []string{"web-v998", "web-v999", "web-v000"}, "web", "web-v001", 1},
		{"after the wrap, old ones cleaned", []string{"web-v999", "web-v000", "web-v001"}, "web", "web-v002", 2},
		{"base with hyphens and v", []string{"my-svc-v2-v004"}, "my-svc-v2", "my-svc-v2-v005", 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, seq := NextVersion(tt.existing, tt.base)
			if name != tt.want || seq != tt.seq {
				t.Errorf("NextVersion = %q, %d; want %q, %d", name, seq, tt.want, tt.seq)
			}
		})
	}
}

func TestLatestVersion(t *testing.T) {
	tests := []struct {
		name     string
		existing []string
		want     string
		ok       bool
	}{
		{"none", nil, "", false},
		{"highest", []string{"cfg-v000", "cfg-v002", "cfg-v001"}, "cfg-v002", true},
		{"across the wrap", []string{"cfg-v999", "cfg-v000"}, "cfg-v000", true},
		{"only other names", []string{"cfg", "cfg2-v001"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, _, ok := LatestVersion(tt.existing, "cfg")
			if name != tt.want || ok != tt.ok {
				t.Errorf("LatestVersion = %q, %v; want %q, %v", name, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestSplitVersion(t *testing.T) {
	tests := []struct {
		name string
		base string
		seq  int
		ok   bool
	}{
		{"web-v003", "web", 3, true},
		{"web-config-v120", "web-config", 120, true},
		{"web-v1000", "web", 1000, true},
		{"web-v03", "", 0, false},
		{"web", "", 0, false},
		{"-v003", "", 0, false},
		{"web-v00a", "", 0, false},
	}
	for _, tt := range tests {
		base, seq, ok := SplitVersion(tt.name)
		if base != tt.base || seq != tt.seq || ok != tt.ok {
			t.Errorf("SplitVersion(%q) = %q, %d, %v; want %q, %d, %v", tt.name, base, seq, ok, tt.base, tt.seq, tt.ok)
		}
	}
}

func TestVersioned(t *testing.T) {
	tests := []struct {
		kind        string
		annotations map[string]string
		want        bool
		err         string
	}{
		{"ReplicaSet", nil, true, ""},
		{"ConfigMap", nil, true, ""},
		{"Secret", nil, true, ""},
		{"Pod", nil, true, ""},
		{"Deployment", nil, false, ""},
		{"StatefulSet", nil, false, ""},
		{"DaemonSet", nil, false, ""},
		{"Service", nil, false, ""},
		{"Job", nil, false, ""},
		{"Deployment", map[string]string{AnnotationVersioned: "true"}, true, ""},
		{"ConfigMap", map[string]string{AnnotationVersioned: "false"}, false, ""},
		{"ConfigMap", map[string]string{AnnotationVersioned: "no"}, false, `annotation strategy.spinnaker.io/versioned is "no"`},
	}
	for _, tt := range tests {
		got, err := Versioned(tt.kind, tt.annotations)
		if tt.err != "" {
			wantError(t, err, tt.err)
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Versioned(%s, %v) = %v, %v; want %v", tt.kind, tt.annotations, got, err, tt.want)
		}
	}
}
