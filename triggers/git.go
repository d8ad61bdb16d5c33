package triggers

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gennaker/gennaker/pipeline"
)

// Headers naming a git provider's event.
const (
	GitHubEventHeader    = "X-GitHub-Event"
	GitLabEventHeader    = "X-Gitlab-Event"
	BitbucketEventHeader = "X-Event-Key"
)

// GitArtifactType is the type of the artifact a git trigger brings: the repository at the pushed commit.
const GitArtifactType = "git/repo"

// ref kinds a push may move.
const (
	refBranch = "branch"
	refTag    = "tag"
)

// gitEvent is a provider's event, read once for every candidate.
type gitEvent struct {
	d        Delivery
	provider string
	// event is the provider's name for it, for reasons.
	event string
	push  bool
	// projects and slugs are the names the repository goes by; empty when the event names none.
	projects, slugs []string
	// For a push: what the ref is, its name, and whether the push deleted it.
	refKind, ref string
	deleted      bool
	scm          pipeline.ScmInfo
}

func readGit(provider string, d Delivery) (*gitEvent, error) {
	payload, err := decodeObject(d.Body)
	if err != nil {
		return nil, err
	}
	var e *gitEvent
	switch provider {
	case pipeline.GitGitHub:
		e, err = readGitHub(d.Header, payload)
	case pipeline.GitGitLab:
		e, err = readGitLab(d.Header, payload)
	case pipeline.GitBitbucket:
		e, err = readBitbucket(d.Header, payload)
	}
	if err != nil {
		return nil, err
	}
	e.d, e.provider, e.scm.Source = d, provider, provider
	if len(e.projects) > 0 {
		e.scm.Project = e.projects[0]
	}
	if len(e.slugs) > 0 {
		e.scm.Slug = e.slugs[0]
	}
	if e.push {
		e.scm.Branch = e.ref
	}
	return e, nil
}

func eventHeader(h http.Header, name, provider string) (string, error) {
	event := strings.TrimSpace(h.Get(name))
	if event == "" {
		return "", fmt.Errorf("%w: no %s header: not an event %s sends", ErrBadPayload, name, provider)
	}
	return event, nil
}

func notAPush(provider, what string) error {
	return fmt.Errorf("%w: %s push without %s", ErrBadPayload, provider, what)
}

// readGitHub reads a GitHub event; only a push fires, a ping or any other event is read for its repository.
func readGitHub(h http.Header, p map[string]any) (*gitEvent, error) {
	event, err := eventHeader(h, GitHubEventHeader, "GitHub")
	if err != nil {
		return nil, err
	}
	repo := obj(p, "repository")
	e := &gitEvent{
		event:    event,
		push:     event == "push",
		projects: names(str(repo, "owner", "login"), str(repo, "owner", "name")),
		slugs:    names(str(repo, "name")),
	}
	if !e.push {
		return e, nil
	}
	ref := str(p, "ref")
	switch {
	case ref == "":
		return nil, notAPush("GitHub", "ref")
	case len(e.projects) == 0 || len(e.slugs) == 0:
		return nil, notAPush("GitHub", "repository.owner and repository.name")
	}
	e.refKind, e.ref = splitRef(ref)
	deleted, _ := p["deleted"].(bool)
	e.deleted = deleted || zeroSha(str(p, "after"))
	e.scm = pipeline.ScmInfo{
		Sha1:    str(p, "after"),
		Author:  first(str(p, "head_commit", "author", "username"), str(p, "head_commit", "author", "name"), str(p, "pusher", "name")),
		RepoURL: str(repo, "html_url"),
		Message: str(p, "head_commit", "message"),
	}
	return e, nil
}

