package runner

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gantryci/gantry/internal/runnerproto"
)

// getSources fetches and checks out the job's commit (docs/runner-protocol.md, "Getting the sources"), honouring
// GIT_STRATEGY, GIT_DEPTH, GIT_CHECKOUT, GIT_CLEAN_FLAGS and
// GIT_FETCH_EXTRA_FLAGS.
func (j *jobRun) getSources() error {
	end := j.section("get_sources", "Getting source from Git repository")
	defer end()
	// hooks:pre_get_sources_script runs first, as gitlab-runner's
	// pre-clone hooks do.
	for _, h := range j.job.Hooks {
		if h.Name == runnerproto.HookPreGetSourcesScript && len(h.Script) > 0 {
			if err := fromProcess(j.runScript(j.scriptCtx, "pre_get_sources_script", h.Script, j.env)); err != nil {
				return err
			}
		}
	}

	strategy := j.jobVar("GIT_STRATEGY")
	if strategy == "" {
		strategy = "clone"
		if j.job.AllowGitFetch {
			strategy = "fetch"
		}
	}
	switch strategy {
	case "none":
		j.printf("Skipping Git repository setup")
		return j.mkProjectDir()
	case "empty":
		j.printf("Skipping Git repository setup and creating an empty build directory")
		if err := os.RemoveAll(j.projectDir); err != nil {
			return fmt.Errorf("empty project dir: %w", err)
		}
		return j.mkProjectDir()
	case "clone":
		if err := os.RemoveAll(j.projectDir); err != nil {
			return fmt.Errorf("remove project dir for clone: %w", err)
		}
	case "fetch":
	default:
		return &scriptError{msg: fmt.Sprintf("unknown GIT_STRATEGY %q", strategy)}
	}
	if j.job.GitInfo.RepoURL == "" {
		return &scriptError{msg: "git_info.repo_url is empty; set GIT_STRATEGY=none to skip sources"}
	}

	depth := j.job.GitInfo.Depth
	if d, err := strconv.Atoi(j.jobVar("GIT_DEPTH")); err == nil {
		depth = d
	}
	if depth > 0 {
		j.printf("Fetching changes with git depth set to %d...", depth)
	} else {
		j.printf("Fetching changes...")
	}
	if err := j.mkProjectDir(); err != nil {
		return err
	}
	gitDir := filepath.Join(j.projectDir, ".git")
	_, statErr := os.Stat(gitDir)
	fresh := statErr != nil
	// A job killed mid-fetch leaves lock files that would break this one.
	for _, lock := range []string{"index.lock", "shallow.lock", "HEAD.lock", "config.lock", "packed-refs.lock"} {
		_ = os.Remove(filepath.Join(gitDir, lock))
	}

	remote, env := j.gitRemote()
	if err := j.git(env, "init", "-q"); err != nil {
		return err
	}
	if fresh {
		j.printf("Initialized empty Git repository in %s/", gitDir)
		j.printf("Created fresh repository.")
	} else {
		j.printf("Reinitialized existing Git repository in %s/", gitDir)
	}
	// add fails when origin exists (fetch strategy); set-url then fixes it.
	if err := j.run(j.scriptCtx, env, &bytes.Buffer{}, "git", "remote", "add", "origin", remote); err != nil {
		if err := j.git(env, "remote", "set-url", "origin", remote); err != nil {
			return err
		}
	}

	args := []string{"fetch", "origin", "--no-recurse-submodules"}
	args = append(args, j.job.GitInfo.Refspecs...)
	if depth > 0 {
		args = append(args, "--depth", strconv.Itoa(depth))
	} else if _, err := os.Stat(filepath.Join(gitDir, "shallow")); err == nil {
		args = append(args, "--unshallow")
	}
	extra := "--prune --quiet"
	if v, ok := lookupVar(j.vars, "GIT_FETCH_EXTRA_FLAGS"); ok {
		extra = v
	}
	args = append(args, strings.Fields(extra)...)
	if err := j.git(env, args...); err != nil {
		return err
	}

	sha := j.job.GitInfo.Sha
	if j.jobVar("GIT_CHECKOUT") == "false" {
		j.printf("Skipping Git checkout")
	} else {
		j.printf("Checking out %s as detached HEAD (ref is %s)...", shortSha(sha), j.job.GitInfo.Ref)
		if err := j.git(env, "-c", "submodule.recurse=false", "checkout", "-f", "-q", sha); err != nil {
			return err
		}
		clean := "-ffdx"
		if v, ok := lookupVar(j.vars, "GIT_CLEAN_FLAGS"); ok {
			clean = v
		}
		if clean != "none" && strings.TrimSpace(clean) != "" {
			if err := j.git(env, append([]string{"clean"}, strings.Fields(clean)...)...); err != nil {
				return err
			}
		}
	}
	j.printf("Skipping Git submodules setup")
	return nil
}

func shortSha(sha string) string {
	if len(sha) > 8 {
		return sha[:8]
	}
	return sha
}

// gitRemote returns the remote URL to store in .git/config (credentials
// stripped, so the job token does not outlive the job on disk) and the
// environment that hands git the credentials for this fetch only, through
// url.<with-credentials>.insteadOf, as gitlab-runner does.
func (j *jobRun) gitRemote() (string, []string) {
	env := append(append([]string{}, j.env...),
		"GIT_TERMINAL_PROMPT=0",
		"GIT_ASKPASS=", // never ask a helper for the password
	)
	// An empty credential.helper resets the list, so a user-level helper
	// cannot store the job token.
	configs := [][2]string{{"credential.helper", ""}}
	remote := j.job.GitInfo.RepoURL
	if u, err := url.Parse(remote); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		// Credentials from repo_url, or else the job token, like
		// gitlab-runner, which authenticates the repo host and the
		// coordinator's host even when repo_url carries none.
		creds := u.User
		if creds == nil {
			creds = url.UserPassword("gitlab-ci-token", j.job.Token)
		}
		roots := []*url.URL{{Scheme: u.Scheme, Host: u.Host, Path: "/"}}
		if base, err := url.Parse(j.r.cfg.URL + "/"); err == nil && base.Host != u.Host {
			roots = append(roots, base)
		}
		for _, root := range roots {
			withCreds := *root
			withCreds.User = creds
			configs = append(configs, [2]string{"url." + withCreds.String() + ".insteadOf", root.String()})
		}
		plain := *u
		plain.User = nil
		remote = plain.String()
	}
	env = append(env, "GIT_CONFIG_COUNT="+strconv.Itoa(len(configs)))
	for i, kv := range configs {
		env = append(env, fmt.Sprintf("GIT_CONFIG_KEY_%d=%s", i, kv[0]), fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", i, kv[1]))
	}
	return remote, env
}

// git runs one git command in the project dir with output to the trace.
func (j *jobRun) git(env []string, args ...string) error {
	return fromProcess(j.run(j.scriptCtx, env, j.trace, "git", args...))
}
