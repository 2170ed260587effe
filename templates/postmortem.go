package templates

import (
	"bufio"
	"embed"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/incidentbot/incidentbot"
)

// defaultName is the embedded default template.
const defaultName = "postmortem.md.tmpl"

//go:embed postmortem.md.tmpl
var defaultFS embed.FS

// PostMortem is a parsed post-mortem template. It is safe for concurrent use.
type PostMortem struct {
	tmpl *template.Template
}

// Default returns the embedded default template. It does not fail: the
// embedded template is checked by the package's tests, and a broken one
// panics here.
func Default() *PostMortem {
	src, err := defaultFS.ReadFile(defaultName)
	if err != nil {
		panic(fmt.Sprintf("templates: read embedded %s: %v", defaultName, err))
	}
	return &PostMortem{tmpl: template.Must(newTemplate(defaultName).Parse(string(src)))}
}

// Load returns the template in the file at path, or Default() when path is
// "". It fails when the file cannot be read, when it does not parse (the
// error is text/template's own, naming the file and the line), and when
// executing it against built-in sample incidents fails, as it does for an
// unknown field or function, so that a broken template is found at start-up
// rather than when an incident is resolved.
func Load(path string) (*PostMortem, error) {
	if path == "" {
		return Default(), nil
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("templates: load post-mortem template: %w", err)
	}
	t, err := newTemplate(filepath.Base(path)).Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("templates: load post-mortem template %s: %w", path, err)
	}
	p := &PostMortem{tmpl: t}
	for _, in := range sampleInputs() {
		if err := p.Render(io.Discard, in); err != nil {
			return nil, fmt.Errorf("templates: load post-mortem template %s: trying it on a sample incident: %w", path, err)
		}
	}
	return p, nil
}

// newTemplate returns an empty template with the package's functions.
func newTemplate(name string) *template.Template {
	return template.New(name).Option("missingkey=error").Funcs(template.FuncMap{
		"md":      md,
		"mdLines": mdLines,
		"lower":   strings.ToLower,
		"upper":   strings.ToUpper,
	})
}

// md escapes a value for a template: Text and string by EscapeMarkdown,
// anything else as fmt prints it, escaped too.
func md(v any) string {
	switch x := v.(type) {
	case Text:
		return EscapeMarkdown(string(x))
	case string:
		return EscapeMarkdown(x)
	}
	return EscapeMarkdown(fmt.Sprint(v))
}

// mdLines is md with EscapeIndented: continuation lines indented by n.
func mdLines(n int, v any) string {
	switch x := v.(type) {
	case Text:
		return EscapeIndented(string(x), n)
	case string:
		return EscapeIndented(x, n)
	}
	return EscapeIndented(fmt.Sprint(v), n)
}

// Render writes the post-mortem of in to w. It fails when in.Incident is
// nil, when the template fails (a custom one that Load's samples did not
// exercise), or when w fails; part of the document may have been written.
func (p *PostMortem) Render(w io.Writer, in Input) error {
	d, err := NewData(in)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := p.tmpl.Execute(bw, d); err != nil {
		return fmt.Errorf("templates: render post-mortem of %s: %w", d.ID, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("templates: render post-mortem of %s: %w", d.ID, err)
	}
	return nil
}

// FileName returns the file name of inc's post-mortem, "INC-<n>-postmortem.md".
func FileName(inc *incidentbot.Incident) string { return inc.Key() + "-postmortem.md" }
