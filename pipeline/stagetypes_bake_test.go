package pipeline

import "testing"

func TestValidateBakeStages(t *testing.T) {
	bakery := ValidateOptions{ContainerBakery: &ContainerBakeryOptions{Configured: true, BaseImages: map[string][]string{"debian": {"release", "candidate"}}}}
	none := ValidateOptions{ContainerBakery: &ContainerBakeryOptions{}}
	tests := []struct {
		name  string
		stage string
		opts  ValidateOptions
		want  []string
	}{
		{name: "a container bake as Deck writes it", opts: bakery, stage: `{"refId": "1", "type": "bake", "cloudProviderType": "docker", "package": "web",
			"baseOs": "debian", "baseLabel": "release", "organization": "acme", "extendedAttributes": {"docker_target_image_tag": "1.2.3"},
			"packageArtifactIds": [], "rebake": false, "user": "ci"}`},
		{name: "storeType docker with an image named", opts: none, stage: `{"refId": "1", "type": "bake", "storeType": "docker", "amiName": "web",
			"baseAmi": "debian:12"}`,
			want: []string{"stages[0].baseOs: no registry is configured for container bakes"}},
		{name: "an AMI bake", opts: bakery, stage: `{"refId": "1", "type": "bake", "package": "web", "baseOs": "ubuntu", "regions": ["us-east-1"],
			"cloudProviderType": "aws"}`,
			want: []string{"stages[0].cloudProviderType: baking machine images (AMIs) on aws is not offered yet"}},
		{name: "a container bake missing what it needs", opts: bakery, stage: `{"refId": "1", "type": "bake", "cloudProviderType": "docker",
			"extendedAttributes": {"docker_target_image_tag": "no tags with spaces"}, "templateFileName": "docker.json"}`,
			want: []string{"stages[0].package: required", "stages[0].baseOs: required", "stages[0].extendedAttributes.docker_target_image_tag: is not an image tag",
				"stages[0].templateFileName: is ignored by a container bake"}},
		{name: "an unknown base image and label", opts: bakery, stage: `{"refId": "1", "type": "bake", "cloudProviderType": "docker", "package": "Web",
			"baseOs": "alpine"}`,
			want: []string{`stages[0].package: makes the image repository "Web"`, `stages[0].baseOs: no base image "alpine"; the container bakery has debian`}},
		{name: "a label the base image lacks", opts: bakery, stage: `{"refId": "1", "type": "bake", "cloudProviderType": "docker", "package": "web",
			"baseOs": "debian", "baseLabel": "unstable"}`,
			want: []string{`stages[0].baseOs: base image "debian" has no label "unstable"; its labels: release, candidate`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Decode([]byte(`{"application": "web", "name": "release", "stages": [` + tt.stage + `]}`))
			if err != nil {
				t.Fatal(err)
			}
			wantProblems(t, Validate(p, tt.opts), tt.want)
		})
	}
}

func TestBakeRepository(t *testing.T) {
	for _, tt := range []struct {
		stage BakeStage
		want  string
	}{
		{BakeStage{Package: "web=1.2.3 nginx"}, "web"},
		{BakeStage{Package: "web_1.2.3_all", Organization: "acme"}, "acme/web"},
		{BakeStage{Package: "web", ImageName: "site", Organization: "acme/team"}, "acme/team/site"},
	} {
		if got := tt.stage.Repository(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.stage, got, tt.want)
		}
	}
}
