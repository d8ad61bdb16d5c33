package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/gennaker/gennaker/cloud"
)

// accountReadTimeout bounds how long the infrastructure view waits for one account's cluster, so
// that a cluster that does not answer delays the view by this much at most and the other accounts
// are still shown.
const accountReadTimeout = 10 * time.Second

// clustersResponse is the infrastructure view of an application: its clusters, account by account.
type clustersResponse struct {
	Application string            `json:"application"`
	Accounts    []accountClusters `json:"accounts"`
}

// accountClusters is what one account holds of an application. Errors says why some or all of it
// could not be read; the clusters listed are what could be, so one unreachable cluster never hides
// the others.
type accountClusters struct {
	Account  string          `json:"account"`
	Clusters []cloud.Cluster `json:"clusters"`
	Errors   []string        `json:"errors,omitempty"`
}

// listClusters answers GET /applications/:app/clusters: the application's clusters and server
// groups in every Kubernetes and AWS account, or only those ?account= names (repeatable), and only
// in the namespace or region ?namespace= (or ?region=) names. Accounts are read in parallel, each
// within accountReadTimeout.
func (s *Server) listClusters(c *gin.Context) {
	app := c.Param("app")
	namespace := c.Query("namespace")
	if namespace == "" {
		namespace = c.Query("region")
	}
	if namespace != "" {
		if errs := validation.IsDNS1123Label(namespace); len(errs) > 0 {
			abort(c, http.StatusBadRequest, fmt.Sprintf("%q is not a namespace or region name", namespace), errs...)
			return
		}
	}
	var known []string
	if s.Kubernetes != nil {
		known = s.Kubernetes.Names()
	}
	if s.AWS != nil {
		known = append(known, s.AWS.Names()...)
	}
	accounts := known
	if asked := c.QueryArray("account"); len(asked) > 0 {
		accounts = nil
		for _, a := range asked {
			if !slices.Contains(known, a) {
				abort(c, http.StatusBadRequest, fmt.Sprintf("no account %q is configured; the accounts are: %s", a, listOrNone(known)))
				return
			}
			if !slices.Contains(accounts, a) {
				accounts = append(accounts, a)
			}
		}
		// Named accounts that cannot hold the namespace are the caller's mistake; unnamed ones
		// are only left out.
		if namespace != "" {
			var refused []string
			for _, a := range accounts {
				if _, allows, err := s.clusterSource(a); err == nil && !allows(namespace) {
					refused = append(refused, a)
				}
			}
			if len(refused) > 0 {
				abort(c, http.StatusBadRequest, fmt.Sprintf("%q is not among the namespaces or regions account(s) %s may use", namespace, strings.Join(refused, ", ")))
				return
			}
		}
	}

	results := make([]*accountClusters, len(accounts))
	var wg sync.WaitGroup
	for i, name := range accounts {
		wg.Go(func() {
			results[i] = s.accountClusters(c.Request.Context(), name, app, namespace)
		})
	}
	wg.Wait()

	out := clustersResponse{Application: app, Accounts: []accountClusters{}}
	for _, r := range results {
		if r != nil {
			out.Accounts = append(out.Accounts, *r)
		}
	}
	c.JSON(http.StatusOK, out)
}

// accountClusters reads one account's clusters of app, keeping those in namespace when it is set.
// It returns nil when the account may not use that namespace and so can hold nothing there.
func (s *Server) accountClusters(ctx context.Context, account, app, namespace string) *accountClusters {
	out := &accountClusters{Account: account, Clusters: []cloud.Cluster{}}
	p, allows, err := s.clusterSource(account)
	if err != nil {
		s.Logger.Warn("infrastructure view: account unusable", "account", account, "error", err)
		out.Errors = append(out.Errors, err.Error())
		return out
	}
	if namespace != "" && !allows(namespace) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, accountReadTimeout)
	defer cancel()
	clusters, err := p.ServerGroups(ctx, app)
	if err != nil {
		s.Logger.Warn("infrastructure view: account unreadable", "account", account, "application", app, "error", err)
		out.Errors = append(out.Errors, err.Error())
		return out
	}
	// ServerGroups reads every namespace (region) the account may use; the filter is applied here
	// so that each provider keeps one way of listing.
	for _, cl := range clusters {
		if namespace == "" || cl.Region == namespace {
			out.Clusters = append(out.Clusters, cl)
		}
	}
	return out
}

// clusterSource finds an account's provider, Kubernetes or AWS, and which namespaces or regions it
// may hold.
func (s *Server) clusterSource(account string) (cloud.ServerGroupLister, func(string) bool, error) {
	if s.AWS != nil && slices.Contains(s.AWS.Names(), account) {
		p, err := s.AWS.Get(account)
		if err != nil {
			return nil, nil, err
		}
		return p, p.Account().HasRegion, nil
	}
	if s.Kubernetes == nil {
		return nil, nil, fmt.Errorf("no account %q is configured", account)
	}
	p, err := s.Kubernetes.Get(account)
	if err != nil {
		return nil, nil, err
	}
	return p, p.Account().AllowsNamespace, nil
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "(none)"
	}
	return strings.Join(names, ", ")
}
