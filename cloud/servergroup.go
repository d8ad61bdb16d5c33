package cloud

import "time"

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
}

// Cluster is the server groups of one app-stack-detail cluster in one account and region.
type Cluster struct {
	Account string `json:"account"`
	// Region is the namespace on Kubernetes.
	Region       string        `json:"region"`
	Name         string        `json:"name"`
	ServerGroups []ServerGroup `json:"serverGroups"`
}
