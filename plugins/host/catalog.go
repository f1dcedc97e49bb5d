package host

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/extasis/extasis/core/config"
)

// HashFile returns the hex SHA-256 of a file, as pinned in plugins.list[].sha256
// (`extasis plugin hash`).
func HashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("host: hash: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("host: hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Resolve returns the real path of a plugin's binary and checks that it is
// confined to dir (symlinks resolved on both sides), a regular executable
// file, and that its SHA-256 matches the pin.
func Resolve(dir string, p config.Plugin) (string, error) {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", pluginErr(p.Name, fmt.Errorf("%w: plugin directory %q: %w", ErrBinary, dir, err))
	}
	if root, err = filepath.Abs(root); err != nil {
		return "", pluginErr(p.Name, fmt.Errorf("%w: %w", ErrBinary, err))
	}
	if p.Path == "" || filepath.IsAbs(p.Path) {
		return "", pluginErr(p.Name, fmt.Errorf("%w: path %q must be relative to %s", ErrOutsideDir, p.Path, root))
	}
	bin, err := filepath.EvalSymlinks(filepath.Join(root, p.Path))
	if err != nil {
		return "", pluginErr(p.Name, fmt.Errorf("%w: %w", ErrBinary, err))
	}
	if bin, err = filepath.Abs(bin); err != nil {
		return "", pluginErr(p.Name, fmt.Errorf("%w: %w", ErrBinary, err))
	}
	rel, err := filepath.Rel(root, bin)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", pluginErr(p.Name, fmt.Errorf("%w: %q resolves to %s, not inside %s", ErrOutsideDir, p.Path, bin, root))
	}
	fi, err := os.Stat(bin)
	if err != nil {
		return "", pluginErr(p.Name, fmt.Errorf("%w: %w", ErrBinary, err))
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return "", pluginErr(p.Name, fmt.Errorf("%w: %s is not an executable regular file", ErrBinary, bin))
	}
	if err := verify(p.Name, bin, p.SHA256); err != nil {
		return "", err
	}
	return bin, nil
}

func verify(name, bin, pin string) error {
	sum, err := HashFile(bin)
	if err != nil {
		return pluginErr(name, fmt.Errorf("%w: %w", ErrBinary, err))
	}
	if !strings.EqualFold(sum, pin) {
		return pluginErr(name, fmt.Errorf("%w: %s has %s, the config pins %q (extasis plugin hash %s)", ErrChecksum, bin, sum, pin, bin))
	}
	return nil
}
