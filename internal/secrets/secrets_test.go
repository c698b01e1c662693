package secrets

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, err := Create(filepath.Join(dir, "a.key"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Create(filepath.Join(dir, "b.key"))
	if err != nil {
		t.Fatal(err)
	}
	sealed := a.Seal("hunter2", "row:1")
	if strings.Contains(sealed, "hunter2") || sealed == a.Seal("hunter2", "row:1") {
		t.Errorf("sealed %q shows the value or is not randomised", sealed)
	}
	tests := []struct {
		name    string
		box     *Box
		sealed  string
		context string
		want    string
		errLike string
	}{
		{"same key and row", a, sealed, "row:1", "hunter2", ""},
		{"other row", a, sealed, "row:2", "", a.File()},
		{"other key", b, sealed, "row:1", "", b.File()},
		{"plaintext", a, "hunter2", "row:1", "", "not an encrypted value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.box.Open(tc.sealed, tc.context)
			if tc.errLike == "" {
				if err != nil || got != tc.want {
					t.Errorf("Open = %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), tc.errLike) || got != "" {
				t.Errorf("Open = %q, %v; want ErrWrongKey mentioning %q", got, err, tc.errLike)
			}
		})
	}
}

func TestKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "secrets.key")
	if _, err := Load(path); !errors.Is(err, ErrNoKeyFile) || !strings.Contains(err.Error(), path) {
		t.Errorf("Load of a missing file: %v", err)
	}
	a, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}
	// A second Create keeps the first key, as two coordinators starting
	// together must agree.
	b, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := b.Open(a.Seal("x", "c"), "c"); err != nil || v != "x" {
		t.Errorf("second Create replaced the key: %q %v", v, err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("Load of a world-readable key: %v", err)
	}
	bad := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(bad, []byte("not hex\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("Load of a malformed key: %v", err)
	}
}
