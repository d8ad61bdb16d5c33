package pipeline

import "testing"

func TestValidateBakeStages(t *testing.T) {
	bakery := ValidateOptions{ContainerBakery: &ContainerBakeryOptions{Configured: true, BaseImages: map[string][]string{"debian": {"release", "candidate"}}}}
	none := ValidateOptions{ContainerBakery: &ContainerBakeryOptions{}}
	twoBakeries := ValidateOptions{AWSBakeries: map[string]AWSBakeryOptions{"prod": {}, "test": {}}}
	amis := ValidateOptions{AWSAccounts: map[string][]string{"prod": {"us-east-1", "us-west-2"}},
		AWSBakeries: map[string]AWSBakeryOptions{"prod": {BaseImages: map[string][]string{"debian": {"release"}}, Templates: []string{"install_packages.sh", "web.sh"}}}}
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
		{name: "an AMI bake as Deck writes it", opts: amis, stage: `{"refId": "1", "type": "bake", "cloudProviderType": "aws", "account": "prod",
			"package": "web=1.2.3", "baseOs": "debian", "baseLabel": "release", "regions": ["us-east-1"], "vmType": "hvm", "storeType": "ebs",
			"extendedAttributes": {"copy_to": "us-west-2", "share_with": "123456789012"}, "user": "ci", "showAdvancedOptions": true}`},
		{name: "an AMI bake of what the bakery lacks", opts: amis, stage: `{"refId": "1", "type": "bake", "account": "prod", "package": "web",
			"baseOs": "centos", "regions": ["us-east-1", "eu-west-1"], "templateFileName": "aws-chroot.json", "storeType": "s3",
			"extendedAttributes": {"share_with": "nobody", "it's": "x"}}`,
			want: []string{`stages[0].storeType: AMIs are baked as ebs-backed images`, `stages[0].extendedAttributes["it's"]: is handed to the provisioning script as a variable`,
				`stages[0].extendedAttributes.share_with: is not a 12-digit AWS account id`,
				`stages[0].regions[1]: account "prod" has no region "eu-west-1"`, `stages[0].baseOs: the bakery of AWS account "prod" has no base image "centos"; it has debian`,
				`stages[0].templateFileName: the bakery of AWS account "prod" has no template "aws-chroot.json"; it has install_packages.sh, web.sh`}},
		{name: "an AMI bake without an account, as Spinnaker's are", opts: amis, stage: `{"refId": "1", "type": "bake", "package": "web", "baseOs": "debian",
			"region": "us-east-1"}`},
		{name: "an AMI bake without an account where several bake", opts: twoBakeries, stage: `{"refId": "1", "type": "bake", "package": "web",
			"baseOs": "debian", "region": "us-east-1"}`,
			want: []string{"stages[0].account: required: the AWS account to bake in; these have a bakery: prod, test"}},
		{name: "an AMI bake where no account bakes", opts: ValidateOptions{AWSBakeries: map[string]AWSBakeryOptions{}}, stage: `{"refId": "1", "type": "bake",
			"package": "web", "baseOs": "debian", "region": "us-east-1"}`,
			want: []string{"stages[0].baseOs: no AWS account has a bakery configured"}},
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

func TestFirstPackageVersion(t *testing.T) {
	for packages, want := range map[string][2]string{"web=1.2.3 nginx": {"web", "1.2.3"}, "web_1.2.3_all": {"web", "1.2.3"}, "web nginx": {"web", ""}, "": {"", ""}} {
		if name, version := FirstPackageVersion(packages); name != want[0] || version != want[1] {
			t.Errorf("FirstPackageVersion(%q) = %q, %q, want %q, %q", packages, name, version, want[0], want[1])
		}
	}
}
