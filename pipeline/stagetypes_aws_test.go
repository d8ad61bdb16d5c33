package pipeline

import (
	"testing"
)

var awsAccounts = ValidateOptions{AWSAccounts: map[string][]string{"prod": {"us-east-1", "us-west-2"}}}

func TestValidateAWSStages(t *testing.T) {
	const cluster = `"account": "prod", "application": "web", "stack": "main", "availabilityZones": {"us-east-1": ["us-east-1a"]},
		"instanceType": "t3.micro", "amiName": "web-1.0.0"`
	tests := []struct {
		name  string
		stage string
		want  []string
	}{
		{name: "deploy as Deck writes it", stage: `{"refId": "1", "type": "deploy", "clusters": [{` + cluster + `, "cloudProvider": "aws", "provider": "aws",
			"capacity": {"min": "1", "desired": 2, "max": 3}, "strategy": "redblack", "maxRemainingAsgs": 2, "scaleDown": "true",
			"delayBeforeDisableSec": 30, "subnetType": "internal", "securityGroups": ["web"], "targetGroups": ["web"],
			"healthCheckType": "ELB", "tags": {"team": "web", "cost": 7}, "useAmiBlockDeviceMappings": false,
			"copySourceCustomBlockDeviceMappings": true, "spelTargetGroups": [], "rollback": {"onFailure": true}}]}`},
		{name: "one cluster written as createServerGroup", stage: `{"refId": "1", "type": "createServerGroup", ` + cluster + `}`},
		{name: "deploy without what it needs", stage: `{"refId": "1", "type": "deploy", "clusters": [{"application": "web"}]}`,
			want: []string{"stages[0].clusters[0].credentials: required", "stages[0].clusters[0].availabilityZones: required",
				"stages[0].clusters[0].instanceType: required"}},
		{name: "sizes out of order", stage: `{"refId": "1", "type": "deploy", "clusters": [{` + cluster + `, "capacity": {"min": 3, "desired": 2, "max": 4}}]}`,
			want: []string{"stages[0].clusters[0].capacity: needs min ≤ desired ≤ max (min 3, desired 2, max 4)"}},
		{name: "a region the account lacks", stage: `{"refId": "1", "type": "deploy", "clusters": [{"account": "prod", "application": "web",
			"availabilityZones": {"eu-west-1": ["eu-west-1a"]}, "instanceType": "t3.micro"}]}`,
			want: []string{`stages[0].clusters[0].availabilityZones.eu-west-1: account "prod" has no region "eu-west-1"; its regions: us-east-1, us-west-2`}},
		{name: "an unknown account", stage: `{"refId": "1", "type": "deploy", "clusters": [{"credentials": "test", "application": "web",
			"region": "us-east-1", "instanceType": "t3.micro"}]}`,
			want: []string{`stages[0].clusters[0].credentials: unknown account "test"; known AWS accounts: prod`}},
		{name: "what gennaker refuses", stage: `{"refId": "1", "type": "deploy", "clusters": [{` + cluster + `, "setLaunchTemplate": false,
			"spotPrice": "0.1", "onDemandBaseCapacity": 1, "strategy": "monitored", "suspendedProcesses": ["Lunch"]}]}`,
			want: []string{"stages[0].clusters[0].setLaunchTemplate: launch configurations are not offered", "stages[0].clusters[0].spotPrice: spot instances",
				"stages[0].clusters[0].onDemandBaseCapacity: mixed instances policies", "stages[0].clusters[0].suspendedProcesses[0]: is not an Auto Scaling process",
				`stages[0].clusters[0].strategy: strategy "monitored" is not offered on aws yet`}},
		{name: "rolling red/black as Deck writes it", stage: `{"refId": "1", "type": "deploy", "clusters": [{` + cluster + `, "strategy": "rollingredblack",
			"targetPercentages": [10, 50], "pipelineBeforeCleanup": {"application": "web", "pipelineId": "smoke", "pipelineParameters": {"env": "prod"}},
			"scaleDown": true}]}`},
		{name: "rolling red/black steps out of order", stage: `{"refId": "1", "type": "deploy", "clusters": [{` + cluster + `, "strategy": "rollingredblack",
			"targetPercentages": [50, 20, 120, 7.5], "startDisabled": true}]}`,
			want: []string{"stages[0].clusters[0].targetPercentages[1]: must be larger than the step before it",
				"stages[0].clusters[0].targetPercentages[2]: must be a percentage from 1 to 100",
				"stages[0].clusters[0].targetPercentages[3]: must be a whole percentage",
				"stages[0].clusters[0].startDisabled: cannot be combined with rollingredblack"}},
		{name: "names Frigga cannot take", stage: `{"refId": "1", "type": "deploy", "clusters": [{"account": "prod", "application": "my-app",
			"stack": "a-b", "region": "us-east-1", "instanceType": "t3.micro"}]}`,
			want: []string{"stages[0].clusters[0].application: takes letters", "stages[0].clusters[0].stack: takes letters"}},
		{name: "platform health only with target groups is a warning", stage: `{"refId": "1", "type": "deploy", "clusters": [{` + cluster +
			`, "targetGroups": ["web"], "interestingHealthProviderNames": ["Amazon"]}]}`,
			want: []string{`stages[0].clusters[0].interestingHealthProviderNames: is ["Amazon"]`}},
		{name: "clone as Deck writes it", stage: `{"refId": "1", "type": "cloneServerGroup", "cloudProvider": "aws", "credentials": "prod",
			"region": "us-east-1", "targetCluster": "web-main", "target": "current_asg_dynamic", "application": "web", "stack": "canary",
			"freeFormDetails": "", "useSourceCapacity": true, "amiName": "", "instanceType": "", "strategy": "redblack"}`},
		{name: "clone from a named server group elsewhere", stage: `{"refId": "1", "type": "cloneServerGroup", "credentials": "prod",
			"region": "us-west-2", "source": {"asgName": "web-main-v001", "region": "us-east-1", "account": "test"}, "capacity": {"min": 2, "max": 1}}`,
			want: []string{"stages[0].capacity: needs min ≤ desired ≤ max", "stages[0].source.region: is not the stage's region us-west-2",
				"stages[0].source.account: is not the stage's account prod"}},
		{name: "clone without its source", stage: `{"refId": "1", "type": "cloneServerGroup", "credentials": "prod", "region": "us-east-1"}`,
			want: []string{"stages[0].targetCluster: required"}},
		{name: "roll back to the previous image", stage: `{"refId": "1", "type": "rollbackServerGroup", "credentials": "prod", "regions": ["us-east-1"],
			"rollbackType": "PREVIOUS_IMAGE", "rollbackContext": {"rollbackServerGroupName": "web-main-v002", "imageName": "web-1.0.0"}}`},
		{name: "roll back some other way", stage: `{"refId": "1", "type": "rollbackServerGroup", "credentials": "prod", "regions": ["us-east-1"],
			"rollbackType": "NEWEST", "rollbackContext": {"rollbackServerGroupName": "web-main-v002", "restoreServerGroupName": "web-main-v001"}}`,
			want: []string{`stages[0].rollbackType: must be EXPLICIT or PREVIOUS_IMAGE, not "NEWEST"`}},
		{name: "resize as Deck writes it", stage: `{"refId": "1", "type": "resizeServerGroup", "cloudProvider": "aws", "credentials": "prod",
			"cluster": "web-main", "regions": ["us-east-1"], "target": "current_asg_dynamic", "action": "scale_up", "resizeType": "pct", "scalePct": 50}`},
		{name: "resize to another server group's size", stage: `{"refId": "1", "type": "resizeServerGroup", "credentials": "prod", "cluster": "web-main",
			"regions": ["us-east-1"], "action": "scale_to_server_group", "source": {"serverGroupName": "web-main-v002"}}`},
		{name: "resize to a server group of an unknown account", stage: `{"refId": "1", "type": "resizeServerGroup", "credentials": "prod",
			"cluster": "web-main", "regions": ["us-east-1", "us-west-2"], "action": "scale_to_server_group", "source": {"credentials": "test", "asgName": "web-v002"}}`,
			want: []string{"stages[0].source.region: required", `stages[0].source.credentials: unknown account "test"`}},
		{name: "resize without a size", stage: `{"refId": "1", "type": "resizeServerGroup", "credentials": "prod", "cluster": "web-main", "regions": ["us-east-1"]}`,
			want: []string{"stages[0].capacity: required"}},
		{name: "disable by an older target name", stage: `{"refId": "1", "type": "disableServerGroup", "credentials": "prod", "cluster": "web-main",
			"regions": ["us-west-2"], "target": "ancestor_asg", "desiredPercentage": 50}`},
		{name: "enable without a cluster or a target", stage: `{"refId": "1", "type": "enableServerGroup", "credentials": "prod", "regions": ["us-east-1"],
			"target": "newest"}`,
			want: []string{"stages[0].target: must be one of", "stages[0].cluster: required"}},
		{name: "destroy by name", stage: `{"refId": "1", "type": "destroyServerGroup", "credentials": "prod", "serverGroupName": "web-main-v003",
			"regions": "us-east-1"}`},
		{name: "find image", stage: `{"refId": "1", "type": "findAmi", "credentials": "prod", "cluster": "web-main", "regions": ["us-east-1"],
			"selectionStrategy": "LARGEST", "onlyEnabled": false, "imageNamePattern": "^web-"}`},
		{name: "find image with a bad pattern", stage: `{"refId": "1", "type": "findImage", "credentials": "prod", "cluster": "web-main",
			"regions": ["us-east-1"], "selectionStrategy": "BIGGEST", "imageNamePattern": "("}`,
			want: []string{"stages[0].selectionStrategy: must be one of", "stages[0].imageNamePattern: is not a regular expression"}},
		{name: "find image from tags without an account", stage: `{"refId": "1", "type": "findImageFromTags", "cloudProviderType": "aws",
			"packageName": "web", "tags": {"stack": "test"}, "regions": ["us-east-1", "eu-west-1"]}`},
		{name: "find image from tags without tags", stage: `{"refId": "1", "type": "findImageFromTags", "packageName": "web", "regions": ["us-east-1"]}`,
			want: []string{"stages[0].tags: required"}},
		{name: "an AWS stage for gce", stage: `{"refId": "1", "type": "disableServerGroup", "cloudProvider": "gce", "credentials": "prod"}`,
			want: []string{`stages[0].cloudProvider: disableServerGroup on cloud provider "gce" is not offered`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Decode([]byte(`{"application": "web", "name": "release", "stages": [` + tt.stage + `]}`))
			if err != nil {
				t.Fatal(err)
			}
			wantProblems(t, Validate(p, awsAccounts), tt.want)
		})
	}
}

