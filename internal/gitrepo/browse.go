package gitrepo

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// LogOptions select the commits Log returns, newest first.
type LogOptions struct {
	// Path keeps only commits that touch it.
	Path string
	// Since and Until bound the commit date (inclusive); zero means open.
	Since, Until time.Time
	// Skip and Limit page the result; Limit 0 means no limit.
	Skip, Limit int
}

func (o LogOptions) args() []string {
	var a []string
	if !o.Since.IsZero() {
		a = append(a, "--since="+strconv.FormatInt(o.Since.Unix(), 10))
	}
	if !o.Until.IsZero() {
		a = append(a, "--until="+strconv.FormatInt(o.Until.Unix(), 10))
	}
	return a
}

func (o LogOptions) pathArgs() ([]string, error) {
	if o.Path == "" {
		return []string{"--"}, nil
	}
	p, err := cleanPath(o.Path)
	if err != nil {
		return nil, err
	}
	// :(literal) keeps a path from being read as a pathspec pattern.
	return []string{"--", ":(literal)" + p}, nil
}

// cleanPath normalises a repository path as GitLab's API takes it.
func cleanPath(p string) (string, error) {
	p = strings.Trim(strings.TrimPrefix(p, "./"), "/")
	if strings.ContainsAny(p, "\x00\n\r") {
		return "", fmt.Errorf("invalid path %q", p)
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == ".." {
			return "", fmt.Errorf("invalid path %q", p)
		}
	}
	return p, nil
}

// Log returns the commits reachable from rev, newest first. The error wraps
// fs.ErrNotExist when rev names no commit.
func (r *Repo) Log(ctx context.Context, rev string, o LogOptions) ([]*Commit, error) {
	if err := checkRev(rev); err != nil {
		return nil, fmt.Errorf("gitrepo: log: %w", err)
	}
	paths, err := o.pathArgs()
	if err != nil {
		return nil, fmt.Errorf("gitrepo: log: %w", err)
	}
	args := []string{"-c", "log.showSignature=false", "-c", "i18n.logOutputEncoding=UTF-8",
		"log", "-z", "--no-color", "--date=raw", "--format=" + commitFormat + "%x00"}
	args = append(args, o.args()...)
	if o.Skip > 0 {
		args = append(args, "--skip="+strconv.Itoa(o.Skip))
	}
	if o.Limit > 0 {
		args = append(args, "--max-count="+strconv.Itoa(o.Limit))
	}
	args = append(args, "--end-of-options", rev+"^{commit}")
	out, err := r.run(ctx, nil, append(args, paths...)...)
	if err != nil {
		return nil, r.revError(ctx, err, "log "+rev, rev+"^{commit}")
	}
	// With -z each record is its fields, the format's closing NUL and the
	// NUL git puts between records.
	tokens := strings.Split(string(out), "\x00")
	var commits []*Commit
	for len(tokens) > commitFields {
		rec := strings.Join(tokens[:commitFields], "\x00")
		tokens = tokens[commitFields+1:]
		// -z drops the newline git log adds after %B, which parseCommit
		// expects.
		c, err := parseCommit(rec + "\n")
		if err != nil {
			return nil, fmt.Errorf("gitrepo: log %s: %w", rev, err)
		}
		commits = append(commits, c)
	}
	return commits, nil
}

// CountCommits counts what Log would return without paging.
func (r *Repo) CountCommits(ctx context.Context, rev string, o LogOptions) (int, error) {
	if err := checkRev(rev); err != nil {
		return 0, fmt.Errorf("gitrepo: count: %w", err)
	}
	paths, err := o.pathArgs()
	if err != nil {
		return 0, fmt.Errorf("gitrepo: count: %w", err)
	}
	args := append([]string{"rev-list", "--count"}, o.args()...)
	args = append(args, "--end-of-options", rev+"^{commit}")
	out, err := r.run(ctx, nil, append(args, paths...)...)
	if err != nil {
		return 0, r.revError(ctx, err, "count "+rev, rev+"^{commit}")
	}
	return strconv.Atoi(strings.TrimSpace(string(out)))
}

// Stats are a commit's line changes against its first parent.
type Stats struct {
	Additions, Deletions int
}

// CommitStats counts added and deleted lines of a commit as GitLab's
// CommitStats does (binary files count nothing).
func (r *Repo) CommitStats(ctx context.Context, sha string) (Stats, error) {
	if err := checkRev(sha); err != nil {
		return Stats{}, fmt.Errorf("gitrepo: stats: %w", err)
	}
	out, err := r.run(ctx, nil, "diff-tree", "--root", "-r", "--no-commit-id", "--numstat", "--no-renames", "--end-of-options", sha)
	if err != nil {
		return Stats{}, r.revError(ctx, err, "stats "+sha, sha)
	}
	var s Stats
	for line := range strings.SplitSeq(string(out), "\n") {
		f := strings.SplitN(line, "\t", 3)
		if len(f) < 3 {
			continue
		}
		a, _ := strconv.Atoi(f[0]) // "-" for binary files
		d, _ := strconv.Atoi(f[1])
		s.Additions += a
		s.Deletions += d
	}
	return s, nil
}