// readGitLab reads a GitLab push hook, or a system hook carrying a push.
func readGitLab(h http.Header, p map[string]any) (*gitEvent, error) {
	event, err := eventHeader(h, GitLabEventHeader, "GitLab")
	if err != nil {
		return nil, err
	}
	kind := str(p, "object_kind")
	project := obj(p, "project")
	e := &gitEvent{
		event: event,
		push:  (event == "Push Hook" || event == "System Hook") && kind == "push",
	}
	// path_with_namespace is the project's real path (group/subgroup/name); namespace and name are
	// display names, which Spinnaker's gitlab trigger compares with, so both are accepted.
	if full := str(project, "path_with_namespace"); strings.Contains(full, "/") {
		i := strings.LastIndex(full, "/")
		e.projects, e.slugs = names(full[:i]), names(full[i+1:])
	}
	e.projects = names(append(e.projects, str(project, "namespace"))...)
	e.slugs = names(append(e.slugs, str(project, "path"), str(project, "name"))...)
	if !e.push {
		if event == "Push Hook" {
			return nil, fmt.Errorf("%w: a GitLab Push Hook with object_kind %q", ErrBadPayload, kind)
		}
		if kind != "" {
			e.event += " (" + kind + ")"
		}
		return e, nil
	}
	ref := str(p, "ref")
	switch {
	case ref == "":
		return nil, notAPush("GitLab", "ref")
	case len(e.projects) == 0 || len(e.slugs) == 0:
		return nil, notAPush("GitLab", "project")
	}
	e.refKind, e.ref = splitRef(ref)
	sha := first(str(p, "checkout_sha"), str(p, "after"))
	e.deleted = zeroSha(str(p, "after"))
	e.scm = pipeline.ScmInfo{
		Sha1:    sha,
		Author:  first(str(p, "user_username"), str(p, "user_name")),
		RepoURL: str(project, "web_url"),
		Message: gitLabMessage(p, sha),
	}
	return e, nil
}

// gitLabMessage is the pushed head's message: the commit with that sha, else the last listed.
func gitLabMessage(p map[string]any, sha string) string {
	commits, _ := p["commits"].([]any)
	for _, c := range commits {
		if sha != "" && str(c, "id") == sha {
			return str(c, "message")
		}
	}
	if len(commits) > 0 {
		return str(commits[len(commits)-1], "message")
	}
	return ""
}

// readBitbucket reads a Bitbucket Cloud repo:push or a Bitbucket Server repo:refs_changed.
func readBitbucket(h http.Header, p map[string]any) (*gitEvent, error) {
	event, err := eventHeader(h, BitbucketEventHeader, "Bitbucket")
	if err != nil {
		return nil, err
	}
	repo := obj(p, "repository")
	e := &gitEvent{event: event}
	if full := str(repo, "full_name"); strings.Contains(full, "/") {
		// Bitbucket Cloud: workspace/repository.
		i := strings.LastIndex(full, "/")
		e.projects, e.slugs = names(full[:i]), names(full[i+1:])
	} else if key := str(repo, "project", "key"); key != "" {
		// Bitbucket Server: a project key and a repository slug.
		e.projects, e.slugs = names(key), names(str(repo, "slug"))
	}
	switch event {
	case "repo:push":
		return e, readBitbucketCloudPush(e, p, repo)
	case "repo:refs_changed":
		return e, readBitbucketServerPush(e, p, repo)
	}
	return e, nil
}

func readBitbucketCloudPush(e *gitEvent, p, repo map[string]any) error {
	changes, _ := at(p, "push", "changes").([]any)
	switch {
	case len(changes) == 0:
		return notAPush("Bitbucket", "push.changes")
	case len(e.projects) == 0 || len(e.slugs) == 0:
		return notAPush("Bitbucket", "repository.full_name")
	}
	e.push = true
	change := changes[0]
	ref := obj(change, "new")
	if ref == nil {
		// A deleted branch or tag has no new state, only the old one.
		ref = obj(change, "old")
		e.deleted = true
	}
	e.ref = str(ref, "name")
	if e.ref == "" {
		return notAPush("Bitbucket", "push.changes[0].new.name")
	}
	switch t := str(ref, "type"); t {
	case "branch":
		e.refKind = refBranch
	case "tag", "annotated_tag":
		e.refKind = refTag
	default:
		e.refKind = t
	}
	e.scm = pipeline.ScmInfo{
		Author:  first(str(p, "actor", "display_name"), str(p, "actor", "nickname")),
		RepoURL: str(repo, "links", "html", "href"),
	}
	if !e.deleted {
		e.scm.Sha1 = str(ref, "target", "hash")
		e.scm.Message = strings.TrimSpace(str(ref, "target", "message"))
	}
	return nil
}

