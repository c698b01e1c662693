package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gantryci/gantry/internal/backup"
	"github.com/gantryci/gantry/internal/pipeline"
)

func backupCmd(ctx context.Context, args []string) error {
	fs := newFlagSet("backup", "Writes a consistent backup of an instance (its database, repositories, artifacts\n"+
		"and logs) to one archive, while it runs. The secrets key is not in it: keep it apart.")
	var in backup.Instance
	var out string
	fs.StringVar(&in.DataDir, "data-dir", "./gantry-data", "the instance's data directory")
	fs.StringVar(&in.DatabaseURL, "database", "", "the instance's postgres:// URL (default SQLite in the data dir)")
	fs.StringVar(&out, "output", "", "archive to write (.tar.gz); - for standard output; required")
	if err := parse(fs, args); err != nil {
		return err
	}
	if out == "" {
		return fmt.Errorf("--output is required")
	}
	if out == "-" {
		return backup.Create(ctx, in, pipeline.Version, os.Stdout)
	}
	// Write beside the target and rename, so a failed backup never leaves
	// a truncated archive under the name.
	tmp, err := os.CreateTemp(filepath.Dir(out), ".gantry-backup-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := backup.Create(ctx, in, pipeline.Version, tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "backup written to %s (the secrets key is not in it: keep a copy apart)\n", out)
	return nil
}

func restoreCmd(ctx context.Context, args []string) error {
	fs := newFlagSet("restore", "Restores a backup written by gantry backup onto an empty data dir (and, for\n"+
		"PostgreSQL, an empty database). Put the secrets key back beside it before starting.")
	var in backup.Instance
	var src string
	fs.StringVar(&in.DataDir, "data-dir", "./gantry-data", "the data directory to restore into (empty or absent)")
	fs.StringVar(&in.DatabaseURL, "database", "", "postgres:// URL of an empty database (default SQLite in the data dir)")
	fs.StringVar(&src, "input", "", "archive to read; - for standard input; required")
	if err := parse(fs, args); err != nil {
		return err
	}
	var r io.Reader = os.Stdin
	switch src {
	case "":
		return fmt.Errorf("--input is required")
	case "-":
	default:
		f, err := os.Open(src)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	m, err := backup.Restore(ctx, in, r)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "restored a %s backup of %s into %s\n", m.Database, m.CreatedAt.Format("2006-01-02 15:04:05Z"), in.DataDir)
	return nil
}
