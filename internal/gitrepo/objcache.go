package gitrepo

import (
	"bytes"
	"maps"
	"slices"
	"sync"
)

// objCache keeps what reads by full object name returned: a commit and a
// file at a commit never change once the name exists, so pipeline
// creation for the same commit (API calls, schedules, retries of a push)
// need not start git again for them. Only found objects are kept, and only
// for revisions that are full hexadecimal object names (a branch or tag
// name moves; those are always asked of git).
type objCache struct {
	mu      sync.Mutex
	commits map[string]*Commit
	files   map[string][]byte
	bytes   int
}

// objCacheMax bounds the entries of each map and objCacheBytes the file
// contents kept; when a bound is reached the cache starts over.
const (
	objCacheMax   = 1024
	objCacheBytes = 8 << 20
)

var objects objCache

// isObjectName reports whether rev is a full SHA-1 or SHA-256 object name
// in lower-case hex (what ResolveRef returns).
func isObjectName(rev string) bool {
	if len(rev) != 40 && len(rev) != 64 {
		return false
	}
	for i := 0; i < len(rev); i++ {
		c := rev[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func (c *objCache) commit(dir, sha string) *Commit {
	c.mu.Lock()
	got := c.commits[dir+"\x00"+sha]
	c.mu.Unlock()
	if got == nil {
		return nil
	}
	return cloneCommit(got)
}

func (c *objCache) putCommit(dir, sha string, cm *Commit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.commits == nil || len(c.commits) >= objCacheMax {
		c.commits = map[string]*Commit{}
	}
	c.commits[dir+"\x00"+sha] = cloneCommit(cm)
}

func (c *objCache) file(dir, sha, path string) ([]byte, bool) {
	c.mu.Lock()
	got, ok := c.files[dir+"\x00"+sha+"\x00"+path]
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	return bytes.Clone(got), true
}

func (c *objCache) putFile(dir, sha, path string, data []byte) {
	if len(data) > objCacheBytes/16 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.files == nil || len(c.files) >= objCacheMax || c.bytes+len(data) > objCacheBytes {
		c.files, c.bytes = map[string][]byte{}, 0
	}
	c.files[dir+"\x00"+sha+"\x00"+path] = bytes.Clone(data)
	c.bytes += len(data)
}

func cloneCommit(c *Commit) *Commit {
	out := *c
	out.ParentIDs = slices.Clone(c.ParentIDs)
	out.Trailers = maps.Clone(c.Trailers)
	return &out
}
