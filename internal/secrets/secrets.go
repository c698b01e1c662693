// Package secrets encrypts values kept at rest (CI variable values) with
// AES-256-GCM under a key that lives in a file apart from the database, as
// GitLab keeps db_key_base in config/secrets.yml and not in its database
// (lib/gitlab/crypto_helper.rb, attr_encrypted on Ci::Variable). A copy of
// the database alone reveals no secret; a lost or wrong key file is a
// clear error, never garbage.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// keySize is AES-256's.
const keySize = 32

// Box seals and opens values with one key.
type Box struct {
	aead cipher.AEAD
	file string
}

// ErrNoKeyFile reports that the key file does not exist.
var ErrNoKeyFile = errors.New("secrets key file does not exist")

// Load reads the key file at path: 64 hex digits (whitespace around them
// is ignored). A file others may read is refused.
func Load(path string) (*Box, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", path, ErrNoKeyFile)
	}
	if err != nil {
		return nil, fmt.Errorf("secrets key file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secrets key file %s has mode %04o: it must be readable by its owner only (chmod 600)", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secrets key file: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != keySize {
		return nil, fmt.Errorf("secrets key file %s: want %d hex digits", path, 2*keySize)
	}
	return newBox(key, path)
}

// Create writes a new random key to path (0600) and returns its Box. If
// another process created the file first, that key is loaded instead, so
// coordinators starting together agree on one key.
func Create(path string) (*Box, error) {
	key := make([]byte, keySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("secrets key file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".secrets-*")
	if err != nil {
		return nil, fmt.Errorf("secrets key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(hex.EncodeToString(key) + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("secrets key file: %w", err)
	}
	// link, unlike rename, never replaces an existing key.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return Load(path)
		}
		return nil, fmt.Errorf("secrets key file: %w", err)
	}
	return newBox(key, path)
}

func newBox(key []byte, path string) (*Box, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead, file: path}, nil
}

// File is the key file's path, for messages.
func (b *Box) File() string { return b.file }

// Seal encrypts plain, bound to context (say, the table, row and column):
// a sealed value copied to another row does not open. The result is
// printable: base64 of nonce and ciphertext.
func (b *Box) Seal(plain, context string) string {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	out := b.aead.Seal(nonce, nonce, []byte(plain), []byte(context))
	return base64.StdEncoding.EncodeToString(out)
}

// ErrWrongKey reports a sealed value that does not open with the key.
var ErrWrongKey = errors.New("cannot decrypt")

// Open decrypts a value from Seal with the same context.
func (b *Box) Open(sealed, context string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(raw) < b.aead.NonceSize()+b.aead.Overhead() {
		return "", fmt.Errorf("%w: stored value is not an encrypted value", ErrWrongKey)
	}
	n := b.aead.NonceSize()
	plain, err := b.aead.Open(nil, raw[:n], raw[n:], []byte(context))
	if err != nil {
		return "", fmt.Errorf("%w with the key in %s: the key file is not the one the value was encrypted with", ErrWrongKey, b.file)
	}
	return string(plain), nil
}
