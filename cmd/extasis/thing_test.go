package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/extasis/extasis/sdk/iotdisco"
)

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestThingURI(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "extasis.yaml")
	os.WriteFile(cfg, []byte("domains:\n  - name: extasis.example\n"), 0o600)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"digest example", []string{"thing", "uri", "--registry", "registry.extasis.example",
			"MAN=acme-meters.example", "MODEL=EM-200", "SN=A7Q-000042", "#V=3.1", "CLASS=Meter", "KEY=5f0c9e1d7a2b44c6a1d3e8f09b7c6a55"},
			"iotdisco:MAN=acme-meters.example;MODEL=EM-200;SN=A7Q-000042;#V=3.1;CLASS=Meter;KEY=5f0c9e1d7a2b44c6a1d3e8f09b7c6a55;R=registry.extasis.example"},
		{"default registry", []string{"thing", "uri", "SN=1", "--key", "k"}, "iotdisco:SN=1;KEY=k;R=registry.localhost"},
		{"registry from the config's domain", []string{"thing", "uri", "--config", cfg, "SN=1", "KEY=k"}, "iotdisco:SN=1;KEY=k;R=registry.extasis.example"},
		{"escaping", []string{"thing", "uri", "--registry", "r", "NAME=Caf;e\\Bar 50%", "KEY=k"}, "iotdisco:NAME=Caf%3Be%5CBar%2050%25;KEY=k;R=r"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCLI(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(out); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name string
		args []string
		msg  string
	}{
		{"no KEY", []string{"thing", "uri", "SN=1"}, "needs a KEY"},
		{"not a tag", []string{"thing", "uri", "SN", "KEY=k"}, "NAME=VALUE"},
		{"bad number", []string{"thing", "uri", "#V=x", "KEY=k"}, "not a number"},
		{"bad name", []string{"thing", "uri", "S N=1", "KEY=k"}, "contains"},
		{"two keys", []string{"thing", "uri", "--key", "a", "--random-key", "SN=1"}, "exclude"},
		{"qr without png", []string{"thing", "qr", "SN=1", "KEY=k"}, "--png"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := runCLI(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err %v, want %q", err, tc.msg)
			}
		})
	}
}

// TestThingQR decodes the PNG with a real QR decoder (zbar) and gets the
// claim URI back.
func TestThingQR(t *testing.T) {
	png := filepath.Join(t.TempDir(), "thing.png")
	out, err := runCLI(t, "thing", "qr", "--png", png, "--registry", "registry.extasis.example",
		"MAN=acme-meters.example", "SN=A7Q-000042", "NAME=Café ;\\", "#V=3.1", "--random-key")
	if err != nil {
		t.Fatal(err)
	}
	uri := strings.TrimSpace(out)
	u, err := iotdisco.Parse(uri)
	if err != nil || u.Kind() != iotdisco.KindClaim {
		t.Fatalf("%s: %v", uri, err)
	}
	if fi, err := os.Stat(png); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("png %v %v", fi, err)
	}
	zbar, err := exec.LookPath("zbarimg")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("missing test dependency: zbarimg (apt-get install zbar-tools)")
		}
		t.Skip("missing test dependency: zbarimg (apt-get install zbar-tools)")
	}
	cmd := exec.Command(zbar, "-q", "--raw", png)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Run(); err != nil {
		t.Fatalf("zbarimg: %v", err)
	}
	if got := strings.TrimSpace(stdout.String()); got != uri {
		t.Errorf("decoded %q\nwant    %q", got, uri)
	}
}
