package aws

import (
	"strings"
	"testing"
)

func TestInstanceHealth(t *testing.T) {
	inService := groupInstance{id: "i-1", lifecycle: "InService", health: "Healthy"}
	tests := []struct {
		name           string
		facts          instanceFacts
		up, traffic    bool
		reasonsInclude string
	}{
		{name: "no load balancers: in service and running", facts: instanceFacts{instance: inService, ec2State: "running"}, up: true},
		{name: "healthy in every target group", up: true, traffic: true, facts: instanceFacts{instance: inService, ec2State: "running",
			targetGroups: []string{"a", "b"}, targets: map[string]targetState{"a": {state: "healthy"}, "b": {state: "healthy"}}}},
		{name: "healthy in one target group of two", traffic: true, reasonsInclude: "target group b: not registered", facts: instanceFacts{
			instance: inService, ec2State: "running", targetGroups: []string{"a", "b"}, targets: map[string]targetState{"a": {state: "healthy"}}}},
		{name: "registering", reasonsInclude: "target group a: initial (Elb.RegistrationInProgress)", facts: instanceFacts{instance: inService,
			ec2State: "running", targetGroups: []string{"a"}, targets: map[string]targetState{"a": {state: "initial", reason: "Elb.RegistrationInProgress"}}}},
		{name: "failing health checks", reasonsInclude: "unhealthy (Target.FailedHealthChecks)", facts: instanceFacts{instance: inService,
			ec2State: "running", targetGroups: []string{"a"}, targets: map[string]targetState{"a": {state: "unhealthy", reason: "Target.FailedHealthChecks"}}}},
		{name: "a target group lists a stopped instance as healthy", reasonsInclude: "ec2: stopped", facts: instanceFacts{instance: inService,
			ec2State: "stopped", targetGroups: []string{"a"}, targets: map[string]targetState{"a": {state: "healthy"}}}},
		{name: "pending in its group", reasonsInclude: "auto scaling: Pending", facts: instanceFacts{
			instance: groupInstance{id: "i-1", lifecycle: "Pending", health: "Healthy"}, ec2State: "pending"}},
		{name: "unhealthy in its group", reasonsInclude: "auto scaling health check: Unhealthy", facts: instanceFacts{
			instance: groupInstance{id: "i-1", lifecycle: "InService", health: "Unhealthy"}, ec2State: "running"}},
		{name: "out of service in a classic load balancer", reasonsInclude: "load balancer web: OutOfService", facts: instanceFacts{instance: inService,
			ec2State: "running", loadBalancers: []string{"web"}, balancers: map[string]targetState{"web": {state: "OutOfService"}}}},
		{name: "unknown to EC2", reasonsInclude: "ec2: no such instance", facts: instanceFacts{instance: inService}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.facts.evaluate()
			if h.Up != tt.up || h.TakingTraffic != tt.traffic {
				t.Errorf("up %v, taking traffic %v; want %v, %v (reasons %v)", h.Up, h.TakingTraffic, tt.up, tt.traffic, h.Reasons)
			}
			if got := strings.Join(h.Reasons, "; "); !strings.Contains(got, tt.reasonsInclude) {
				t.Errorf("reasons %q, want them to say %q", got, tt.reasonsInclude)
			}
		})
	}
}
