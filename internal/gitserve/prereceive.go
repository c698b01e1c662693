package gitserve

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// PushCheck is the decision on one ref update of a push, taken before git
// applies any of them, as GitLab's pre-receive checks do. The first update
// whose check fails rejects the whole push: git prints the message as
// "remote: GitLab: <message>" and every ref as "[remote rejected]
// (pre-receive hook declined)".
type PushCheck struct {
	// ForceDeny, when set, rejects the update if it is not a fast-forward.
	// Only git can tell once the pack is in, so this check runs inside
	// receive-pack's pre-receive hook; it comes before Deny.
	ForceDeny string
	// Deny, when set, rejects the update.
	Deny string
}

// maxCommandBytes bounds the command list of one push read ahead of git
// (about 100 bytes per ref: tens of thousands of refs).
const maxCommandBytes = 4 << 20

var errBadCommands = errors.New("gitserve: malformed receive-pack command list")

// readCommands reads receive-pack's command list (pkt-lines "old new ref",
// capabilities after a NUL on the first, "shallow <oid>" lines skipped, up
// to the flush packet) without reading past it. It returns the commands
// and the bytes it consumed, which must be handed to git in front of the
// rest of the body.
func readCommands(r io.Reader) ([]RefUpdate, []byte, error) {
	var raw []byte
	var cmds []RefUpdate
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) && len(raw) == 0 {
				return nil, nil, nil // an empty body: nothing to check
			}
			return nil, nil, fmt.Errorf("%w: %v", errBadCommands, err)
		}
		raw = append(raw, hdr[:]...)
		var n [2]byte
		if _, err := hex.Decode(n[:], hdr[:]); err != nil {
			return nil, nil, errBadCommands
		}
		size := int(n[0])<<8 | int(n[1])
		if size == 0 {
			return cmds, raw, nil
		}
		if size < 4 || len(raw)+size > maxCommandBytes {
			return nil, nil, errBadCommands
		}
		start := len(raw)
		raw = append(raw, make([]byte, size-4)...)
		if _, err := io.ReadFull(r, raw[start:]); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", errBadCommands, err)
		}
		line := string(raw[start:])
		if i := strings.IndexByte(line, 0); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSuffix(line, "\n")
		if strings.HasPrefix(line, "shallow ") {
			continue
		}
		f := strings.Split(line, " ")
		if len(f) != 3 || !isOID(f[0]) || !isOID(f[1]) || len(f[0]) != len(f[1]) || f[2] == "" {
			return nil, nil, errBadCommands
		}
		cmds = append(cmds, RefUpdate{OldSHA: f[0], NewSHA: f[1], Ref: f[2]})
	}
}

func isOID(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// checkPush reads the command list of a receive-pack request and asks
// Config.CheckPush about it. It returns the request to hand to git (its
// body replayed in full, de-gzipped) and the environment that installs a
// one-push pre-receive hook enforcing the checks, with a cleanup func. A
// non-nil error has already been answered.
func (h *handler) checkPush(w http.ResponseWriter, r *http.Request, t Target) (*http.Request, []gitConfig, func(), error) {
	noop := func() {}
	body := io.Reader(r.Body)
	r2 := r.Clone(r.Context())
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			plain(w, http.StatusBadRequest, "Bad Request")
			return nil, nil, noop, err
		}
		body = zr
		r2.Header.Del("Content-Encoding")
		r2.ContentLength = -1
		r2.TransferEncoding = nil
	}
	cmds, raw, err := readCommands(body)
	if err != nil {
		plain(w, http.StatusBadRequest, "Bad Request")
		return nil, nil, noop, err
	}
	r2.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(raw), body), r.Body}
	if len(cmds) == 0 {
		return r2, nil, noop, nil
	}
	checks, err := h.cfg.CheckPush(r.Context(), t, cmds)
	if err != nil {
		h.log.ErrorContext(r.Context(), "gitserve: push check", "err", err)
		plain(w, http.StatusInternalServerError, msgInternalError)
		return nil, nil, noop, err
	}
	script := hookScript(cmds, checks)
	if script == "" {
		return r2, nil, noop, nil
	}
	dir, err := writeHook(r.Context(), script)
	if err != nil {
		// Never let a push through unchecked because the hook cannot run.
		h.log.ErrorContext(r.Context(), "gitserve: pre-receive hook", "err", err)
		plain(w, http.StatusInternalServerError, msgInternalError)
		return nil, nil, noop, err
	}
	return r2, []gitConfig{{"core.hooksPath", dir}}, func() { _ = os.RemoveAll(dir) }, nil
}

// hookScript writes the checks as a pre-receive hook: for each update git
// is about to apply, the force check (a non-fast-forward is a non-zero old
// and new id where old is not an ancestor of new, the objects being
// visible in receive-pack's quarantine), then the denial. Ref names and
// messages are single-quoted, so no byte of them is shell syntax. It
// returns "" when no update has a check.
func hookScript(cmds []RefUpdate, checks []PushCheck) string {
	var b strings.Builder
	for i, c := range cmds {
		if i >= len(checks) || checks[i] == (PushCheck{}) {
			continue
		}
		fmt.Fprintf(&b, "\t%s)\n", shellQuote(c.Ref))
		if m := checks[i].ForceDeny; m != "" {
			fmt.Fprintf(&b, "\t\tforced \"$old\" \"$new\" && deny %s\n", shellQuote(m))
		}
		if m := checks[i].Deny; m != "" {
			fmt.Fprintf(&b, "\t\tdeny %s\n", shellQuote(m))
		}
		b.WriteString("\t\t;;\n")
	}
	if b.Len() == 0 {
		return ""
	}
	return `#!/bin/sh
# Written by Gantry for one push: GitLab's protected ref checks.
zero() { case "$1" in *[!0]*) return 1 ;; esac; return 0; }
forced() { ! zero "$1" && ! zero "$2" && ! git merge-base --is-ancestor "$1" "$2" 2>/dev/null; }
deny() { printf 'GitLab: %s\n' "$1" >&2; exit 1; }
while read -r old new ref; do
	case "$ref" in
` + b.String() + `	esac
done
exit 0
`
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// writeHook puts the script in a fresh directory as pre-receive and runs it
// once with no updates: git silently skips a hook it cannot execute (a
// noexec temp dir), which would let the push through unchecked.
func writeHook(ctx context.Context, script string) (string, error) {
	dir, err := os.MkdirTemp("", "gantry-hook-")
	if err != nil {
		return "", err
	}
	hook := filepath.Join(dir, "pre-receive")
	if err := os.WriteFile(hook, []byte(script), 0o700); err != nil {
		_ = os.RemoveAll(dir)
		return "", err
	}
	cmd := exec.CommandContext(ctx, hook)
	cmd.Stdin = strings.NewReader("")
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("probe %s: %w: %s", hook, err, strconv.Quote(string(out)))
	}
	return dir, nil
}
