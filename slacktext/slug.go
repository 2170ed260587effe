package slacktext

import (
	"net/url"
	"strings"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// Slug reduces s to what a Slack channel name may hold: it folds case and
// removes diacritics (Ärger → arger, Straße → strasse, ﬁx → fix), then turns
// every run of characters other than a-z, 0-9 and '_' into one '-', without
// a leading or trailing '-'. Letters with no Latin base (Cyrillic, CJK, …)
// are left out. It does not decode entities or markup (see SlugText for text
// as Slack sent it) and does not limit the length; "" when nothing is left.
func Slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range fold(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
		default:
			dash = true
		}
	}
	return b.String()
}

// SlugText is the Slug of Slack message or command text as a person reads
// it: entities are decoded and markup rendered as PlainText does with
// names, except that a web link stands for its label, or its host when it
// has none, and a user mention or channel link whose name is unknown (names
// has none, the markup no label) is left out rather than shown as an id.
func SlugText(s string, names Names) string {
	return Slug(render(s, names, true))
}

// fold lower-cases s with Unicode's full case folding (ß → ss), decomposes
// it for compatibility (ﬁ → fi, full-width letters → ASCII) and removes the
// combining marks that the decomposition splits off (ä → a). Invalid UTF-8
// is kept as it is, for Slug to drop.
func fold(s string) string {
	t := transform.Chain(cases.Fold(), norm.NFKD, runes.Remove(runes.In(unicode.Mn)))
	out, _, err := transform.String(t, s)
	if err != nil {
		return strings.ToLower(s)
	}
	return out
}

// linkSlugText is what a link with target and label stands for in a slug:
// its label, else its host (mailto: and tel: links: what follows the
// scheme).
func linkSlugText(target, label string) string {
	if label != "" {
		return label
	}
	if u, err := url.Parse(target); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	_, rest, _ := strings.Cut(target, ":")
	return rest
}
