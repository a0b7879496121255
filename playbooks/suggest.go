package playbooks

import (
	"fmt"
	"sort"
	"strings"
)

// suggest returns the candidate the author most likely meant by word, or "" when none is close. It tries, in
// order: a case-insensitive match, the smallest edit distance within a third of the word's length (so a typo
// or two is forgiven but unrelated names are not proposed), then a candidate the word is a prefix or a
// dotted suffix of ("edr.isolate" → "edr.isolate_host", "isolate_host" → "edr.isolate_host").
func suggest(word string, candidates []string) string {
	if word == "" || len(candidates) == 0 {
		return ""
	}
	sorted := append([]string(nil), candidates...)
	sort.Strings(sorted)
	lw := strings.ToLower(word)
	for _, c := range sorted {
		if strings.ToLower(c) == lw {
			return c
		}
	}
	best, bestDist := "", -1
	limit := max(1, len([]rune(word))/3)
	for _, c := range sorted {
		d := distance(lw, strings.ToLower(c))
		if d <= limit && (bestDist < 0 || d < bestDist) {
			best, bestDist = c, d
		}
	}
	if best != "" {
		return best
	}
	if len(word) < 3 {
		return ""
	}
	for _, c := range sorted {
		lc := strings.ToLower(c)
		if strings.HasPrefix(lc, lw) || strings.HasSuffix(lc, "."+lw) {
			return c
		}
	}
	// The word extends a candidate ("hostname" → "host"): prefer the longest such candidate.
	best = ""
	for _, c := range sorted {
		lc := strings.ToLower(c)
		if len(lc) >= 3 && strings.HasPrefix(lw, lc) && len(c) > len(best) {
			best = c
		}
	}
	return best
}

// didYouMean formats a suggestion as a message suffix: ` (did you mean "x"?)`, or otherwise.
func didYouMean(word string, candidates []string, otherwise string) string {
	if s := suggest(word, candidates); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	if otherwise == "" {
		return ""
	}
	return " (" + otherwise + ")"
}

// distance is the edit distance between a and b in runes, counting a swap of neighbours as one edit
// (optimal string alignment: "hots" is one edit from "host"). Inputs are short names, so the quadratic
// cost does not matter; it is bounded anyway, because fuzzed keys can be long.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return max(len(ra), len(rb))
	}
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// quoteList formats names for a hint: "a", "b" and "c".
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return joinWords(q, "and")
}

// joinWords joins words as English: a, b and c.
func joinWords(words []string, conj string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " " + conj + " " + words[len(words)-1]
}
