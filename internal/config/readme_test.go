package config

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// configRow is one row of a "| variable | default | meaning |" table.
type configRow struct {
	file     string
	line     int
	names    []string
	defaults []string
}

var backticked = regexp.MustCompile("`([^`]*)`")

// configTables reads the configuration tables of a Markdown file.
func configTables(t *testing.T, path string) []configRow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []configRow
	in := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "| variable | default | meaning |":
			in = true
			continue
		case !strings.HasPrefix(line, "|"):
			in = false
			continue
		case !in || strings.HasPrefix(line, "|---"):
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) < 3 {
			t.Fatalf("%s:%d: a configuration row needs 3 cells: %s", path, n, line)
		}
		row := configRow{file: filepath.Base(path), line: n}
		for _, m := range backticked.FindAllStringSubmatch(cells[0], -1) {
			row.names = append(row.names, m[1])
		}
		if strings.TrimSpace(cells[1]) == "empty" {
			row.defaults = []string{""}
		}
		for _, m := range backticked.FindAllStringSubmatch(cells[1], -1) {
			row.defaults = append(row.defaults, m[1])
		}
		if len(row.names) == 0 || (len(row.defaults) != 1 && len(row.defaults) != len(row.names)) {
			t.Fatalf("%s:%d: want `VARIABLE`s and one default, or one per variable: %s", path, n, line)
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestREADMEMatchesConfig holds the README's configuration tables to
// Config's tags: every variable is
// documented with its default, and no row names a variable relay does not
// read.
func TestREADMEMatchesConfig(t *testing.T) {
	t.Parallel()
	vars := map[string]Variable{}
	for _, v := range Variables() {
		if _, dup := vars[v.Name]; dup {
			t.Errorf("%s is the tag of two fields", v.Name)
		}
		vars[v.Name] = v
	}
	inREADME := map[string]bool{}
	for _, row := range configTables(t, filepath.Join("..", "..", "README.md")) {
		for j, name := range row.names {
			want := row.defaults[min(j, len(row.defaults)-1)]
			v, ok := vars[name]
			switch {
			case !ok:
				t.Errorf("%s:%d: %s is not a variable of config.Config", row.file, row.line, name)
			case v.Default != want:
				t.Errorf("%s:%d: %s defaults to %q in the table, %q in config.Config", row.file, row.line, name, want, v.Default)
			}
			inREADME[name] = true
		}
	}
	for _, v := range Variables() {
		if !inREADME[v.Name] {
			t.Errorf("%s (default %q) is missing from the README's configuration tables", v.Name, v.Default)
		}
	}
}
