package pipeline

import (
	"regexp"
	"strings"
)

// TriggerDocker is Spinnaker's docker trigger: a pipeline starts when a tag is pushed to a
// repository of a registry that reports its pushes to POST /webhooks/registry.
const TriggerDocker = "docker"

// DockerLatestTag is the tag a docker trigger without a tag pattern ignores, as Spinnaker's does:
// "latest" moves with every push and names no version worth deploying.
const DockerLatestTag = "latest"

// DockerSettings are a docker trigger's fields, read from its Context.
type DockerSettings struct {
	// Registry is the registry's host[:port] as image names write it: registry.example.com,
	// 127.0.0.1:5000. It is compared with the host a notification names without regard to case.
	Registry string
	// Repository is the image's path in the registry, such as acme/web.
	Repository string
	// Tag is a regular expression a pushed tag must match in full; empty means any tag but latest.
	Tag string
	// Secret, when set, is the token the registry must send as "Authorization: Bearer <secret>".
	Secret string
}

// Docker reads the trigger's docker settings. A setting of the wrong type reads as empty, as
// Validate reports it; callers matching notifications then simply find nothing to match.
func (t Trigger) Docker() DockerSettings {
	ctx := t.shapedContext()
	return DockerSettings{
		Registry:   strings.TrimSpace(contextString(ctx, "registry")),
		Repository: strings.TrimSpace(contextString(ctx, "repository")),
		Tag:        contextString(ctx, "tag"),
		Secret:     contextString(ctx, "secret"),
	}
}

// dockerRegistry is a host name, IPv4 address or bracketed IPv6 address, with an optional port:
// what an image name writes before its first slash.
var dockerRegistry = regexp.MustCompile(`^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::[0-9]{1,5})?$`)

// dockerRepository is the distribution specification's repository name: lower-case path
// components separated by slashes. A registry refuses any other name, so a trigger naming one
// could never fire.
var dockerRepository = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)

func validateDockerTrigger(t Trigger, path string) []Problem {
	var ps problems
	f := newFields(t.shapedContext(), path, &ps)
	registry := strings.TrimSpace(f.requiredString("registry"))
	if registry != "" && !dockerRegistry.MatchString(registry) {
		ps.add(f.at("registry"), "%q is not a registry: write host[:port] as image names do, without scheme or path", registry)
	}
	switch repo := strings.TrimSpace(f.requiredString("repository")); {
	case repo == "":
	case !dockerRepository.MatchString(repo):
		ps.add(f.at("repository"), "%q is not a repository: lower-case path components separated by /, without registry, tag or digest", repo)
	case registry != "" && strings.HasPrefix(strings.ToLower(repo), strings.ToLower(registry)+"/"):
		// A legal name, but a registry's notifications never carry it: they name the repository alone.
		ps.add(f.at("repository"), "%q starts with the registry; write the repository alone: %s", repo, repo[len(registry)+1:])
	}
	if tag, ok := f.optionalString("tag"); ok {
		if _, err := FullMatchRegexp(tag); err != nil {
			ps.add(f.at("tag"), "invalid regular expression: %v", err)
		}
	}
	f.optionalString("secret")
	return ps
}
