package runner

import (
	"bytes"
	"sort"
	"strings"
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
	url      urlMasker
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
// pathological stream cannot stall the log. A masked value may hold back up
// to its own length: it is masked whatever its size.
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
		// The output so far ends inside a possible secret: wait for the rest,
		// even when a shorter secret already matches (it may be the start of
		// a longer one).
		if !final && m.partialSecret(rest) {
			break scan
		}
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
		if !final && len(rest) < maxHold && m.partialPrefix(rest) {
			break scan
		}
		out = append(out, data[i])
		i++
	}
	if i < len(data) {
		m.pending = append([]byte(nil), data[i:]...)
	}
	return m.url.write(out, final)
}

// partialSecret reports whether rest is a proper prefix of some secret,
// i.e. whether it must wait for more data.
func (m *masker) partialSecret(rest []byte) bool {
	for _, s := range m.secrets {
		if len(rest) < len(s) && bytes.HasPrefix(s, rest) {
			return true
		}
	}
	return false
}

// partialPrefix reports whether rest is a proper prefix of a token prefix.
func (m *masker) partialPrefix(rest []byte) bool {
	for _, p := range m.prefixes {
		if len(rest) < len(p) && bytes.HasPrefix(p, rest) {
			return true
		}
	}
	return false
}

// sensitiveParams are the URL query parameters whose values the trace
// never shows, matched case-insensitively, as gitlab-runner's
// helpers/trace/internal/urlsanitizer does: GitLab tokens and the
// signature, credential and session token of presigned S3 URLs.
var sensitiveParams = map[string]bool{
	"private_token": true, "authenticity_token": true, "rss_token": true,
	"x-amz-signature": true, "x-amz-credential": true, "x-amz-security-token": true,
}

// maxParamKey is the longest sensitive parameter name.
const maxParamKey = len("x-amz-security-token")

// urlMasker replaces the value after ?key= or &key= of a sensitive key
// with [MASKED], across writes.
type urlMasker struct {
	pending []byte // "?" or "&" and the start of a key, waiting for more
	masking bool   // inside a value being dropped
}

// isParamEnd reports whether b ends a query parameter value.
func isParamEnd(b byte) bool {
	return b == '?' || b == '&' || b == ' ' || b < 0x20 || b == 0x7f
}

func (u *urlMasker) write(p []byte, final bool) []byte {
	data := p
	if len(u.pending) > 0 {
		data = append(u.pending, p...)
		u.pending = nil
	}
	out := make([]byte, 0, len(data))
	i := 0
	for i < len(data) {
		if u.masking {
			j := i
			for j < len(data) && !isParamEnd(data[j]) {
				j++
			}
			i = j
			if j == len(data) {
				break // the value goes on in the next write
			}
			out = append(out, maskedText...)
			u.masking = false
			continue
		}
		c := data[i]
		if c != '?' && c != '&' {
			out = append(out, c)
			i++
			continue
		}
		j := i + 1
		for j < len(data) && j-i-1 <= maxParamKey && data[j] != '=' && data[j] != '?' && data[j] != '&' {
			j++
		}
		if j == len(data) && j-i-1 <= maxParamKey && !final {
			u.pending = append([]byte(nil), data[i:]...)
			return out
		}
		if j < len(data) && data[j] == '=' && sensitiveParams[strings.ToLower(string(data[i+1:j]))] {
			out = append(out, data[i:j+1]...)
			i = j + 1
			u.masking = true
			continue
		}
		out = append(out, c)
		i++
	}
	if final && u.masking {
		out = append(out, maskedText...)
		u.masking = false
	}
	return out
}
