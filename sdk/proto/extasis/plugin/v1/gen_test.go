package pluginv1

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// The generator versions the committed code was made with. A different
// protoc-gen-go or protoc-gen-go-grpc emits different code, so the test
// insists on these (see sdk/PROTOCOL.md, "Changing the protocol").
const (
	wantGenGo     = "protoc-gen-go v1.36.12"
	wantGenGoGRPC = "protoc-gen-go-grpc 1.6.2"
)

// protocVersion lines differ between protoc builds without changing the
// generated code, so they are left out of the comparison.
var protocVersion = regexp.MustCompile(`(?m)^// (\t|- )protoc +v.*$`)

// lookTool finds a generator in PATH or in GOPATH/bin, where go install
// puts it.
func lookTool(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		p := filepath.Join(string(bytes.TrimSpace(gopath)), "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// missing skips, except under CI=true where every dependency must be there.
func missing(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found; install it as sdk/PROTOCOL.md says", what)
	}
	t.Skipf("%s not found; skipping the generated-code check", what)
}

func TestGeneratedCodeIsCurrent(t *testing.T) {
	protoc := lookTool("protoc")
	genGo := lookTool("protoc-gen-go")
	genGRPC := lookTool("protoc-gen-go-grpc")
	for name, p := range map[string]string{"protoc": protoc, "protoc-gen-go": genGo, "protoc-gen-go-grpc": genGRPC} {
		if p == "" {
			missing(t, name)
		}
	}
	for bin, want := range map[string]string{genGo: wantGenGo, genGRPC: wantGenGoGRPC} {
		out, err := exec.Command(bin, "--version").Output()
		if err != nil {
			t.Fatalf("%s --version: %v", bin, err)
		}
		if got := string(bytes.TrimSpace(out)); got != want {
			t.Fatalf("%s is %q; the committed code was generated with %q", bin, got, want)
		}
	}

	tmp := t.TempDir()
	cmd := exec.Command(protoc,
		"--plugin=protoc-gen-go="+genGo, "--plugin=protoc-gen-go-grpc="+genGRPC,
		"-I", "../../..",
		"--go_out="+tmp, "--go_opt=paths=source_relative",
		"--go-grpc_out="+tmp, "--go-grpc_opt=paths=source_relative",
		"extasis/plugin/v1/plugin.proto")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, out)
	}
	for _, name := range []string{"plugin.pb.go", "plugin_grpc.pb.go"} {
		t.Run(name, func(t *testing.T) {
			committed, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			fresh, err := os.ReadFile(filepath.Join(tmp, "extasis", "plugin", "v1", name))
			if err != nil {
				t.Fatal(err)
			}
			committed = protocVersion.ReplaceAll(committed, nil)
			fresh = protocVersion.ReplaceAll(fresh, nil)
			if !bytes.Equal(committed, fresh) {
				t.Errorf("%s is stale: run `go generate` in sdk/proto/extasis/plugin/v1 and commit the result", name)
			}
		})
	}
}
