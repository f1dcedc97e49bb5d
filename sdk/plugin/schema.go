package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Schema is a compiled config schema (JSON Schema, draft 2020-12 unless the
// schema says otherwise).
type Schema struct{ s *jsonschema.Schema }

// CompileSchema compiles a config schema. An empty schema accepts only an
// empty config. References to other documents are refused: a schema must
// be self-contained, so that validating never reads files or the network.
func CompileSchema(schema []byte) (*Schema, error) {
	if len(bytes.TrimSpace(schema)) == 0 {
		return &Schema{}, nil
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, fmt.Errorf("plugin: config schema is not JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(jsonschema.SchemeURLLoader{})
	const loc = "urn:extasis:plugin:config-schema"
	if err := c.AddResource(loc, doc); err != nil {
		return nil, fmt.Errorf("plugin: config schema: %w", err)
	}
	s, err := c.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("plugin: config schema: %w", err)
	}
	return &Schema{s: s}, nil
}

// ErrConfig is wrapped by every config validation error.
var ErrConfig = errors.New("invalid config")

// Validate checks a config block given as JSON. The error is one line
// naming the offending keys, e.g.
// `plugin: invalid config: config.prefix: got number, want string`.
func (s *Schema) Validate(config []byte) error {
	if len(bytes.TrimSpace(config)) == 0 {
		config = []byte("{}")
	}
	if s.s == nil {
		var m map[string]any
		if err := json.Unmarshal(config, &m); err != nil || len(m) > 0 {
			return fmt.Errorf("plugin: %w: the plugin takes no configuration", ErrConfig)
		}
		return nil
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(config))
	if err != nil {
		return fmt.Errorf("plugin: %w: not JSON: %w", ErrConfig, err)
	}
	err = s.s.Validate(inst)
	var ve *jsonschema.ValidationError
	if errors.As(err, &ve) {
		p := message.NewPrinter(language.English)
		var leaves []string
		collect(ve, p, &leaves)
		return fmt.Errorf("plugin: %w: %s", ErrConfig, strings.Join(leaves, "; "))
	}
	if err != nil {
		return fmt.Errorf("plugin: %w: %w", ErrConfig, err)
	}
	return nil
}

// collect gathers the innermost causes, which name the actual keys, as
// "config.a.b: message".
func collect(e *jsonschema.ValidationError, p *message.Printer, out *[]string) {
	if len(e.Causes) > 0 {
		for _, c := range e.Causes {
			collect(c, p, out)
		}
		return
	}
	loc := "config"
	for _, t := range e.InstanceLocation {
		loc += "." + t
	}
	*out = append(*out, loc+": "+e.ErrorKind.LocalizedString(p))
}
