package kubernetes

import (
	"fmt"
	"sort"
	"sync"
)

// Providers holds one Provider per configured account, each built the first time it is used so
// that an unreachable cluster does not stop the worker from starting.
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
		return nil, fmt.Errorf("%w: no Kubernetes account %q is configured on this worker", ErrInvalid, account)
	}
	prov, err := NewProvider(a)
	if err != nil {
		return nil, fmt.Errorf("kubernetes account %q: %w", account, err)
	}
	p.providers[account] = prov
	return prov, nil
}
