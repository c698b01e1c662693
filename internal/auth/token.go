// Package auth makes and checks Gantry's secrets: personal access tokens,
// runner tokens and job tokens are random strings with GitLab's prefixes,
// stored only as SHA-256 digests.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Token prefixes, as GitLab spells them.
const (
	PrefixPAT    = "glpat-"
	PrefixRunner = "glrt-"
	PrefixJob    = "glcbt-"
)

const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"

// NewToken returns prefix followed by n random URL-safe characters.
func NewToken(prefix string, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("auth: no randomness: " + err.Error())
	}
	var sb strings.Builder
	sb.WriteString(prefix)
	for _, c := range b {
		sb.WriteByte(alphabet[int(c)%len(alphabet)])
	}
	return sb.String()
}

// Digest is what the database keeps of a token.
func Digest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
