package triggers

import (
	"reflect"
	"testing"

	"github.com/gennaker/gennaker/pipeline"
)

const zeroSHA = "0000000000000000000000000000000000000000"

func githubDelivery(event string, body []byte, signature string) Delivery {
	h := headers("X-GitHub-Event", event, "X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
	if signature != "" {
		h.Set(SignatureHeader, signature)
	}
	return Delivery{Kind: pipeline.TriggerGit, Source: "github", Header: h, Body: body}
}

func TestGitHub(t *testing.T) {
	push := load(t, "github-push.json")
	ping := load(t, "github-ping.json")
	tagPush := patch(t, push, map[string]any{"ref": "refs/tags/v1.2.0", "base_ref": "refs/heads/main"})
	deleted := patch(t, push, map[string]any{"after": zeroSHA, "deleted": true, "head_commit": nil})
	signed := func(body []byte) string { return Sign("s3cret", body) }

	shop := cand(t, "shop", "deploy", 0, `{"type":"git","source":"github","project":"acme","slug":"shop","branch":"main","secret":"s3cret"}`)
	shopAnyBranch := cand(t, "shop", "build", 1, `{"type":"git","source":"GitHub","project":"Acme","slug":"SHOP"}`)
	release := cand(t, "shop", "release", 0, `{"type":"git","source":"github","project":"Acme","slug":"shop","branch":"release-.*"}`)
	prefix := cand(t, "shop", "prefix", 0, `{"type":"git","source":"github","project":"Acme","slug":"shop","branch":"mai"}`)
	otherRepo := cand(t, "blog", "deploy", 0, `{"type":"git","source":"github","project":"Acme","slug":"blog","secret":"other"}`)
	gitlab := cand(t, "shop", "gitlab", 0, `{"type":"git","source":"gitlab","project":"Acme","slug":"shop"}`)
	hook := cand(t, "shop", "hook", 0, `{"type":"webhook","source":"github"}`)

	runEvalCases(t, []evalCase{
		{
			name:       "push fires the repository's triggers only",
			d:          githubDelivery("push", push, signed(push)),
			candidates: []Candidate{shop, shopAnyBranch, otherRepo, gitlab, hook},
			matches:    []string{"shop/deploy#0", "shop/build#1"},
			checked:    3,
			reasons:    []string{`blog/deploy triggers[0]: the event is for Acme/shop, the trigger watches Acme/blog`},
		},
		{
			name:       "wrong signature",
			d:          githubDelivery("push", push, Sign("guess", push)),
			candidates: []Candidate{shop, shopAnyBranch},
			matches:    []string{"shop/build#1"},
			checked:    2,
			unsigned:   1,
			reasons:    []string{"shop/deploy triggers[0]: X-Hub-Signature-256 does not match"},
		},
		{
			name:       "signature of another body",
			d:          githubDelivery("push", push, signed(tagPush)),
			candidates: []Candidate{shop},
			checked:    1,
			unsigned:   1,
			reasons:    []string{"does not match"},
		},
		{
			name:       "signature not hex",
			d:          githubDelivery("push", push, "sha256=zz"),
			candidates: []Candidate{shop},
			checked:    1,
			unsigned:   1,
			reasons:    []string{"X-Hub-Signature-256 is not sha256=<hex>"},
		},
		{
			name:       "missing signature",
			d:          githubDelivery("push", push, ""),
			candidates: []Candidate{shop},
			checked:    1,
			unsigned:   1,
			reasons:    []string{"has no X-Hub-Signature-256 header"},
		},
		{
			name:       "wrong branch, and a branch pattern matches in full only",
			d:          githubDelivery("push", push, ""),
			candidates: []Candidate{release, prefix},
			checked:    2,
			reasons: []string{
				`shop/release triggers[0]: branch "main" does not match "release-.*" in full`,
				`shop/prefix triggers[0]: branch "main" does not match "mai" in full`,
			},
		},
		{
			name:       "tag push",
			d:          githubDelivery("push", tagPush, signed(tagPush)),
			candidates: []Candidate{shop, shopAnyBranch},
			checked:    2,
			reasons:    []string{`the push is of tag "v1.2.0"`, `the push is of tag "v1.2.0"`},
		},
		{
			name:       "ping is not a push",
			d:          githubDelivery("ping", ping, signed(ping)),
			candidates: []Candidate{shop, otherRepo},
			checked:    2,
			reasons: []string{
				`shop/deploy triggers[0]: github event "ping" is not a push`,
				"the event is for Acme/shop, the trigger watches Acme/blog",
			},
		},
		{
			// The ping GitHub sends when a hook is created tells a wrong secret at once.
			name:       "ping with the wrong secret",
			d:          githubDelivery("ping", ping, Sign("guess", ping)),
			candidates: []Candidate{shop},
			checked:    1,
			unsigned:   1,
			reasons:    []string{"does not match"},
		},
		{
			name:       "deleted branch",
			d:          githubDelivery("push", deleted, ""),
			candidates: []Candidate{shopAnyBranch},
			checked:    1,
			reasons:    []string{`the push deleted branch "main"`},
		},
		{
			name:       "disabled trigger and disabled pipeline",
			d:          githubDelivery("push", push, signed(push)),
			candidates: []Candidate{cand(t, "shop", "off", 2, `{"type":"git","source":"github","project":"acme","slug":"shop","enabled":false}`), disabledPipeline(shop)},
			disabled:   []string{"shop/off#2", "shop/deploy#0"},
			checked:    2,
			reasons:    []string{"the trigger is disabled", "the pipeline is disabled"},
		},
		{
			name:       "a disabled trigger still needs its signature",
			d:          githubDelivery("push", push, ""),
			candidates: []Candidate{disabledPipeline(shop)},
			checked:    1,
			unsigned:   1,
			reasons:    []string{"has no X-Hub-Signature-256 header"},
		},
		{
			name: "no event header",
			d:    Delivery{Kind: pipeline.TriggerGit, Source: "github", Header: headers(), Body: push},
			err:  ErrBadPayload,
		},
		{
			name: "push without ref",
			d:    githubDelivery("push", patch(t, push, map[string]any{"ref": nil}), ""),
			err:  ErrBadPayload,
		},
		{
			name: "not JSON",
			d:    githubDelivery("push", []byte("payload=%7B%7D"), ""),
			err:  ErrBadPayload,
		},
		{
			name: "unknown provider",
			d:    Delivery{Kind: pipeline.TriggerGit, Source: "gitea", Header: headers(), Body: push},
			err:  ErrUnsupported,
		},
	})
}

func TestGitHubTrigger(t *testing.T) {
	push := load(t, "github-push.json")
	d := githubDelivery("push", push, "")
	out, err := Evaluate(d, []Candidate{cand(t, "shop", "deploy", 0, `{"type":"git","source":"github","project":"acme","slug":"shop"}`)})
	if err != nil || len(out.Matches) != 1 {
		t.Fatalf("Evaluate: %v, %+v", err, out)
	}
	scm := pipeline.ScmInfo{
		Source: "github", Project: "Acme", Slug: "shop", Branch: "main",
		Sha1:   "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
		Author: "octocat", RepoURL: "https://github.com/Acme/shop", Message: "Update README.md",
	}
	want := pipeline.TriggerInfo{
		Type: "git", User: "octocat", Source: "github", ScmInfo: &scm,
		Artifacts: []pipeline.Artifact{{
			Type: "git/repo", Name: "Acme/shop", Reference: "https://github.com/Acme/shop",
			Version: scm.Sha1, Metadata: map[string]any{"branch": "main"},
		}},
		DeliveryID: "72d3162e-cc78-11e3-81ab-4c9367dc0958",
	}
	if got := out.Matches[0].Trigger; !reflect.DeepEqual(got, want) {
		t.Errorf("trigger:\n got  %+v %+v\n want %+v %+v", got, got.ScmInfo, want, want.ScmInfo)
	}

	// Without head_commit, the pusher is the author; without an author, the provider is the user.
	bare := patch(t, push, map[string]any{"head_commit": nil, "repository.html_url": nil})
	out, _ = Evaluate(githubDelivery("push", bare, ""), []Candidate{cand(t, "shop", "deploy", 0, `{"type":"git","source":"github","project":"acme","slug":"shop"}`)})
	if got := out.Matches[0].Trigger; got.User != "octocat" || got.ScmInfo.Message != "" || got.Artifacts[0].Reference != "Acme/shop" {
		t.Errorf("bare push: user %q, message %q, reference %q", got.User, got.ScmInfo.Message, got.Artifacts[0].Reference)
	}
	bare = patch(t, bare, map[string]any{"pusher": nil})
	out, _ = Evaluate(githubDelivery("push", bare, ""), []Candidate{cand(t, "shop", "deploy", 0, `{"type":"git","source":"github","project":"acme","slug":"shop"}`)})
	if got := out.Matches[0].Trigger.User; got != "git:github" {
		t.Errorf("user without an author: %q", got)
	}
}

func gitlabDelivery(event string, body []byte, token string) Delivery {
	h := headers("X-Gitlab-Event", event, "X-Gitlab-Event-UUID", "13792a34-cac6-4fda-95a8-c58e00a3954e")
	if token != "" {
		h.Set(GitLabTokenHeader, token)
	}
	return Delivery{Kind: pipeline.TriggerGit, Source: "gitlab", Header: h, Body: body}
}

func TestGitLab(t *testing.T) {
	push := load(t, "gitlab-push.json")
	tagPush := patch(t, push, map[string]any{"object_kind": "tag_push", "event_name": "tag_push", "ref": "refs/tags/v1.4.0"})
	deleted := patch(t, push, map[string]any{"after": zeroSHA, "checkout_sha": nil, "commits": []any{}})

	byPath := cand(t, "web", "deploy", 0, `{"type":"git","source":"gitlab","project":"platform/web","slug":"diaspora","branch":"release-.*","secret":"tok"}`)
	byName := cand(t, "web", "staging", 0, `{"type":"git","source":"gitlab","project":"Web","slug":"Diaspora"}`)
	mainOnly := cand(t, "web", "main", 0, `{"type":"git","source":"gitlab","project":"platform/web","slug":"diaspora","branch":"main"}`)

	runEvalCases(t, []evalCase{
		{
			name:       "token right",
			d:          gitlabDelivery("Push Hook", push, "tok"),
			candidates: []Candidate{byPath, byName, mainOnly},
			matches:    []string{"web/deploy#0", "web/staging#0"},
			checked:    3,
			reasons:    []string{`web/main triggers[0]: branch "release-1.4" does not match "main" in full`},
		},
		{
			name:       "token wrong",
			d:          gitlabDelivery("Push Hook", push, "tok2"),
			candidates: []Candidate{byPath},
			checked:    1,
			unsigned:   1,
			reasons:    []string{"X-Gitlab-Token does not match the trigger's secret"},
		},
		{
			name:       "token missing",
			d:          gitlabDelivery("Push Hook", push, ""),
			candidates: []Candidate{byPath},
			checked:    1,
			unsigned:   1,
			reasons:    []string{"no X-Gitlab-Token header"},
		},
		{
			name:       "tag push hook",
			d:          gitlabDelivery("Tag Push Hook", tagPush, "tok"),
			candidates: []Candidate{byPath},
			checked:    1,
			reasons:    []string{`gitlab event "Tag Push Hook (tag_push)" is not a push`},
		},
		{
			name:       "system hook carrying a push",
			d:          gitlabDelivery("System Hook", push, ""),
			candidates: []Candidate{byName},
			matches:    []string{"web/staging#0"},
			checked:    1,
		},
		{
			name:       "deleted branch",
			d:          gitlabDelivery("Push Hook", deleted, ""),
			candidates: []Candidate{byName},
			checked:    1,
			reasons:    []string{`the push deleted branch "release-1.4"`},
		},
		{
			name: "push hook that is not a push",
			d:    gitlabDelivery("Push Hook", tagPush, ""),
			err:  ErrBadPayload,
		},
	})

	out, err := Evaluate(gitlabDelivery("Push Hook", push, "tok"), []Candidate{byPath})
	if err != nil || len(out.Matches) != 1 {
		t.Fatalf("Evaluate: %v, %+v", err, out)
	}
	want := pipeline.ScmInfo{
		Source: "gitlab", Project: "platform/web", Slug: "diaspora", Branch: "release-1.4",
		Sha1: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", Author: "jsmith",
		RepoURL: "https://gitlab.example.com/platform/web/diaspora", Message: "fixed readme",
	}
	got := out.Matches[0].Trigger
	if !reflect.DeepEqual(*got.ScmInfo, want) {
		t.Errorf("scm:\n got  %+v\n want %+v", *got.ScmInfo, want)
	}
	if got.User != "jsmith" || got.DeliveryID != "13792a34-cac6-4fda-95a8-c58e00a3954e" || got.Payload != nil || got.Parameters != nil {
		t.Errorf("trigger: %+v", got)
	}
}

func bitbucketDelivery(event string, body []byte, secret string) Delivery {
	h := headers("X-Event-Key", event, "X-Request-UUID", "afe4ce2f-6b2c-4f5e-9f3e-2c0f4c8f0e11")
	if secret != "" {
		h.Set(BitbucketSignatureHeader, Sign(secret, body))
	}
	return Delivery{Kind: pipeline.TriggerGit, Source: "bitbucket", Header: h, Body: body}
}

func TestBitbucket(t *testing.T) {
	cloud := load(t, "bitbucket-cloud-push.json")
	server := load(t, "bitbucket-server-push.json")
	cloudTag := []byte(`{"push":{"changes":[{"new":{"type":"tag","name":"v3","target":{"hash":"7d4c7a8e"}},"old":null}]},
		"repository":{"full_name":"acme-team/shop-api"},"actor":{"display_name":"Ann Lee"}}`)
	cloudDeleted := []byte(`{"push":{"changes":[{"new":null,"old":{"type":"branch","name":"main","target":{"hash":"7d4c7a8e"}},"closed":true}]},
		"repository":{"full_name":"acme-team/shop-api"},"actor":{"display_name":"Ann Lee"}}`)
	serverDeleted := patch(t, server, map[string]any{"changes": []any{map[string]any{
		"ref":    map[string]any{"id": "refs/heads/release/2.0", "displayId": "release/2.0", "type": "BRANCH"},
		"toHash": zeroSHA, "fromHash": "178864a7d521b6f5e720b386b2c2b0ef8563e0dc", "type": "DELETE",
	}}})

	shopAPI := cand(t, "shop", "api", 0, `{"type":"git","source":"bitbucket","project":"acme-team","slug":"shop-api","branch":"main","secret":"bb"}`)
	payments := cand(t, "fin", "payments", 3, `{"type":"git","source":"bitbucket","project":"fin","slug":"payments","branch":"release/.*"}`)

	runEvalCases(t, []evalCase{
		{
			name:       "cloud push",
			d:          bitbucketDelivery("repo:push", cloud, "bb"),
			candidates: []Candidate{shopAPI, payments},
			matches:    []string{"shop/api#0"},
			checked:    2,
			reasons:    []string{"fin/payments triggers[3]: the event is for acme-team/shop-api, the trigger watches fin/payments"},
		},
		{
			name:       "cloud push, wrong secret",
			d:          bitbucketDelivery("repo:push", cloud, "guess"),
			candidates: []Candidate{shopAPI},
			checked:    1,
			unsigned:   1,
			reasons:    []string{"X-Hub-Signature does not match"},
		},
		{
			name:       "cloud tag",
			d:          bitbucketDelivery("repo:push", cloudTag, "bb"),
			candidates: []Candidate{shopAPI},
			checked:    1,
			reasons:    []string{`the push is of tag "v3"`},
		},
		{
			name:       "cloud deleted branch",
			d:          bitbucketDelivery("repo:push", cloudDeleted, "bb"),
			candidates: []Candidate{shopAPI},
			checked:    1,
			reasons:    []string{`the push deleted branch "main"`},
		},
		{
			name:       "server push",
			d:          bitbucketDelivery("repo:refs_changed", server, ""),
			candidates: []Candidate{payments, shopAPI},
			matches:    []string{"fin/payments#3"},
			checked:    2,
			reasons:    []string{"the event is for FIN/payments, the trigger watches acme-team/shop-api"},
		},
		{
			name:       "server deleted branch",
			d:          bitbucketDelivery("repo:refs_changed", serverDeleted, ""),
			candidates: []Candidate{payments},
			checked:    1,
			reasons:    []string{`the push deleted branch "release/2.0"`},
		},
		{
			name:       "server test connection",
			d:          bitbucketDelivery("diagnostics:ping", []byte(`{"test":true}`), ""),
			candidates: []Candidate{payments},
			checked:    1,
			reasons:    []string{`bitbucket event "diagnostics:ping" is not a push`},
		},
		{
			name: "push without changes",
			d:    bitbucketDelivery("repo:push", []byte(`{"push":{"changes":[]},"repository":{"full_name":"a/b"}}`), ""),
			err:  ErrBadPayload,
		},
		{
			name: "no event key",
			d:    Delivery{Kind: pipeline.TriggerGit, Source: "bitbucket", Header: headers(), Body: cloud},
			err:  ErrBadPayload,
		},
	})

	for _, tt := range []struct {
		name string
		d    Delivery
		c    Candidate
		want pipeline.ScmInfo
		user string
	}{
		{
			name: "cloud",
			d:    bitbucketDelivery("repo:push", cloud, "bb"),
			c:    shopAPI,
			want: pipeline.ScmInfo{
				Source: "bitbucket", Project: "acme-team", Slug: "shop-api", Branch: "main",
				Sha1: "7d4c7a8e2e3f1b6a5c9d8e7f6a5b4c3d2e1f0a9b", Author: "Ann Lee",
				RepoURL: "https://bitbucket.org/acme-team/shop-api", Message: "Bump chart version",
			},
			user: "Ann Lee",
		},
		{
			name: "server",
			d:    bitbucketDelivery("repo:refs_changed", server, ""),
			c:    payments,
			want: pipeline.ScmInfo{
				Source: "bitbucket", Project: "FIN", Slug: "payments", Branch: "release/2.0",
				Sha1: "178864a7d521b6f5e720b386b2c2b0ef8563e0dc", Author: "admin",
				RepoURL: "https://bitbucket.example.com/projects/FIN/repos/payments/browse",
			},
			user: "admin",
		},
	} {
		out, err := Evaluate(tt.d, []Candidate{tt.c})
		if err != nil || len(out.Matches) != 1 {
			t.Fatalf("%s: %v, %+v", tt.name, err, out)
		}
		got := out.Matches[0].Trigger
		if !reflect.DeepEqual(*got.ScmInfo, tt.want) {
			t.Errorf("%s scm:\n got  %+v\n want %+v", tt.name, *got.ScmInfo, tt.want)
		}
		if got.User != tt.user || got.DeliveryID != "afe4ce2f-6b2c-4f5e-9f3e-2c0f4c8f0e11" {
			t.Errorf("%s: user %q, delivery %q", tt.name, got.User, got.DeliveryID)
		}
		art := got.Artifacts[0]
		if art.Type != GitArtifactType || art.Name != tt.want.Project+"/"+tt.want.Slug || art.Version != tt.want.Sha1 || art.Metadata["branch"] != tt.want.Branch {
			t.Errorf("%s artifact: %+v", tt.name, art)
		}
	}
}
