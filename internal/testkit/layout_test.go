package testkit_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/gantryci/gantry/"

// layout is README's "Layout" as import rules: a package (or a tree, with
// /...) must never import the listed packages or trees of the module
// ("..." is every package outside its own tree); packages inside a listed
// tree may import each other. Only production code counts: test files may
// import anything.
var layout = []struct {
	pkg   string
	never []string
	why   string
}{
	{"...", []string{"internal/testkit/..."}, "the test kit is for tests only"},
	{"internal/ci", []string{"..."}, "the domain is pure: statuses, the status machine, rules; no I/O"},
	{"internal/ciconfig/...", []string{"internal/store/...", "internal/pipeline", "internal/api", "internal/runnerapi",
		"internal/app", "internal/httpx", "internal/gitserve", "internal/runner"},
		"the .gitlab-ci.yml compiler knows neither storage nor HTTP nor the engine"},
	{"internal/store/...", []string{"internal/pipeline", "internal/api", "internal/runnerapi", "internal/app",
		"internal/httpx", "internal/gitserve", "internal/runner", "internal/ciconfig/..."},
		"data flows one way, HTTP → engine → store: the store knows nothing above it"},
	{"internal/pipeline", []string{"internal/api", "internal/runnerapi", "internal/app", "internal/httpx",
		"internal/gitserve", "internal/runner", "internal/store/sqlite", "internal/store/postgres", "internal/store/sqlstore"},
		"the engine sits under HTTP and over the storage seam (internal/store), not over a database"},
	{"internal/api", []string{"internal/runnerapi", "internal/app", "internal/runner",
		"internal/store/sqlite", "internal/store/postgres", "internal/store/sqlstore"},
		"the REST API talks to the engine and the storage seam; the composition root wires it"},
	{"internal/runnerapi", []string{"internal/api", "internal/app", "internal/runner",
		"internal/store/sqlite", "internal/store/postgres", "internal/store/sqlstore"},
		"the runner protocol talks to the engine and the storage seam; the composition root wires it"},
	{"internal/runner", []string{"internal/store/...", "internal/pipeline", "internal/api", "internal/runnerapi",
		"internal/app", "internal/gitserve", "internal/blob"},
		"the built-in runner reaches the coordinator only over HTTP, as gitlab-runner does"},
	{"internal/httpx", []string{"internal/store/...", "internal/pipeline", "internal/api", "internal/runnerapi",
		"internal/app", "internal/runner"}, "HTTP plumbing under the handlers, shared by them"},
	{"internal/gitserve", []string{"internal/store/...", "internal/pipeline", "internal/api", "internal/runnerapi",
		"internal/app", "internal/runner"}, "git smart HTTP asks the composition root who may do what"},
	{"internal/gitrepo", []string{"..."}, "git CLI operations only"},
	{"internal/blob", []string{"..."}, "files on disk only"},
	{"internal/metrics", []string{"internal/store/...", "internal/pipeline", "internal/api", "internal/runnerapi",
		"internal/app", "internal/web", "internal/gitserve", "internal/runner", "internal/ci"},
		"the metrics definitions are a leaf: they know Prometheus, not the parts they measure (the composition root feeds them)"},
	{"internal/pipeline", []string{"internal/metrics"}, "the engine records through pipeline.Observer; only the composition root knows Prometheus"},
	{"internal/api", []string{"internal/metrics"}, "handlers record through httpx.RequestInfo; only the composition root knows Prometheus"},
	{"internal/runnerapi", []string{"internal/metrics"}, "the runner protocol records through runnerapi.Observer; only the composition root knows Prometheus"},
	{"internal/web", []string{"internal/metrics"}, "pages record through httpx.RequestInfo; only the composition root knows Prometheus"},
	{"internal/store/...", []string{"internal/metrics"}, "the store records through sqlstore.Hooks; only the composition root knows Prometheus"},
	{"internal/httpx", []string{"internal/metrics"}, "the request observer is an interface the metrics implement"},
	{"cmd/gantry", []string{"internal/store/...", "internal/api", "internal/runnerapi"},
		"flags and environment become app.Config; the composition root builds the rest"},
}

