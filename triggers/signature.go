package triggers

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
)

// Headers that authenticate a delivery.
const (
	// SignatureHeader carries "sha256=<hex HMAC-SHA256(secret, body)>" for webhook triggers and
	// GitHub, as GitHub signs, so senders can reuse GitHub's tooling.
	SignatureHeader = "X-Hub-Signature-256"
	// BitbucketSignatureHeader carries the same signature from Bitbucket (Server, and Cloud's
	// webhook secrets).
	BitbucketSignatureHeader = "X-Hub-Signature"
	// GitLabTokenHeader carries GitLab's secret token as it is, to be compared with the trigger's secret.
	GitLabTokenHeader = "X-Gitlab-Token"
)

const signaturePrefix = "sha256="

// Sign gives the signature value a sender puts in SignatureHeader for a body: "sha256=<hex>".
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return signaturePrefix + hex.EncodeToString(mac.Sum(nil))
}

// checkSignature verifies an HMAC-SHA256 signature header; a non-empty result says why it fails.
func checkSignature(h http.Header, name, secret string, body []byte) string {
	got := strings.TrimSpace(h.Get(name))
	if got == "" {
		return "the trigger has a secret and the delivery has no " + name + " header"
	}
	if len(got) < len(signaturePrefix) || !strings.EqualFold(got[:len(signaturePrefix)], signaturePrefix) {
		return name + " is not sha256=<hex>"
	}
	sent, err := hex.DecodeString(got[len(signaturePrefix):])
	if err != nil {
		return name + " is not sha256=<hex>"
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	if !hmac.Equal(sent, mac.Sum(nil)) {
		return name + " does not match the body signed with the trigger's secret"
	}
	return ""
}

// checkToken compares GitLab's token with the secret in constant time; a non-empty result says why it fails.
func checkToken(h http.Header, secret string) string {
	got := h.Get(GitLabTokenHeader)
	if got == "" {
		return "the trigger has a secret and the delivery has no " + GitLabTokenHeader + " header"
	}
	// Comparing digests keeps the comparison's time independent of the secret's length too.
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(secret))
	if !hmac.Equal(a[:], b[:]) {
		return GitLabTokenHeader + " does not match the trigger's secret"
	}
	return ""
}