func TestResizeCapacity(t *testing.T) {
	pct := func(p float64) *float64 { return &p }
	num := func(n int) *int { return &n }
	current := Capacity{Min: 2, Desired: 3, Max: 5}
	largest := Capacity{Min: 2, Desired: 4, Max: 6}
	tests := []struct {
		name  string
		stage ResizeServerGroupStage
		want  Capacity
	}{
		{"exact desired only", ResizeServerGroupStage{Action: ResizeExact, Capacity: Capacity{Desired: 4}, Given: given(false, true, false)}, Capacity{2, 4, 5}},
		{"exact desired above max", ResizeServerGroupStage{Action: ResizeExact, Capacity: Capacity{Desired: 9}, Given: given(false, true, false)}, Capacity{2, 5, 5}},
		{"exact min above max raises max", ResizeServerGroupStage{Action: ResizeExact, Capacity: Capacity{Min: 7}, Given: given(true, false, false)}, Capacity{7, 7, 7}},
		{"exact max below min lowers min", ResizeServerGroupStage{Action: ResizeExact, Capacity: Capacity{Max: 1}, Given: given(false, false, true)}, Capacity{1, 1, 1}},
		{"exact all", ResizeServerGroupStage{Action: ResizeExact, Capacity: Capacity{0, 0, 0}, Given: given(true, true, true)}, Capacity{0, 0, 0}},
		{"up by half, rounded up", ResizeServerGroupStage{Action: ResizeUp, ScalePct: pct(50)}, Capacity{3, 5, 8}},
		{"down by half, rounded up", ResizeServerGroupStage{Action: ResizeDown, ScalePct: pct(50)}, Capacity{1, 1, 2}},
		{"down below zero", ResizeServerGroupStage{Action: ResizeDown, ScaleNum: num(4)}, Capacity{0, 0, 1}},
		{"up by two", ResizeServerGroupStage{Action: ResizeUp, ScaleNum: num(2)}, Capacity{4, 5, 7}},
		{"to the cluster's largest and one more", ResizeServerGroupStage{Action: ResizeToCluster, ScaleNum: num(1)}, Capacity{2, 5, 6}},
		{"to the cluster's largest, half again", ResizeServerGroupStage{Action: ResizeToCluster, ScalePct: pct(100)}, Capacity{2, 8, 8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.stage.NewCapacity(current, largest); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func given(lo, desired, hi bool) struct{ Min, Desired, Max bool } {
	return struct{ Min, Desired, Max bool }{lo, desired, hi}
}

func TestHealthyTarget(t *testing.T) {
	for _, tt := range []struct{ desired, pct, want int }{
		{2, 50, 1}, {3, 50, 2}, {1, 1, 1}, {4, 100, 4}, {0, 100, 0}, {5, 0, 0}, {3, 67, 2},
	} {
		if got := HealthyTarget(tt.desired, tt.pct); got != tt.want {
			t.Errorf("HealthyTarget(%d, %d) = %d, want %d", tt.desired, tt.pct, got, tt.want)
		}
	}
}

func TestCloneTakesTheSourceWhereTheStageIsSilent(t *testing.T) {
	s, ps := ReadCloneServerGroupStage(map[string]any{"credentials": "prod", "region": "us-east-1", "targetCluster": "web-main",
		"stack": "canary", "freeFormDetails": "", "instanceType": "", "amiName": "", "useSourceCapacity": true,
		"capacity": map[string]any{"min": 1, "desired": 1, "max": 1}, "securityGroups": []any{}, "strategy": "highlander"}, "stages[0]")
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	source := AWSCluster{Account: "prod", Region: "us-east-1", Application: "web", Stack: "main", Detail: "blue", InstanceType: "m5.large",
		SecurityGroups: []string{"sg-1"}, Capacity: Capacity{Min: 3, Desired: 3, Max: 6}, Image: "", Strategy: StrategyNone}
	got := s.Cluster(source)
	if got.Stack != "canary" || got.Detail != "" || got.InstanceType != "m5.large" || len(got.SecurityGroups) != 0 ||
		got.Capacity != source.Capacity || got.Strategy != StrategyHighlander || got.UseSourceCapacity {
		t.Errorf("clone %+v", got)
	}
	if s.Source.Cluster != "web-main" || s.Source.Target != TargetCurrent || s.Source.Regions[0] != "us-east-1" {
		t.Errorf("source %+v", s.Source)
	}
}
