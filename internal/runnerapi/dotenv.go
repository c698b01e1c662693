package runnerapi

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/runnerproto"
)

// GitLab's default plan limits for artifacts:reports:dotenv
// (plan_limits.dotenv_size, plan_limits.dotenv_variables).
const (
	maxDotenvSize      = 5 << 10
	maxDotenvVariables = 20
)

// dotenvKeyRe is Ci::JobVariable's key format.
var dotenvKeyRe = regexp.MustCompile(`^[a-zA-Z0-9_]{1,255}$`)

// parseDotenv reads a dotenv report the way GitLab's
// Ci::ParseDotenvArtifactService does: every line is KEY=VALUE (both
// stripped), a later key replaces an earlier one, and anything else makes
// the whole report invalid. gitlab-runner uploads it gzip-compressed.
func parseDotenv(data []byte, format string) ([]runnerproto.Variable, error) {
	if format == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, ci.BadRequest("Invalid Format")
		}
		data, err = io.ReadAll(io.LimitReader(zr, 4*maxDotenvSize+1))
		if err != nil || len(data) > 4*maxDotenvSize {
			return nil, ci.BadRequest("Invalid Format")
		}
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var out []runnerproto.Variable
	index := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, value, ok := strings.Cut(strings.TrimSuffix(sc.Text(), "\r"), "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if !ok || !dotenvKeyRe.MatchString(key) {
			return nil, ci.BadRequest("Invalid Format")
		}
		v := runnerproto.Variable{Key: key, Value: value}
		if i, seen := index[key]; seen {
			out[i] = v
			continue
		}
		index[key] = len(out)
		out = append(out, v)
	}
	if len(out) > maxDotenvVariables {
		return nil, ci.BadRequest(fmt.Sprintf("Dotenv files cannot have more than %d variables", maxDotenvVariables))
	}
	return out, nil
}

// checkDotenv buffers a dotenv upload (it is small) and refuses it as
// GitLab does when it is too big or malformed; it returns the bytes to store.
func checkDotenv(r io.Reader, format string) (io.Reader, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxDotenvSize))
	if err != nil {
		return nil, fmt.Errorf("read dotenv: %w", err)
	}
	if len(data) >= maxDotenvSize {
		return nil, ci.BadRequest(fmt.Sprintf("Dotenv Artifact Too Big. Maximum Allowable Size: %d", maxDotenvSize))
	}
	if _, err := parseDotenv(data, format); err != nil {
		return nil, err
	}
	return bytes.NewReader(data), nil
}

// dotenvVariables collects the dotenv report variables of a job's
// dependencies, in dependency order (a later job's key wins). A report that
// is gone or unreadable contributes nothing.
func (a *API) dotenvVariables(ctx context.Context, deps []*ci.Job, arts map[int64][]*ci.Artifact) []runnerproto.Variable {
	var out []runnerproto.Variable
	for _, d := range deps {
		for _, art := range arts[d.ID] {
			if art.FileType != "dotenv" {
				continue
			}
			vars, err := a.readDotenv(ctx, art)
			if err != nil {
				a.log.Warn("dotenv report", "job", d.ID, "err", err)
				continue
			}
			out = append(out, vars...)
		}
	}
	return out
}

func (a *API) readDotenv(ctx context.Context, art *ci.Artifact) ([]runnerproto.Variable, error) {
	f, err := a.blobs.Open(ctx, art.BlobKey)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxDotenvSize))
	if err != nil {
		return nil, err
	}
	return parseDotenv(data, art.FileFormat)
}
