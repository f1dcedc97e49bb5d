package config

import (
	"encoding"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
)

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// checkKeys walks the decoded YAML against the Config type and reports the
// first key the type does not have, with its full path and the keys that
// are allowed there.
func checkKeys(v any, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		// Check text values here, where the path is known; the decoder
		// reports their errors without it.
		if v == nil {
			return nil
		}
		u := reflect.New(t).Interface().(encoding.TextUnmarshaler)
		if err := u.UnmarshalText([]byte(fmt.Sprint(v))); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return nil // a type error, reported by the decoder
		}
		fields := map[string]reflect.StructField{}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" || !f.IsExported() {
				continue
			}
			fields[tag] = f
			names = append(names, tag)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			f, ok := fields[k]
			if !ok {
				return fmt.Errorf("%s: unknown key (allowed here: %s)", join(path, k), strings.Join(names, ", "))
			}
			if err := checkKeys(m[k], f.Type, join(path, k)); err != nil {
				return err
			}
		}
	case reflect.Slice:
		l, ok := v.([]any)
		if !ok {
			return nil
		}
		for i, e := range l {
			if err := checkKeys(e, t.Elem(), path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
	}
	return nil
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

var errPos = regexp.MustCompile(`^\[(\d+):(\d+)\]\s*`)

// explain turns a decoder error into one line naming the key path.
func explain(b []byte, err error) string {
	msg := err.Error()
	if m := errPos.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		rest := strings.TrimSpace(msg[len(m[0]):])
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			rest = rest[:i]
		}
		if p := pathAtLine(b, line); p != "" {
			return fmt.Sprintf("%s (line %d): %s", p, line, rest)
		}
		return fmt.Sprintf("line %d: %s", line, rest)
	}
	return strings.TrimSpace(yaml.FormatError(err, false, false))
}

// pathAtLine reconstructs the key path of a line from indentation, the way
// a reader of the file would.
func pathAtLine(b []byte, line int) string {
	lines := strings.Split(string(b), "\n")
	if line < 1 || line > len(lines) {
		return ""
	}
	type frame struct {
		indent int
		key    string
	}
	var stack []frame
	keyOf := func(s string) (indent int, key string, ok bool) {
		t := strings.TrimLeft(s, " ")
		indent = len(s) - len(t)
		if strings.HasPrefix(t, "- ") {
			t = strings.TrimLeft(t[2:], " ")
			indent += 2
		}
		if t == "" || t[0] == '#' {
			return 0, "", false
		}
		i := strings.IndexByte(t, ':')
		if i <= 0 {
			return 0, "", false
		}
		return indent, strings.Trim(t[:i], `"'`), true
	}
	for i := 0; i < line; i++ {
		indent, key, ok := keyOf(lines[i])
		if !ok {
			continue
		}
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		stack = append(stack, frame{indent, key})
	}
	parts := make([]string, len(stack))
	for i, f := range stack {
		parts[i] = f.key
	}
	return strings.Join(parts, ".")
}
