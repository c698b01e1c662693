package auth

import (
	"errors"

	"golang.org/x/crypto/bcrypt"
)

// MinPasswordLength is GitLab's default minimum password length
// (ApplicationSetting#minimum_password_length).
const MinPasswordLength = 8

// ErrPasswordTooShort and ErrPasswordTooLong reject unusable passwords.
var (
	ErrPasswordTooShort = errors.New("password is too short (minimum is 8 characters)")
	// bcrypt reads at most 72 bytes; a longer password would be cut
	// silently, so it is refused (GitLab's maximum is 128 characters, but
	// Devise's bcrypt cuts at 72 bytes as well).
	ErrPasswordTooLong = errors.New("password is too long (maximum is 72 bytes)")
)

// HashPassword hashes a password with bcrypt (Devise's default KDF, which
// GitLab uses), at a cost that takes tens of milliseconds.
func HashPassword(pw string) (string, error) {
	if len(pw) < MinPasswordLength {
		return "", ErrPasswordTooShort
	}
	if len(pw) > 72 {
		return "", ErrPasswordTooLong
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	return string(h), err
}

// dummyHash is compared against when a user has no password, so that a
// sign-in takes as long whether or not the account exists.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("gantry-no-password"), bcrypt.DefaultCost)

// CheckPassword reports whether pw matches hash; an empty hash never
// matches (and costs as much as a real comparison).
func CheckPassword(hash, pw string) bool {
	if hash == "" {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(pw))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}