// Ref is a branch or tag.
type Ref struct {
	// Name is the short name (main, v1.0).
	Name string
	// Target is what the ref points at: the commit, or for an annotated
	// tag the tag object.
	Target string
	// Commit is the commit it resolves to.
	Commit string
	// Message is an annotated tag's message; empty otherwise.
	Message string
	// Annotated reports a tag object.
	Annotated bool
	// TaggedAt is an annotated tag's tagger date; zero otherwise.
	TaggedAt time.Time
}

// Branches lists refs/heads, sorted by name.
func (r *Repo) Branches(ctx context.Context) ([]Ref, error) {
	return r.listRefs(ctx, "refs/heads/")
}

// Tags lists refs/tags with their messages, sorted by name.
func (r *Repo) Tags(ctx context.Context) ([]Ref, error) {
	refs, err := r.listRefs(ctx, "refs/tags/")
	if err != nil {
		return nil, err
	}
	var objs []string
	for _, ref := range refs {
		if ref.Annotated {
			objs = append(objs, ref.Target)
		}
	}
	if len(objs) == 0 {
		return refs, nil
	}
	tags, err := r.tagObjects(ctx, objs)
	if err != nil {
		return nil, err
	}
	for i := range refs {
		if t, ok := tags[refs[i].Target]; ok {
			refs[i].Message, refs[i].TaggedAt = t.Message, t.TaggedAt
		}
	}
	return refs, nil
}

