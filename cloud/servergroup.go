package cloud

import (
	"fmt"
	"strings"
	"time"

	"github.com/gennaker/gennaker/pipeline"
)

// ServerGroup is one deployed version of a cluster as the infrastructure view shows it: a
// Kubernetes ReplicaSet or Deployment, an AWS auto scaling group.
type ServerGroup struct {
	Account string `json:"account"`
	// Region is where the server group runs: the namespace on Kubernetes, as in Spinnaker.
	Region  string  `json:"region"`
	Name    string  `json:"name"`
	Moniker Moniker `json:"moniker"`
	// Kind is the provider's kind of resource, such as ReplicaSet.
	Kind   string   `json:"kind,omitempty"`
	Images []string `json:"images,omitempty"`
	// Desired is how many instances the server group asks for; Ready how many serve.
	Desired int `json:"desired"`
	Ready   int `json:"ready"`
	// TakingTraffic reports whether a load balancer sends the server group requests.
	TakingTraffic bool      `json:"takingTraffic"`
	CreatedAt     time.Time `json:"createdAt"`
	// CreatedByExecution is the pipeline execution that last deployed it, when gennaker did.
	CreatedByExecution string `json:"createdByExecution,omitempty"`
	// CloudProvider is the provider the server group runs on: kubernetes or aws.
	CloudProvider string `json:"cloudProvider,omitempty"`
	// Capacity is the server group's minimum, desired and maximum size where the provider has
	// all three (an Auto Scaling group).
	Capacity *Capacity `json:"capacity,omitempty"`
	// Instances is how many instances the server group has, up or not, where Ready does not say.
	Instances int `json:"instances,omitempty"`
	// Disabled reports a server group deliberately taken out of traffic (on AWS, one whose
	// AddToLoadBalancer process is suspended).
	Disabled bool `json:"disabled,omitempty"`
	// ImageID and ImageName are the machine image an AWS server group launches.
	ImageID   string `json:"imageId,omitempty"`
	ImageName string `json:"imageName,omitempty"`
	// LaunchTemplate is the launch template and version it launches from, such as web-v001:1.
	LaunchTemplate string `json:"launchTemplate,omitempty"`
}

// Capacity is a server group's size: at least Min instances, Desired asked for, at most Max.
type Capacity = pipeline.Capacity

// InstanceHealth is whether one instance of a server group is up and why not.
type InstanceHealth struct {
	ID   string `json:"id"`
	Zone string `json:"zone,omitempty"`
	// Up means the instance serves: it is in service in its group, running, and healthy in every
	// load balancer the group is attached to.
	Up bool `json:"up"`
	// TakingTraffic means some load balancer sends it requests.
	TakingTraffic bool `json:"takingTraffic"`
	// Draining means a load balancer is finishing its requests after it was taken out.
	Draining bool `json:"draining,omitempty"`
	// Reasons say why it is not up, each naming what reported it.
	Reasons []string `json:"reasons,omitempty"`
}

// ServerGroupHealth is one read of a server group's instances.
type ServerGroupHealth struct {
	Region      string   `json:"region"`
	ServerGroup string   `json:"serverGroup"`
	Capacity    Capacity `json:"capacity"`
	Disabled    bool     `json:"disabled"`
	// Up counts the instances that are up; Instances lists every instance not yet terminated.
	Up        int              `json:"up"`
	Instances []InstanceHealth `json:"instances"`
	// Missing means the server group does not exist (any more).
	Missing bool `json:"missing,omitempty"`
}

// TakingTraffic counts the instances some load balancer sends requests.
func (h ServerGroupHealth) TakingTraffic() int {
	n := 0
	for _, i := range h.Instances {
		if i.TakingTraffic {
			n++
		}
	}
	return n
}

// InTraffic counts the instances some load balancer sends requests or still drains.
func (h ServerGroupHealth) InTraffic() int {
	n := 0
	for _, i := range h.Instances {
		if i.TakingTraffic || i.Draining {
			n++
		}
	}
	return n
}

// NotUp describes the instances that are not up, at most limit of them, for messages and outputs.
func (h ServerGroupHealth) NotUp(limit int) []string {
	var out []string
	for _, i := range h.Instances {
		if i.Up {
			continue
		}
		if len(out) == limit {
			out = append(out, fmt.Sprintf("and %d more", len(h.Instances)-h.Up-limit))
			break
		}
		out = append(out, i.ID+": "+strings.Join(i.Reasons, "; "))
	}
	return out
}

// Cluster is the server groups of one app-stack-detail cluster in one account and region.
type Cluster struct {
	Account string `json:"account"`
	// Region is the namespace on Kubernetes.
	Region       string        `json:"region"`
	Name         string        `json:"name"`
	ServerGroups []ServerGroup `json:"serverGroups"`
}

// Image is a machine image a server group launches: an AMI on AWS.
type Image struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Region string `json:"region"`
	// Created is when the image was made, as its provider reports it (RFC 3339).
	Created string            `json:"created,omitempty"`
	Tags    map[string]string `json:"tags,omitempty"`
	// ServerGroup is the server group the image was found on, for images found on a cluster.
	ServerGroup string `json:"serverGroup,omitempty"`
}
