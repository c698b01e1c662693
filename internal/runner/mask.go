package runner

import (
	"bytes"
	"sort"
)

// maskedText replaces secrets in the trace, as gitlab-runner does.
const maskedText = "[MASKED]"

// defaultTokenPrefixes are GitLab token prefixes masked wherever they occur
// in the log; the characters following the prefix are the secret part.
var defaultTokenPrefixes = []string{
	"glpat-", "gloas-", "gldt-", "glrt-", "glrtr-", "glcbt-", "glptt-", "glft-",
	"glimt-", "glagent-", "glsoat-", "glffct-", "glwt-", "GR1348941",
}

// masker redacts secret values and prefixed tokens from a byte stream.
// Because a secret may be split across writes, bytes that could be the
// start of a secret are held back until the next write or the final flush.
type masker struct {
	secrets  [][]byte // longest first so that overlapping secrets mask fully
	prefixes [][]byte
	pending  []byte
	first    [256]bool // first bytes of secrets and prefixes: a fast path
}

func newMasker(secrets, prefixes []string) *masker {
	m := &masker{}
	seen := map[string]bool{}
	for _, s := range secrets {
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		m.secrets = append(m.secrets, []byte(s))
	}
	sort.Slice(m.secrets, func(i, j int) bool { return len(m.secrets[i]) > len(m.secrets[j]) })
	for _, s := range m.secrets {
		m.first[s[0]] = true
	}
	for _, p := range prefixes {
		if p != "" && !seen["prefix:"+p] {
			seen["prefix:"+p] = true
			m.prefixes = append(m.prefixes, []byte(p))
			m.first[p[0]] = true
		}
	}
	return m
}

// isTokenByte reports whether b can be part of a GitLab token's secret part.
func isTokenByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_' || b == '.'
}

// maxHold bounds how much output a token-in-progress may hold back, so a
// pathological stream cannot stall the log.
const maxHold = 4 << 10

// write feeds p and returns the bytes that are now safe to emit. With final
// set, nothing is held back.
func (m *masker) write(p []byte, final bool) []byte {
	data := append(m.pending, p...)
	m.pending = nil
	out := make([]byte, 0, len(data))
	i := 0
scan:
	for i < len(data) {
		if !m.first[data[i]] {
			out = append(out, data[i])
			i++
			continue
		}
		rest := data[i:]
		for _, s := range m.secrets {
			if bytes.HasPrefix(rest, s) {
				out = append(out, maskedText...)
				i += len(s)
				continue scan
			}
		}
		for _, p := range m.prefixes {
			if bytes.HasPrefix(rest, p) {
				j := len(p)
				for j < len(rest) && isTokenByte(rest[j]) {
					j++
				}
				if j == len(rest) && !final && len(rest) < maxHold {
					// The token may continue in the next write.
					break scan
				}
				out = append(out, p...)
				if j > len(p) {
					out = append(out, maskedText...)
				}
				i += j
				continue scan
			}
		}
		if !final && len(rest) < maxHold && m.partial(rest) {
			break scan
		}
		out = append(out, data[i])
		i++
	}
	if i < len(data) {
		m.pending = append([]byte(nil), data[i:]...)
	}
	return out
}

// partial reports whether rest is a proper prefix of some secret or token
// prefix, i.e. whether it must wait for more data.
func (m *masker) partial(rest []byte) bool {
	for _, s := range m.secrets {
		if len(rest) < len(s) && bytes.HasPrefix(s, rest) {
			return true
		}
	}
	for _, p := range m.prefixes {
		if len(rest) < len(p) && bytes.HasPrefix(p, rest) {
			return true
		}
	}
	return false
}
