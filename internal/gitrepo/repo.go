package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"
)

// Repo is a bare git repository on local disk.
type Repo struct {
	// Dir is the repository directory (the one holding HEAD, objects/ and
	// refs/).
	Dir string
}

// serverConfig is the per-repository configuration a hosting server wants,
// applied by Init on every call so older repositories pick up changes.
var serverConfig = [][2]string{
	// Smart HTTP pushes are authorised by gitserve, not by http-backend's
	// REMOTE_USER heuristic.
	{"http.receivepack", "true"},
	{"http.uploadpack", "true"},
	// Force pushes and deletions are governed by the server (protected
	// branches), as on GitLab, not by git's defaults for shared repos.
	{"receive.denyNonFastForwards", "false"},
	{"receive.denyDeletes", "false"},
	{"receive.advertisePushOptions", "true"},
	// A hosting server must not let a corrupt object in.
	{"receive.fsckObjects", "true"},
	// The runner may fetch a pipeline's commit by sha and with
	// --filter; GitLab allows both.
	{"uploadpack.allowAnySHA1InWant", "true"},
	{"uploadpack.allowFilter", "true"},
	// A ref log makes "who moved this branch" answerable after the fact.
	{"core.logAllRefUpdates", "true"},
}

// hiddenRefPrefixes are namespaces the server writes itself (persistent
// pipeline refs and friends). They are hidden from receive-pack so a user
// cannot push to or delete them; upload-pack still serves them because the
// runner fetches refs/pipelines/<id>.
var hiddenRefPrefixes = []string{
	"refs/pipelines/",
	"refs/keep-around/",
	"refs/environments/",
	"refs/merge-requests/",
	"refs/tmp/",
}

// IsInternalRef reports whether ref lies in a namespace only the server
// writes (for example refs/pipelines/<id>); pushes to these are refused.
func IsInternalRef(ref string) bool {
	for _, p := range hiddenRefPrefixes {
		if strings.HasPrefix(ref, p) {
			return true
		}
	}
	return false
}