// listRefs lists the refs under prefix with the commits they peel to.
func (r *Repo) listRefs(ctx context.Context, prefix string) ([]Ref, error) {
	out, err := r.run(ctx, nil, "for-each-ref", "--sort=refname",
		"--format=%(objectname) %(objecttype) %(*objectname) %(refname)", prefix)
	if err != nil {
		return nil, fmt.Errorf("gitrepo: list %s: %w", prefix, err)
	}
	var refs []Ref
	for line := range strings.SplitSeq(strings.TrimRight(string(out), "\n"), "\n") {
		f := strings.SplitN(line, " ", 4)
		if len(f) != 4 {
			continue
		}
		ref := Ref{Name: strings.TrimPrefix(f[3], prefix), Target: f[0], Commit: f[0], Annotated: f[1] == "tag"}
		if ref.Annotated {
			ref.Commit = f[2]
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

// tagObjects reads the messages and tagger dates of tag objects with one
// cat-file.
func (r *Repo) tagObjects(ctx context.Context, objs []string) (map[string]Ref, error) {
	out, err := r.run(ctx, strings.NewReader(strings.Join(objs, "\n")+"\n"), "cat-file", "--batch")
	if err != nil {
		return nil, fmt.Errorf("gitrepo: read tags: %w", err)
	}
	tags := make(map[string]Ref, len(objs))
	rd := bufio.NewReader(bytes.NewReader(out))
	for {
		header, err := rd.ReadString('\n')
		if err != nil {
			break
		}
		f := strings.Fields(header)
		if len(f) != 3 {
			continue // "<obj> missing"
		}
		size, err := strconv.Atoi(f[2])
		if err != nil {
			return nil, fmt.Errorf("gitrepo: read tags: malformed header %q", header)
		}
		body := make([]byte, size+1) // and the newline after it
		if _, err := io.ReadFull(rd, body); err != nil {
			return nil, fmt.Errorf("gitrepo: read tags: %w", err)
		}
		// A tag object is headers, a blank line, then the message.
		head, msg, _ := bytes.Cut(body[:size], []byte("\n\n"))
		t := Ref{Message: string(msg)}
		for line := range strings.SplitSeq(string(head), "\n") {
			if rest, ok := strings.CutPrefix(line, "tagger "); ok {
				if i := strings.LastIndexByte(rest, '>'); i >= 0 {
					t.TaggedAt, _ = parseRawDate(rest[i+1:])
				}
			}
		}
		tags[f[0]] = t
	}
	return tags, nil
}

// RefsContaining returns the branches and tags whose history contains sha.
func (r *Repo) RefsContaining(ctx context.Context, sha string) (branches, tags []string, err error) {
	if err := checkRev(sha); err != nil {
		return nil, nil, fmt.Errorf("gitrepo: refs containing: %w", err)
	}
	out, err := r.run(ctx, nil, "for-each-ref", "--sort=refname", "--format=%(refname)", "--contains", sha, "refs/heads/", "refs/tags/")
	if err != nil {
		return nil, nil, r.revError(ctx, err, "refs containing "+sha, sha)
	}
	for line := range strings.SplitSeq(strings.TrimRight(string(out), "\n"), "\n") {
		if b, ok := strings.CutPrefix(line, "refs/heads/"); ok {
			branches = append(branches, b)
		} else if t, ok := strings.CutPrefix(line, "refs/tags/"); ok {
			tags = append(tags, t)
		}
	}
	return branches, tags, nil
}

// MergedBranches returns the set of branches whose head is reachable from
// into (GitLab's "merged" flag of a branch).
func (r *Repo) MergedBranches(ctx context.Context, into string) (map[string]bool, error) {
	if err := checkRev(into); err != nil {
		return nil, fmt.Errorf("gitrepo: merged: %w", err)
	}
	out, err := r.run(ctx, nil, "for-each-ref", "--format=%(refname)", "--merged="+into, "refs/heads/")
	if err != nil {
		return nil, r.revError(ctx, err, "merged into "+into, into)
	}
	set := map[string]bool{}
	for line := range strings.SplitSeq(strings.TrimRight(string(out), "\n"), "\n") {
		if b, ok := strings.CutPrefix(line, "refs/heads/"); ok {
			set[b] = true
		}
	}
	return set, nil
}

// TreeEntry is one entry of a tree listing.
type TreeEntry struct {
	ID, Name, Type, Path, Mode string
	// Size is a blob's size; -1 for trees and submodules.
	Size int64
}

// Tree lists the entries of the directory path in the tree of rev, or all
// entries below it (trees included) when recursive. The error wraps
// fs.ErrNotExist when rev does not exist or path is not a directory.
func (r *Repo) Tree(ctx context.Context, rev, path string, recursive bool) ([]TreeEntry, error) {
	if err := checkRev(rev); err != nil {
		return nil, fmt.Errorf("gitrepo: tree: %w", err)
	}
	p, err := cleanPath(path)
	if err != nil {
		return nil, notExist("tree %q", path)
	}
	treeish := rev + "^{tree}"
	if p != "" {
		treeish = rev + ":" + p
	}
	args := []string{"ls-tree", "-z", "-l"}
	if recursive {
		args = append(args, "-r", "-t")
	}
	out, err := r.run(ctx, nil, append(args, "--end-of-options", treeish)...)
	if err != nil {
		return nil, r.revError(ctx, err, "tree "+treeish, treeish)
	}
	var entries []TreeEntry
	for rec := range strings.SplitSeq(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		e, ok := parseTreeLine(rec)
		if !ok {
			continue
		}
		e.Path = e.Name
		if p != "" {
			e.Path = p + "/" + e.Name
		}
		if i := strings.LastIndexByte(e.Name, '/'); i >= 0 {
			e.Name = e.Name[i+1:]
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// parseTreeLine parses "<mode> <type> <id> <size>\t<name>" of ls-tree -l.
func parseTreeLine(rec string) (TreeEntry, bool) {
	meta, name, ok := strings.Cut(rec, "\t")
	f := strings.Fields(meta)
	if !ok || len(f) != 4 {
		return TreeEntry{}, false
	}
	size, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil {
		size = -1
	}
	return TreeEntry{Mode: f[0], Type: f[1], ID: f[2], Size: size, Name: name}, true
}

// Blob describes the file at path in the tree of rev. The error wraps
// fs.ErrNotExist when there is none.
func (r *Repo) Blob(ctx context.Context, rev, path string) (TreeEntry, error) {
	if err := checkRev(rev); err != nil {
		return TreeEntry{}, fmt.Errorf("gitrepo: blob: %w", err)
	}
	p, err := cleanPath(path)
	if err != nil || p == "" {
		return TreeEntry{}, notExist("blob %q", path)
	}
	out, err := r.run(ctx, nil, "ls-tree", "-z", "-l", "--full-tree", "--end-of-options", rev, "--", ":(literal)"+p)
	if err != nil {
		return TreeEntry{}, r.revError(ctx, err, "blob "+p, rev)
	}
	e, ok := parseTreeLine(strings.TrimSuffix(string(out), "\x00"))
	if !ok || e.Type != "blob" || e.Name != p {
		return TreeEntry{}, notExist("blob %s at %s", p, rev)
	}
	e.Path = p
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		e.Name = p[i+1:]
	}
	return e, nil
}

// LastCommitFor returns the newest commit reachable from rev that touched
// path.
func (r *Repo) LastCommitFor(ctx context.Context, rev, path string) (string, error) {
	cs, err := r.Log(ctx, rev, LogOptions{Path: path, Limit: 1})
	if err != nil {
		return "", err
	}
	if len(cs) == 0 {
		return "", notExist("no commit touches %s", path)
	}
	return cs[0].ID, nil
}

// Archive streams `git archive` of rev in format (tar, tar.gz, tgz, zip,
// tar.bz2 is not offered) to w, each path under prefix/, limited to path
// when it is not empty.
func (r *Repo) Archive(ctx context.Context, w io.Writer, rev, format, prefix, path string) error {
	if err := checkRev(rev); err != nil {
		return fmt.Errorf("gitrepo: archive: %w", err)
	}
	args := []string{"--git-dir=" + r.Dir, "archive", "--format=" + format, "--prefix=" + prefix + "/", "--end-of-options", rev}
	if path != "" {
		p, err := cleanPath(path)
		if err != nil {
			return notExist("archive %q", path)
		}
		args = append(args, "--", ":(literal)"+p)
	}
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Env = GitEnv("GZIP=-n")
	cmd.WaitDelay = waitDelay
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = w, &stderr
	if err := cmd.Run(); err != nil {
		return &gitError{args: args, err: err, stderr: strings.TrimSpace(stderr.String())}
	}
	return nil
}
