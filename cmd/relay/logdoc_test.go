package main

import (
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docTables returns the first backticked cell of each row of the tables in
// docs/operations.md's "Log keys" section, keys and messages apart (the
// message table is the one with a level column).
func docTables(t *testing.T) (keys, messages []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Log keys\n")
	if !ok {
		t.Fatal(`docs/operations.md has no "## Log keys" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	first := regexp.MustCompile("^\\| `([^`]+)` \\|")
	inMessages := false
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "| message | level |") {
			inMessages = true
		}
		m := first.FindStringSubmatch(line)
		switch {
		case m == nil:
		case inMessages:
			messages = append(messages, m[1])
		default:
			keys = append(keys, m[1])
		}
	}
	if len(keys) == 0 || len(messages) == 0 {
		t.Fatalf("found %d keys and %d messages in the Log keys section", len(keys), len(messages))
	}
	return keys, messages
}

// goSource is the text of relay's non-test Go files, where its log calls are.
func goSource(t *testing.T) string {
	t.Helper()
	var sb strings.Builder
	for _, root := range []string{filepath.Join("..", "..", "internal"), "."} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			sb.Write(b)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return sb.String()
}

// Every key and message docs/operations.md lists is one the code writes,
// so the doc cannot name a key that was renamed or a line that was removed.
func TestLogKeysDocMatchesTheCode(t *testing.T) {
	t.Parallel()
	keys, messages := docTables(t)
	src := goSource(t)
	builtin := map[string]bool{slog.TimeKey: true, slog.LevelKey: true, slog.MessageKey: true}
	for _, k := range keys {
		if !builtin[k] && !strings.Contains(src, `"`+k+`", `) {
			t.Errorf("docs/operations.md lists log key %q; no log call writes it", k)
		}
	}
	for _, m := range messages {
		if !strings.Contains(src, `"`+m+`"`) {
			t.Errorf("docs/operations.md lists log message %q; no log call writes it", m)
		}
	}
}
