package confirm

import "strings"

// Rule is what a vendor's code means: its outcome and its documented
// meaning.
type Rule struct {
	Outcome Outcome
	Meaning string
}

// Prefix is a Rule for every code that starts with Prefix (in lower case).
type Prefix struct {
	Prefix string
	Rule   Rule
}

// Codes is a vendor's table of string codes, compared without regard to
// case: the codes decided one by one (keys in lower case), then families
// by prefix, the first match winning. A code in neither is undocumented:
// transient, retried up to the attempt budget like CTrack's.
type Codes struct {
	Exact    map[string]Rule
	Prefixes []Prefix
}

// Lookup finds code's rule.
func (c Codes) Lookup(code string) (Rule, bool) {
	lc := strings.ToLower(code)
	if r, ok := c.Exact[lc]; ok {
		return r, true
	}
	for _, p := range c.Prefixes {
		if strings.HasPrefix(lc, p.Prefix) {
			return p.Rule, true
		}
	}
	return Rule{}, false
}

// Outcome is code's outcome; Transient for an undocumented one.
func (c Codes) Outcome(code string) Outcome {
	if r, ok := c.Lookup(code); ok {
		return r.Outcome
	}
	return Transient
}

// Meaning is code's documented meaning, for an answer that gave no
// message of its own; "undocumented code" for an undocumented one.
func (c Codes) Meaning(code string) string {
	if r, ok := c.Lookup(code); ok {
		return r.Meaning
	}
	return "undocumented code"
}
