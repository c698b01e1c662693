package ciconfig

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/mod/semver"
)

// Errors the Source hooks return for other projects and remote files.
var (
	// ErrProjectNotFound: the project does not exist or the pipeline's user
	// may not read its code (GitLab does not tell the two apart).
	ErrProjectNotFound = errors.New("project not found or access denied")
	// ErrRefNotFound: the branch, tag or commit does not exist.
	ErrRefNotFound = errors.New("reference not found")
	// ErrArtifactJobNotFound: trigger:include:artifact names a job of the
	// parent pipeline without an archive.
	ErrArtifactJobNotFound = errors.New("artifact job not found")
	// ErrRemoteTimeout: include:remote took longer than allowed.
	ErrRemoteTimeout = errors.New("remote include timed out")
	// ErrRemoteHTTP: the HTTP exchange failed (bad response, too large).
	ErrRemoteHTTP = errors.New("remote include HTTP error")
)

// RemoteStatusError is an include:remote answer with status 400 or above.
type RemoteStatusError struct{ Code int }

func (e *RemoteStatusError) Error() string { return fmt.Sprintf("HTTP status %d", e.Code) }

// RemoteBlockedError is an include:remote address the instance refuses to
// fetch (Gitlab::HTTP_V2::UrlBlocker::BlockedUrlError); Reason is the
// blocker's sentence, e.g. "Requests to localhost are not allowed".
type RemoteBlockedError struct{ Reason string }

func (e *RemoteBlockedError) Error() string { return e.Reason }

// latestVersion is the component version meaning "newest released version".
const latestVersion = "~latest"

// component is External::File::Component with Ci::Components::FetchService
// and Gitlab::Ci::Components::InstancePath: the address is
// <CI_SERVER_FQDN>/<project full path>/<name>@<version>, and the file is
// templates/<name>.yml or templates/<name>/template.yml of that project at
// the version (a tag, branch or commit sha, or ~latest for the newest
// semantic-version tag). Local includes inside it read that project.
func (in *includer) component(address string) (*includedFile, error) {
	prefix := "Component '" + address + "' -"
	fail := func(msg string) error { return newLoadError("%s %s", prefix, msg) }
	fqdn := in.src.Variables["CI_SERVER_FQDN"]
	rest, ok := strings.CutPrefix(address, fqdn+"/")
	if fqdn == "" || !ok {
		return nil, fail("the component path is not supported")
	}
	path, version, ok := strings.Cut(rest, "@")
	i := strings.LastIndexByte(path, '/')
	if !ok || version == "" || i <= 0 || i == len(path)-1 {
		return nil, fail("content not found")
	}
	project, name := strings.ToLower(path[:i]), path[i+1:]
	if in.src.Projects == nil {
		return nil, fail("project does not exist or you don't have sufficient permissions")
	}
	ref := version
	if version == latestVersion {
		if _, err := in.src.Projects.ResolveRef(project, ""); errors.Is(err, ErrProjectNotFound) {
			return nil, fail("project does not exist or you don't have sufficient permissions")
		}
		tags, err := in.src.Projects.Tags(project)
		if err != nil {
			return nil, fail("content not found")
		}
		if ref = LatestSemverTag(tags); ref == "" {
			return nil, fail("content not found")
		}
	}
	sha, err := in.src.Projects.ResolveRef(project, ref)
	switch {
	case errors.Is(err, ErrProjectNotFound):
		return nil, fail("project does not exist or you don't have sufficient permissions")
	case err != nil:
		return nil, fail("content not found")
	}
	for _, p := range []string{"templates/" + name + ".yml", "templates/" + name + "/template.yml"} {
		content, err := in.src.Projects.ReadFile(project, sha, p)
		if err == nil && len(strings.TrimSpace(string(content))) > 0 {
			return &includedFile{content: content, name: address, ctx: in.projectCtx(project, sha),
				info: Include{Type: "component", Location: address, Blob: in.fileURL("blob", project, sha, p)}}, nil
		}
	}
	return nil, fail("content not found")
}

// LatestSemverTag returns the highest released semantic version among tags
// (MAJOR.MINOR.PATCH, an optional leading v; pre-releases are skipped), or
// "" when there is none, as the CI/CD catalog orders component versions.
func LatestSemverTag(tags []string) string {
	best := ""
	for _, t := range tags {
		v := "v" + strings.TrimPrefix(t, "v")
		if !semver.IsValid(v) || semver.Prerelease(v) != "" || strings.Count(semver.Canonical(v), ".") != 2 ||
			strings.Count(strings.TrimPrefix(t, "v"), ".") != 2 {
			continue
		}
		if best == "" || semver.Compare(v, "v"+strings.TrimPrefix(best, "v")) > 0 {
			best = t
		}
	}
	return best
}

// CacheKeyFromFiles is cache:key:files's key
// (lib/gitlab/ci/pipeline/seed/build/cache.rb): the prefix and a SHA1 of the
// files' git blob ids (sorted, deduplicated, joined with "-"), joined with
// "-"; "default" replaces the digest when none of the files exists.
func CacheKeyFromFiles(prefix string, blobIDs []string) string {
	ids := slices.Compact(slices.Sorted(slices.Values(slices.DeleteFunc(slices.Clone(blobIDs), func(s string) bool { return s == "" }))))
	digest := "default"
	if len(ids) > 0 {
		sum := sha1.Sum([]byte(strings.Join(ids, "-")))
		digest = hex.EncodeToString(sum[:])
	}
	if prefix == "" {
		return digest
	}
	return prefix + "-" + digest
}
