package aws

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/aws/smithy-go"
)

// Errors the provider's callers tell apart.
var (
	// ErrInvalid marks a request that cannot succeed however often it is retried: an unknown
	// region, a missing image, settings AWS refuses.
	ErrInvalid = errors.New("invalid AWS request")
	// ErrNotFound marks a server group, image or load balancer that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrTrafficGuard marks a refusal of the traffic guard; it also matches ErrInvalid, since
	// retrying cannot change the answer until someone enables another server group.
	ErrTrafficGuard = errors.New("refused by the traffic guard")
)

// invalidf is an ErrInvalid error in words.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// guardError is a refusal of the traffic guard.
type guardError struct{ msg string }

func (e *guardError) Error() string { return e.msg }
func (e *guardError) Is(target error) bool {
	return target == ErrTrafficGuard || target == ErrInvalid
}

// apiCode is the error code AWS answered with, or "".
func apiCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// refusedRequest reports whether AWS refused a request as invalid: retrying it cannot help.
func refusedRequest(err error) bool {
	code := apiCode(err)
	return code == "ValidationError" || strings.HasPrefix(code, "Invalid") || strings.HasSuffix(code, ".Malformed") ||
		code == "MissingParameter" || code == "UnauthorizedOperation" || code == "AccessDenied" || code == "AccessDeniedException"
}

// wrap gives an AWS error its context, marking refused requests ErrInvalid.
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf(format, args...)
	if refusedRequest(err) && !errors.Is(err, ErrInvalid) {
		return fmt.Errorf("%w: %s: %w", ErrInvalid, msg, err)
	}
	return fmt.Errorf("%s: %w", msg, err)
}

// Provider works on one AWS account, its clients built per region the first time a region is used.
type Provider struct {
	account Account
	mu      sync.Mutex
	regions map[string]*clients
}

// NewProvider makes the provider of an account; nothing is called until it is used.
func NewProvider(a Account) *Provider {
	return &Provider{account: a, regions: map[string]*clients{}}
}

// Account is the provider's account.
func (p *Provider) Account() Account { return p.account }

// clients are the region's clients; a region the account lacks is ErrInvalid.
func (p *Provider) clients(ctx context.Context, region string) (*clients, error) {
	if !p.account.HasRegion(region) {
		return nil, invalidf("aws account %s has no region %q; its regions: %s", p.account.Name, region, strings.Join(p.account.RegionNames(), ", "))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.regions[region]; ok {
		return c, nil
	}
	c, err := newClients(ctx, p.account, region)
	if err != nil {
		return nil, err
	}
	p.regions[region] = c
	return c, nil
}

// Providers holds one Provider per configured AWS account.
type Providers struct {
	mu        sync.Mutex
	accounts  map[string]Account
	providers map[string]*Provider
}

// NewProviders indexes the accounts by name.
func NewProviders(accounts []Account) *Providers {
	p := &Providers{accounts: map[string]Account{}, providers: map[string]*Provider{}}
	for _, a := range accounts {
		p.accounts[a.Name] = a
	}
	return p
}

// Names lists the account names, sorted.
func (p *Providers) Names() []string {
	names := make([]string, 0, len(p.accounts))
	for n := range p.accounts {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Get returns the provider of an account; an unknown account is ErrInvalid.
func (p *Providers) Get(account string) (*Provider, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if prov, ok := p.providers[account]; ok {
		return prov, nil
	}
	a, ok := p.accounts[account]
	if !ok {
		return nil, invalidf("no AWS account %q is configured on this worker", account)
	}
	prov := NewProvider(a)
	p.providers[account] = prov
	return prov, nil
}
