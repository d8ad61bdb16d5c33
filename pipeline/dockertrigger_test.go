package pipeline

import (
	"testing"
)

func TestValidateDockerTrigger(t *testing.T) {
	tests := []struct {
		name string
		// triggers is the YAML list under "triggers:".
		triggers string
		want     []string
	}{
		{
			name: "valid",
			triggers: `
- {type: docker, registry: registry.example.com, repository: acme/web, tag: 'v\d+\.\d+\.\d+', secret: s3cret}
- {type: docker, registry: "127.0.0.1:5000", repository: web}
- {type: docker, registry: "[::1]:5000", repository: team/sub/web_api, tag: ""}
- {type: docker, registry: localhost, repository: a.b/c--d/e__f, enabled: false}`,
		},
		{
			name:     "registry and repository required",
			triggers: `[{type: docker}, {type: docker, registry: " ", repository: 7}]`,
			want: []string{
				"triggers[0].registry: required",
				"triggers[0].repository: required",
				"triggers[1].registry: required",
				"triggers[1].repository: must be a string",
			},
		},
		{
			name: "names as images write them",
			triggers: `
- {type: docker, registry: "https://registry.example.com", repository: Acme/Web}
- {type: docker, registry: "registry.example.com/acme", repository: "Registry.example.com/acme/web"}
- {type: docker, registry: registry.example.com, repository: registry.example.com/acme/web}
- {type: docker, registry: "r.example.com:port", repository: "acme/web:v1"}
- {type: docker, registry: "-r.example.com", repository: "acme/web@sha256:abc"}
- {type: docker, registry: r.example.com, repository: "/acme//web/"}`,
			want: []string{
				`triggers[0].registry: "https://registry.example.com" is not a registry: write host[:port] as image names do, without scheme or path`,
				`triggers[0].repository: "Acme/Web" is not a repository: lower-case path components separated by /, without registry, tag or digest`,
				`triggers[1].registry: "registry.example.com/acme" is not a registry`,
				`triggers[1].repository: "Registry.example.com/acme/web" is not a repository`,
				`triggers[2].repository: "registry.example.com/acme/web" starts with the registry; write the repository alone: acme/web`,
				`triggers[3].registry: "r.example.com:port" is not a registry`,
				`triggers[3].repository: "acme/web:v1" is not a repository`,
				`triggers[4].registry: "-r.example.com" is not a registry`,
				`triggers[4].repository: "acme/web@sha256:abc" is not a repository`,
				`triggers[5].repository: "/acme//web/" is not a repository`,
			},
		},
		{
			name:     "tag and secret",
			triggers: `[{type: docker, registry: r, repository: web, tag: "v(1", secret: 12}, {type: docker, registry: r, repository: web, tag: [v1]}]`,
			want: []string{
				"triggers[0].tag: invalid regular expression: error parsing regexp: missing closing ): `v(1`",
				"triggers[0].secret: must be a string",
				"triggers[1].tag: must be a string",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustDecode(t, "application: a\nname: p\nstages: []\ntriggers: "+tt.triggers)
			wantProblems(t, Validate(p, ValidateOptions{}), tt.want)
		})
	}
}

func TestDockerSettings(t *testing.T) {
	p := mustDecode(t, `application: a
name: p
stages: []
triggers:
- {type: docker, registry: " registry.example.com ", repository: acme/web, tag: 'v\d+', secret: k}
- {type: docker, registry: 5000, repository: [acme], tag: 3}`)
	want := DockerSettings{Registry: "registry.example.com", Repository: "acme/web", Tag: `v\d+`, Secret: "k"}
	if got := p.Triggers[0].Docker(); got != want {
		t.Errorf("docker settings: got %+v, want %+v", got, want)
	}
	if got := p.Triggers[1].Docker(); got != (DockerSettings{}) {
		t.Errorf("settings of the wrong type: got %+v, want them empty", got)
	}
	// A trigger built in Go reads and validates the same.
	built := Trigger{Type: TriggerDocker, Context: map[string]any{"registry": "127.0.0.1:5000", "repository": "acme/web"}}
	if got := built.Docker(); got.Registry != "127.0.0.1:5000" || got.Repository != "acme/web" || got.Tag != "" {
		t.Errorf("built docker settings: got %+v", got)
	}
	if ps := Validate(Pipeline{Application: "a", Name: "p", Triggers: []Trigger{built}}, ValidateOptions{}); len(ps) > 0 {
		t.Errorf("built docker trigger: unexpected problems %v", ps)
	}
}