// Init creates a bare repository at dir, or re-initialises an existing one
// (which keeps its objects and refs), points HEAD at defaultBranch when it
// is not empty, and applies the configuration a hosting server needs.
func Init(ctx context.Context, dir string, defaultBranch string) (*Repo, error) {
	if dir == "" {
		return nil, errors.New("gitrepo: init: empty directory")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("gitrepo: init %s: %w", dir, err)
	}
	if _, err := runGit(ctx, nil, "init", "--bare", "--quiet", dir); err != nil {
		return nil, fmt.Errorf("gitrepo: init %s: %w", dir, err)
	}
	r := Open(dir)
	for _, kv := range serverConfig {
		if _, err := r.run(ctx, nil, "config", kv[0], kv[1]); err != nil {
			return nil, fmt.Errorf("gitrepo: init %s: %w", dir, err)
		}
	}
	// Replace, not add to, the hidden refs so repeated Init calls do not
	// grow the list.
	if _, err := r.run(ctx, nil, "config", "--unset-all", "receive.hideRefs"); err != nil && exitCode(err) != 5 {
		// Exit status 5 means the key was not set, which is fine.
		return nil, fmt.Errorf("gitrepo: init %s: %w", dir, err)
	}
	for _, p := range hiddenRefPrefixes {
		if _, err := r.run(ctx, nil, "config", "--add", "receive.hideRefs", strings.TrimSuffix(p, "/")); err != nil {
			return nil, fmt.Errorf("gitrepo: init %s: %w", dir, err)
		}
	}
	if defaultBranch != "" {
		if err := r.SetDefaultBranch(ctx, defaultBranch); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Open returns a handle for an existing bare repository without touching
// the disk.
func Open(dir string) *Repo {
	return &Repo{Dir: dir}
}

// SetDefaultBranch points HEAD at refs/heads/<branch>; the branch need not
// exist yet (an empty repository's first push creates it).
func (r *Repo) SetDefaultBranch(ctx context.Context, branch string) error {
	ref := "refs/heads/" + branch
	if err := checkRefName(ctx, ref); err != nil {
		return fmt.Errorf("gitrepo: default branch %q: %w", branch, err)
	}
	if _, err := r.run(ctx, nil, "symbolic-ref", "HEAD", ref); err != nil {
		return fmt.Errorf("gitrepo: set HEAD to %s: %w", ref, err)
	}
	return nil
}

// DefaultBranch returns the branch HEAD points at (without refs/heads/).
func (r *Repo) DefaultBranch(ctx context.Context) (string, error) {
	out, err := r.run(ctx, nil, "symbolic-ref", "HEAD")
	if err != nil {
		return "", fmt.Errorf("gitrepo: read HEAD: %w", err)
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "refs/heads/"), nil
}

// checkRefName rejects names git would not accept as a ref, which also
// keeps option-looking strings away from git's command line.
// plainRefName reports whether ref is refs/ followed by components of
// letters, digits, '_' and '-' joined by single slashes (refs/pipelines/7).
// Such a name breaks none of check-ref-format's rules (they are about
// dots, "@{", control and special characters, and empty components), so
// it needs no git process to be checked.
func plainRefName(ref string) bool {
	rest, ok := strings.CutPrefix(ref, "refs/")
	if !ok || rest == "" {
		return false
	}
	for comp := range strings.SplitSeq(rest, "/") {
		if comp == "" {
			return false
		}
		for i := 0; i < len(comp); i++ {
			c := comp[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				return false
			}
		}
	}
	return true
}

func checkRefName(ctx context.Context, ref string) error {
	if strings.HasPrefix(ref, "-") || strings.ContainsAny(ref, "\x00\n") {
		return fmt.Errorf("invalid ref name %q", ref)
	}
	if plainRefName(ref) {
		return nil
	}
	if _, err := runGit(ctx, nil, "check-ref-format", ref); err != nil {
		if exitCode(err) == 1 {
			return fmt.Errorf("invalid ref name %q", ref)
		}
		return err
	}
	return nil
}

// ValidRefName is GitLab's Gitlab::GitRefValidator for a new branch or
// tag name: what git check-ref-format accepts under refs/heads/, minus
// names that read as something else (a leading dash, "HEAD", "refs/...",
// a full commit id).
func ValidRefName(ctx context.Context, name string) bool {
	if name == "" || name == "HEAD" || strings.HasPrefix(name, "refs/") || strings.HasPrefix(name, "-") {
		return false
	}
	if len(name) == 40 && strings.Trim(strings.ToLower(name), "0123456789abcdef") == "" {
		return false
	}
	return checkRefName(ctx, "refs/heads/"+name) == nil
}

// checkRev rejects revision strings that git could take for an option or
// that would break line-based protocols such as cat-file --batch.
func checkRev(rev string) error {
	if rev == "" || strings.HasPrefix(rev, "-") || strings.ContainsAny(rev, "\x00\n\r") {
		return fmt.Errorf("invalid revision %q", rev)
	}
	return nil
}

// notExist builds an error that wraps fs.ErrNotExist, so callers can use
// errors.Is(err, fs.ErrNotExist) for missing revisions and files alike.
func notExist(format string, args ...any) error {
	return fmt.Errorf("gitrepo: "+format+": %w", append(args, fs.ErrNotExist)...)
}

// ReadFile returns the contents of the file at path in the tree of rev. The
// error wraps fs.ErrNotExist when rev does not exist, or path does not
// exist in it or is not a file.
func (r *Repo) ReadFile(ctx context.Context, rev, path string) ([]byte, error) {
	if err := checkRev(rev); err != nil {
		return nil, fmt.Errorf("gitrepo: read %s: %w", path, err)
	}
	path = strings.TrimPrefix(path, "./")
	path = strings.TrimLeft(path, "/")
	if path == "" || strings.ContainsAny(path, "\x00\n\r") {
		return nil, notExist("read %q at %s", path, rev)
	}
	cacheable := isObjectName(rev)
	if cacheable {
		if data, ok := objects.file(r.Dir, rev, path); ok {
			return data, nil
		}
	}
	// One cat-file --batch call both tells missing from present (it prints
	// "<name> missing" rather than failing) and returns the content.
	out, err := r.run(ctx, strings.NewReader(rev+":"+path+"\n"), "cat-file", "--batch")
	if err != nil {
		return nil, fmt.Errorf("gitrepo: read %s at %s: %w", path, rev, err)
	}
	header, body, ok := bytes.Cut(out, []byte{'\n'})
	if !ok {
		return nil, fmt.Errorf("gitrepo: read %s at %s: malformed cat-file output", path, rev)
	}
	fields := strings.Fields(string(header))
	if len(fields) >= 2 && (fields[len(fields)-1] == "missing" || fields[len(fields)-1] == "ambiguous") {
		return nil, notExist("read %s at %s", path, rev)
	}
	if len(fields) != 3 {
		return nil, fmt.Errorf("gitrepo: read %s at %s: malformed cat-file header %q", path, rev, header)
	}
	if fields[1] != "blob" {
		return nil, notExist("read %s at %s: is a %s, not a file", path, rev, fields[1])
	}
	var size int
	if _, err := fmt.Sscanf(fields[2], "%d", &size); err != nil || size > len(body) {
		return nil, fmt.Errorf("gitrepo: read %s at %s: malformed cat-file header %q", path, rev, header)
	}
	if cacheable {
		objects.putFile(r.Dir, rev, path, body[:size])
	}
	return body[:size], nil
}

// ListFiles returns the paths of all files in the tree of rev, recursively
// and sorted. Submodules appear as paths
// too, as they do for GitLab's rules:exists.
func (r *Repo) ListFiles(ctx context.Context, rev string) ([]string, error) {
	if err := checkRev(rev); err != nil {
		return nil, fmt.Errorf("gitrepo: list files: %w", err)
	}
	out, err := r.run(ctx, nil, "ls-tree", "-r", "-z", "--full-tree", "--name-only", "--end-of-options", rev)
	if err != nil {
		return nil, r.revError(ctx, err, "list files at "+rev, rev)
	}
	return splitNUL(out), nil
}

// ChangedFiles returns the paths that differ between the trees of from and
// to (added, modified, deleted; a rename counts as both of its paths), like
// GitLab's changed paths for rules:changes. An empty or all-zero from means
// there is nothing to compare with (a new branch), and an all-zero to
// means the ref was deleted; the result is then nil, nil and the caller
// should treat the change set as unknown. Otherwise the result is non-nil.
func (r *Repo) ChangedFiles(ctx context.Context, from, to string) ([]string, error) {
	if IsZeroSHA(from) || (to != "" && IsZeroSHA(to)) {
		return nil, nil
	}
	if err := checkRev(from); err != nil {
		return nil, fmt.Errorf("gitrepo: changed files: %w", err)
	}
	if err := checkRev(to); err != nil {
		return nil, fmt.Errorf("gitrepo: changed files: %w", err)
	}
	// diff-tree is plumbing: unlike git diff it ignores the user's diff
	// configuration (external drivers, rename detection defaults).
	out, err := r.run(ctx, nil, "diff-tree", "-r", "-z", "--name-only", "--no-renames", "--end-of-options", from, to)
	if err != nil {
		return nil, r.revError(ctx, err, "changed files "+from+".."+to, from, to)
	}
	files := splitNUL(out)
	if files == nil {
		files = []string{}
	}
	return files, nil
}

// MergeBase returns the best common ancestor of a and b, as GitLab's
// Repository#merge_base; fs.ErrNotExist when either is not a commit or
// they share no history.
func (r *Repo) MergeBase(ctx context.Context, a, b string) (string, error) {
	if err := checkRev(a); err != nil {
		return "", fmt.Errorf("gitrepo: merge base: %w", err)
	}
	if err := checkRev(b); err != nil {
		return "", fmt.Errorf("gitrepo: merge base: %w", err)
	}
	out, err := r.run(ctx, nil, "merge-base", "--end-of-options", a, b)
	if exitCode(err) == 1 {
		return "", notExist("merge base of %s and %s", a, b)
	}
	if err != nil {
		return "", r.revError(ctx, err, "merge base "+a+" "+b, a, b)
	}
	return strings.TrimSpace(string(out)), nil
}

// revError turns a failed command about revs into an error wrapping
// fs.ErrNotExist when one of them does not name a tree-ish. Checking after
// the failure costs nothing on the success path and avoids parsing git's
// messages.
func (r *Repo) revError(ctx context.Context, err error, what string, revs ...string) error {
	for _, rev := range revs {
		if _, rerr := r.run(ctx, nil, "rev-parse", "--verify", "--quiet", "--end-of-options", rev+"^{tree}"); exitCode(rerr) == 1 {
			return notExist("%s: unknown revision %s", what, rev)
		}
	}
	return fmt.Errorf("gitrepo: %s: %w", what, err)
}

// ResolveRef returns the commit sha that ref names. ref may be a branch
// name, a tag name (annotated tags are peeled to their commit), a full ref
// such as refs/pipelines/7, or a full or abbreviated sha. A short name that
// is both a branch and a tag resolves to the branch, as GitLab does when it
// creates a pipeline for a ref. The error wraps fs.ErrNotExist when nothing
// matches.
func (r *Repo) ResolveRef(ctx context.Context, ref string) (string, error) {
	if err := checkRev(ref); err != nil {
		return "", fmt.Errorf("gitrepo: resolve: %w", err)
	}
	var candidates []string
	if !strings.HasPrefix(ref, "refs/") {
		candidates = append(candidates, "refs/heads/"+ref, "refs/tags/"+ref)
	}
	candidates = append(candidates, ref)
	queries := make([]string, len(candidates))
	for i, c := range candidates {
		queries[i] = c + "^{commit}"
	}
	// The repository's long-lived checker answers without starting git;
	// when it finds nothing (or cannot be used) a new process decides.
	if answers, err := r.check(ctx, queries); err == nil {
		for _, line := range answers {
			if sha, typ, ok := strings.Cut(line, " "); ok && typ == "commit" {
				return sha, nil
			}
		}
	}
	var in strings.Builder
	for _, q := range queries {
		in.WriteString(q + "\n")
	}
	// One cat-file process answers all candidates in order.
	out, err := r.run(ctx, strings.NewReader(in.String()), "cat-file", "--batch-check=%(objectname) %(objecttype)")
	if err != nil {
		return "", fmt.Errorf("gitrepo: resolve %s: %w", ref, err)
	}
	for line := range strings.SplitSeq(strings.TrimRight(string(out), "\n"), "\n") {
		sha, typ, ok := strings.Cut(line, " ")
		if ok && typ == "commit" {
			return sha, nil
		}
	}
	return "", notExist("resolve %s", ref)
}

// Refs returns every ref of the repository, full name to the object it
// points at. Annotated tags map to the tag object, not the commit; use
// ResolveRef to peel.
func (r *Repo) Refs(ctx context.Context) (map[string]string, error) {
	out, err := r.run(ctx, nil, "for-each-ref", "--format=%(objectname) %(refname)")
	if err != nil {
		return nil, fmt.Errorf("gitrepo: list refs: %w", err)
	}
	refs := make(map[string]string)
	for line := range strings.SplitSeq(string(out), "\n") {
		sha, name, ok := strings.Cut(line, " ")
		if ok {
			refs[name] = sha
		}
	}
	return refs, nil
}

// BranchExists reports whether refs/heads/<name> exists.
func (r *Repo) BranchExists(ctx context.Context, name string) (bool, error) {
	return r.refExists(ctx, "refs/heads/"+name)
}

// TagExists reports whether refs/tags/<name> exists.
func (r *Repo) TagExists(ctx context.Context, name string) (bool, error) {
	return r.refExists(ctx, "refs/tags/"+name)
}

func (r *Repo) refExists(ctx context.Context, ref string) (bool, error) {
	if strings.HasSuffix(ref, "/") || strings.ContainsAny(ref, "\x00\n") {
		return false, nil
	}
	// show-ref --verify matches the exact ref, unlike rev-parse which
	// would also try refs/tags/<x>, refs/heads/<x>, ...
	_, err := r.run(ctx, nil, "show-ref", "--verify", "--quiet", ref)
	switch {
	case err == nil:
		return true, nil
	case exitCode(err) == 1:
		return false, nil
	default:
		return false, fmt.Errorf("gitrepo: check %s: %w", ref, err)
	}
}

// UpdateRef points the full ref (for example refs/pipelines/<id>) at sha,
// creating it if needed.
func (r *Repo) UpdateRef(ctx context.Context, ref, sha string) error {
	if !strings.HasPrefix(ref, "refs/") {
		return fmt.Errorf("gitrepo: update %q: not a full ref name", ref)
	}
	if err := checkRefName(ctx, ref); err != nil {
		return fmt.Errorf("gitrepo: update ref: %w", err)
	}
	if err := checkRev(sha); err != nil || IsZeroSHA(sha) {
		return fmt.Errorf("gitrepo: update %s: invalid object %q", ref, sha)
	}
	// The repository's long-lived update-ref applies the update as its own
	// transaction; anything but two "ok"s (a refused update ends that
	// process) leaves it to a new process, which says what went wrong.
	// Repeating an update that did go through is harmless.
	answers, err := r.ask(ctx, procUpdate, []string{"start", "update " + ref + " " + sha, "commit"}, 2)
	if err == nil && answers[0] == "start: ok" && answers[1] == "commit: ok" {
		return nil
	}
	if err == nil {
		r.retire(procUpdate) // an answer we do not understand
	}
	if _, err := r.run(ctx, nil, "update-ref", "-m", "gantry", ref, sha); err != nil {
		return fmt.Errorf("gitrepo: update %s to %s: %w", ref, sha, err)
	}
	return nil
}

// ErrRefChanged reports that a ref did not hold the value a compare-and-set
// update expected (created meanwhile, moved or deleted).
var ErrRefChanged = errors.New("gitrepo: ref changed")

// CompareAndSwapRef points the full ref at newSHA only if it holds oldSHA
// now; a zero oldSHA means the ref must not exist, a zero newSHA deletes
// it. git update-ref checks the old value under the ref's lock, so two
// writers cannot both win; the loser gets ErrRefChanged.
func (r *Repo) CompareAndSwapRef(ctx context.Context, ref, oldSHA, newSHA string) error {
	if !strings.HasPrefix(ref, "refs/") {
		return fmt.Errorf("gitrepo: update %q: not a full ref name", ref)
	}
	if err := checkRefName(ctx, ref); err != nil {
		return fmt.Errorf("gitrepo: update ref: %w", err)
	}
	if err := checkRev(oldSHA); err != nil {
		return fmt.Errorf("gitrepo: update %s: %w", ref, err)
	}
	if err := checkRev(newSHA); err != nil {
		return fmt.Errorf("gitrepo: update %s: %w", ref, err)
	}
	args := []string{"update-ref", "-m", "gantry", ref, newSHA, oldSHA}
	if IsZeroSHA(newSHA) {
		args = []string{"update-ref", "-m", "gantry", "-d", ref, oldSHA}
	}
	if _, err := r.run(ctx, nil, args...); err != nil {
		if exitCode(err) > 0 {
			return fmt.Errorf("%w: %s: %w", ErrRefChanged, ref, err)
		}
		return fmt.Errorf("gitrepo: update %s: %w", ref, err)
	}
	return nil
}

// CreateAnnotatedTag writes a tag object for sha with message by tagger
// and returns its id; the caller points refs/tags/<name> at it.
func (r *Repo) CreateAnnotatedTag(ctx context.Context, name, sha, message, taggerName, taggerEmail string, at time.Time) (string, error) {
	if err := checkRev(sha); err != nil {
		return "", err
	}
	typ, err := r.run(ctx, nil, "cat-file", "-t", sha)
	if err != nil {
		return "", notExist("object %s", sha)
	}
	clean := func(s string) string { return strings.NewReplacer("<", "", ">", "", "\n", " ", "\x00", "").Replace(s) }
	body := fmt.Sprintf("object %s\ntype %s\ntag %s\ntagger %s <%s> %d +0000\n\n%s\n", sha, strings.TrimSpace(string(typ)),
		name, clean(taggerName), clean(taggerEmail), at.Unix(), strings.TrimRight(message, "\n"))
	out, err := r.run(ctx, strings.NewReader(body), "mktag")
	if err != nil {
		return "", fmt.Errorf("gitrepo: tag %s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// DeleteRef removes the full ref; deleting a missing ref is not an error.
func (r *Repo) DeleteRef(ctx context.Context, ref string) error {
	if !strings.HasPrefix(ref, "refs/") {
		return fmt.Errorf("gitrepo: delete %q: not a full ref name", ref)
	}
	if err := checkRefName(ctx, ref); err != nil {
		return fmt.Errorf("gitrepo: delete ref: %w", err)
	}
	if _, err := r.run(ctx, nil, "update-ref", "-m", "gantry", "-d", ref); err != nil {
		return fmt.Errorf("gitrepo: delete %s: %w", ref, err)
	}
	return nil
}

// splitNUL splits NUL-terminated records, returning nil for no records.
func splitNUL(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	parts := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
	sort.Strings(parts)
	return parts
}
