package slacktext

import "strings"

// Broadcast returns the first "@channel", "@here" or "@everyone" (any case)
// in s that stands as a word of its own, unprotected by the zero-width joiner
// Escape adds, or "". Words that run on ("@channels", "@here_x") are no
// broadcast and Escape leaves them be. Tests use it to check that no text the
// bot posts can notify a whole channel.
func Broadcast(s string) string {
	lower := strings.ToLower(s)
	for _, word := range []string{"@channel", "@here", "@everyone"} {
		for i := 0; ; {
			j := strings.Index(lower[i:], word)
			if j < 0 {
				break
			}
			end := i + j + len(word)
			if end == len(lower) || !isWordByte(lower[end]) {
				return s[i+j : end]
			}
			i = end
		}
	}
	return ""
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}
