package app_test

import (
	"testing"

	"github.com/gantryci/gantry/internal/testkit"
)

// forEachDB runs fn as a parallel subtest per database (testkit.ForEachDB),
// with the server options selecting it.
func forEachDB(t *testing.T, fn func(t *testing.T, o serverOpts)) {
	t.Helper()
	testkit.ForEachDB(t, func(t *testing.T, db testkit.DB) { fn(t, serverOpts{db: db}) })
}