func readBitbucketServerPush(e *gitEvent, p, repo map[string]any) error {
	changes, _ := p["changes"].([]any)
	switch {
	case len(changes) == 0:
		return notAPush("Bitbucket", "changes")
	case len(e.projects) == 0 || len(e.slugs) == 0:
		return notAPush("Bitbucket", "repository.project.key and repository.slug")
	}
	e.push = true
	change := changes[0]
	if id := str(change, "ref", "id"); id != "" {
		e.refKind, e.ref = splitRef(id)
	}
	if name := str(change, "ref", "displayId"); name != "" {
		e.ref = name
	}
	switch str(change, "ref", "type") {
	case "BRANCH":
		e.refKind = refBranch
	case "TAG":
		e.refKind = refTag
	}
	if e.ref == "" {
		return notAPush("Bitbucket", "changes[0].ref")
	}
	e.deleted = str(change, "type") == "DELETE" || zeroSha(str(change, "toHash"))
	var repoURL string
	if links, _ := at(repo, "links", "self").([]any); len(links) > 0 {
		repoURL = str(links[0], "href")
	}
	e.scm = pipeline.ScmInfo{
		Sha1:    str(change, "toHash"),
		Author:  first(str(p, "actor", "name"), str(p, "actor", "displayName")),
		RepoURL: repoURL,
	}
	return nil
}

// splitRef reads refs/heads/x as branch x and refs/tags/x as tag x; any other ref keeps its name.
func splitRef(ref string) (kind, name string) {
	if name, ok := strings.CutPrefix(ref, "refs/heads/"); ok {
		return refBranch, name
	}
	if name, ok := strings.CutPrefix(ref, "refs/tags/"); ok {
		return refTag, name
	}
	return "", ref
}

// zeroSha reports a commit of all zeros, which providers send as the new head of a deleted ref.
func zeroSha(sha string) bool {
	return sha != "" && strings.Trim(sha, "0") == ""
}

// names drops empty and repeated names.
func names(values ...string) []string {
	var out []string
	for _, v := range values {
		if v == "" || containsFold(out, v) {
			continue
		}
		out = append(out, v)
	}
	return out
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

func (e *gitEvent) watches(t pipeline.Trigger) bool {
	return t.Git().Source == e.provider
}

func (e *gitEvent) decide(c Candidate) decision {
	settings := c.Trigger.Git()
	// The repository is checked before the signature: each repository's hook has its own secret,
	// so another repository's trigger failing to verify this delivery says nothing about it.
	if len(e.projects) > 0 && len(e.slugs) > 0 && (!containsFold(e.projects, settings.Project) || !containsFold(e.slugs, settings.Slug)) {
		return decision{why: fmt.Sprintf("the event is for %s/%s, the trigger watches %s/%s",
			e.projects[0], e.slugs[0], settings.Project, settings.Slug)}
	}
	if settings.Secret != "" {
		if why := e.checkSecret(settings.Secret); why != "" {
			return decision{why: why, unsigned: true}
		}
	}
	switch {
	case !e.push:
		return decision{why: fmt.Sprintf("%s event %q is not a push", e.provider, e.event)}
	case e.refKind == refTag:
		return decision{why: fmt.Sprintf("the push is of tag %s; git triggers fire on branches", quote(e.ref))}
	case e.refKind != refBranch:
		return decision{why: fmt.Sprintf("the push is of %s, which is not a branch", quote(e.ref))}
	case e.deleted:
		return decision{why: fmt.Sprintf("the push deleted branch %s", quote(e.ref))}
	}
	if settings.Branch != "" && settings.Branch != e.ref {
		re, err := pipeline.FullMatchRegexp(settings.Branch)
		if err != nil {
			return decision{why: fmt.Sprintf("branch %q is not a regular expression: %v", settings.Branch, err)}
		}
		if !re.MatchString(e.ref) {
			return decision{why: fmt.Sprintf("branch %s does not match %q in full", quote(e.ref), settings.Branch)}
		}
	}
	return decision{info: e.info()}
}

func (e *gitEvent) checkSecret(secret string) string {
	switch e.provider {
	case pipeline.GitGitLab:
		return checkToken(e.d.Header, secret)
	case pipeline.GitBitbucket:
		return checkSignature(e.d.Header, BitbucketSignatureHeader, secret, e.d.Body)
	}
	return checkSignature(e.d.Header, SignatureHeader, secret, e.d.Body)
}

// info is the trigger a push starts an execution with. The payload is left out to keep histories
// small; scmInfo holds what stages need.
func (e *gitEvent) info() pipeline.TriggerInfo {
	scm := e.scm
	repo := scm.Project + "/" + scm.Slug
	reference := first(scm.RepoURL, repo)
	return pipeline.TriggerInfo{
		Type:    pipeline.TriggerGit,
		User:    first(scm.Author, "git:"+e.provider),
		Source:  e.provider,
		ScmInfo: &scm,
		Artifacts: []pipeline.Artifact{{
			Type:      GitArtifactType,
			Name:      repo,
			Reference: reference,
			Version:   scm.Sha1,
			Metadata:  map[string]any{"branch": scm.Branch},
		}},
	}
}
