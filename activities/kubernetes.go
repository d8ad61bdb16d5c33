package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/gennaker/gennaker/cloud"
	"github.com/gennaker/gennaker/cloud/kubernetes"
)

// KubernetesAccounts finds the provider of a named account; *kubernetes.Providers is one.
type KubernetesAccounts interface {
	Get(account string) (*kubernetes.Provider, error)
}

// Kubernetes runs the Kubernetes stages' work against the configured accounts.
type Kubernetes struct {
	Accounts KubernetesAccounts
	// PollInterval is the longest WaitForManifests waits between reads of the objects' status;
	// zero means 2s. It reads often at first, since most rollouts finish within a second or two,
	// and less often as a rollout drags on.
	PollInterval time.Duration
}

// firstPoll is the first wait between status reads; each wait after is half as long again, up to
// PollInterval.
const firstPoll = 100 * time.Millisecond

// DeployManifestInput is what a deployManifest stage applies, its expressions already evaluated.
type DeployManifestInput struct {
	Account string              `json:"account"`
	Deploy  cloud.DeployRequest `json:"deploy"`
}

// DeployManifestResult lists what was applied.
type DeployManifestResult struct {
	Result cloud.DeployResult `json:"result"`
}

// DeployManifest applies the manifests. A retry after a crash applies the same versions again rather
// than creating new ones; bad manifests and unknown accounts or namespaces fail at once.
func (k *Kubernetes) DeployManifest(ctx context.Context, in DeployManifestInput) (DeployManifestResult, error) {
	d, err := k.Accounts.Get(in.Account)
	if err != nil {
		return DeployManifestResult{}, classify(err)
	}
	res, err := d.Deploy(ctx, in.Deploy)
	if err != nil {
		return DeployManifestResult{}, classify(err)
	}
	return DeployManifestResult{Result: res}, nil
}

// WaitForManifestsInput names the objects whose rollout a stage waits for.
type WaitForManifestsInput struct {
	Account string           `json:"account"`
	Objects []cloud.Resource `json:"objects"`
}

// WaitForManifestsResult is the last status read of each object, in order.
type WaitForManifestsResult struct {
	Messages []string `json:"messages"`
}

// WaitForManifests polls until every object has rolled out, heartbeating so that a lost worker is
// noticed and a cancellation arrives; an object that failed (a progress deadline exceeded, a failed
// Job) fails the activity for good with the reason.
func (k *Kubernetes) WaitForManifests(ctx context.Context, in WaitForManifestsInput) (WaitForManifestsResult, error) {
	d, err := k.Accounts.Get(in.Account)
	if err != nil {
		return WaitForManifestsResult{}, classify(err)
	}
	maxInterval := k.PollInterval
	if maxInterval <= 0 {
		maxInterval = 2 * time.Second
	}
	interval := min(firstPoll, maxInterval)
	for {
		messages := make([]string, len(in.Objects))
		done := true
		for i, o := range in.Objects {
			st, err := d.Status(ctx, o.KindRef(), o.Namespace, o.Name)
			if err != nil {
				if errors.Is(err, kubernetes.ErrInvalid) {
					return WaitForManifestsResult{}, classify(err)
				}
				// A passing API error: keep waiting, and say so in the heartbeat.
				messages[i] = fmt.Sprintf("%s %s: %v", o.Kind, o.Name, err)
				done = false
				continue
			}
			messages[i] = st.Message
			if st.Failed {
				return WaitForManifestsResult{Messages: messages}, temporal.NewNonRetryableApplicationError(
					fmt.Sprintf("%s %s in %s failed: %s", o.Kind, o.Name, o.Namespace, st.Message), "RolloutFailed", nil)
			}
			if !st.Done {
				done = false
			}
		}
		if done {
			return WaitForManifestsResult{Messages: messages}, nil
		}
		activity.RecordHeartbeat(ctx, strings.Join(messages, "; "))
		select {
		case <-ctx.Done():
			return WaitForManifestsResult{Messages: messages}, ctx.Err()
		case <-time.After(interval):
		}
		interval = min(interval*3/2, maxInterval)
	}
}

// classify makes errors a retry cannot fix final, and keeps the rest retryable.
func classify(err error) error {
	if errors.Is(err, kubernetes.ErrInvalid) {
		return temporal.NewNonRetryableApplicationError(err.Error(), "InvalidKubernetesRequest", nil)
	}
	return err
}

// ClusterServerGroupsInput names a cluster whose server groups are wanted, region by region.
type ClusterServerGroupsInput struct {
	Account     string `json:"account"`
	Application string `json:"application"`
	// Cluster is the moniker cluster, such as "replicaSet web".
	Cluster string `json:"cluster"`
	// Regions are the namespaces to look in.
	Regions []string `json:"regions"`
}

// ClusterServerGroupsResult lists the cluster's server groups in each region asked about.
type ClusterServerGroupsResult struct {
	ByRegion map[string][]ServerGroupSummary `json:"byRegion"`
}

// ServerGroupSummary is a server group, by name, and whether it takes traffic.
type ServerGroupSummary struct {
	Name          string `json:"name"`
	TakingTraffic bool   `json:"takingTraffic"`
}

// ClusterServerGroups reads a cluster's server groups in some regions, for a clusterSize
// precondition. A cluster with none is no error: counting them is the point.
func (k *Kubernetes) ClusterServerGroups(ctx context.Context, in ClusterServerGroupsInput) (ClusterServerGroupsResult, error) {
	p, err := k.Accounts.Get(in.Account)
	if err != nil {
		return ClusterServerGroupsResult{}, classify(err)
	}
	clusters, err := p.ServerGroups(ctx, in.Application)
	if err != nil {
		return ClusterServerGroupsResult{}, classify(err)
	}
	res := ClusterServerGroupsResult{ByRegion: map[string][]ServerGroupSummary{}}
	for _, region := range in.Regions {
		res.ByRegion[region] = []ServerGroupSummary{}
	}
	for _, c := range clusters {
		if _, asked := res.ByRegion[c.Region]; !asked || c.Name != in.Cluster {
			continue
		}
		for _, sg := range c.ServerGroups {
			res.ByRegion[c.Region] = append(res.ByRegion[c.Region], ServerGroupSummary{Name: sg.Name, TakingTraffic: sg.TakingTraffic})
		}
	}
	return res, nil
}