// pkgInfo is what go list says of a package.
type pkgInfo struct {
	ImportPath string
	Imports    []string
}

// TestLayout checks the module's production imports against layout.
func TestLayout(t *testing.T) {
	t.Parallel()
	pkgs := goList(t)
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages", len(pkgs))
	}
	for _, v := range checkLayout(t, pkgs) {
		t.Error(v)
	}
}

// TestLayoutCatches makes sure the checker does find violations, so that a
// broken matcher cannot pass TestLayout vacuously.
func TestLayoutCatches(t *testing.T) {
	t.Parallel()
	pkgs := []pkgInfo{
		{module + "internal/ci", []string{"fmt", module + "internal/blob"}},
		{module + "internal/runner", []string{module + "internal/store/sqlstore", module + "internal/runnerproto"}},
		{module + "internal/api", []string{module + "internal/pipeline", module + "internal/testkit/gittest"}},
		{module + "internal/store/sqlstore", []string{module + "internal/store", module + "internal/ci"}},
		{module + "internal/ciconfig/expr", []string{module + "internal/httpx"}},
	}
	// Make every rule's packages exist, as in the real module.
	for _, r := range layout {
		for _, p := range append([]string{r.pkg}, r.never...) {
			if p != "..." {
				pkgs = append(pkgs, pkgInfo{ImportPath: module + strings.TrimSuffix(p, "/...")})
			}
		}
	}
	got := checkLayout(t, pkgs)
	for _, want := range []string{
		"internal/ci imports internal/blob",
		"internal/runner imports internal/store/sqlstore",
		"internal/api imports internal/testkit/gittest",
		"internal/ciconfig/expr imports internal/httpx",
	} {
		if !slices.ContainsFunc(got, func(v string) bool { return strings.HasPrefix(v, want+":") }) {
			t.Errorf("violation %q not found in %q", want, got)
		}
	}
	if len(got) != 4 {
		t.Errorf("%d violations, want 4: %q", len(got), got)
	}
}

// checkLayout lists the violations of layout in pkgs; it fails t when a
// rule names packages that do not exist (a stale rule checks nothing).
func checkLayout(t *testing.T, pkgs []pkgInfo) []string {
	t.Helper()
	var names []string
	for _, p := range pkgs {
		if rel, ok := strings.CutPrefix(p.ImportPath, module); ok {
			names = append(names, rel)
		}
	}
	for _, r := range layout {
		for _, pat := range append([]string{r.pkg}, r.never...) {
			if !slices.ContainsFunc(names, func(n string) bool { return matches(pat, n) }) {
				t.Errorf("layout rule for %s: %s matches no package", r.pkg, pat)
			}
		}
	}
	var out []string
	for _, p := range pkgs {
		from, ok := strings.CutPrefix(p.ImportPath, module)
		if !ok {
			continue
		}
		for _, imp := range p.Imports {
			to, ok := strings.CutPrefix(imp, module)
			if !ok {
				continue
			}
			for _, r := range layout {
				if !matches(r.pkg, from) {
					continue
				}
				for _, bad := range r.never {
					// A tree may import within itself; "..." forbids
					// everything outside the rule's own tree.
					if bad == "..." && !matches(r.pkg, to) || bad != "..." && matches(bad, to) && !matches(bad, from) {
						out = append(out, from+" imports "+to+": "+r.why)
					}
				}
			}
		}
	}
	return out
}

// matches reports whether the module-relative package name is pat, or in
// the tree pat/..., or anything for "...".
func matches(pat, name string) bool {
	if pat == "..." {
		return true
	}
	if tree, ok := strings.CutSuffix(pat, "/..."); ok {
		return name == tree || strings.HasPrefix(name, tree+"/")
	}
	return name == pat
}

// goList lists the module's packages with their non-test imports.
func goList(t *testing.T) []pkgInfo {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports", "./...")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	var pkgs []pkgInfo
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkgInfo
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}
