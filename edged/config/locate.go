package config

import (
	"bufio"
	"bytes"
	"regexp"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// locator finds the line of a key in a TOML file. The decoder keeps key
// positions to itself, so validation errors find them by reading the lines:
// it follows [table] and [[array]] headers and matches `key =`.
type locator struct{ data []byte }

var (
	headerRe = regexp.MustCompile(`^\s*\[\[?\s*([^\]]+?)\s*\]\]?`)
	assignRe = regexp.MustCompile(`^\s*"?([A-Za-z0-9_-]+)"?\s*=`)
	indexRe  = regexp.MustCompile(`^(.*)\[(\d+)\]$`)
)

// line returns the 1-based line of key, or 0 when it cannot be found.
// Components like "peers[1]" select the second [[peers]] table.
func (l locator) line(key toml.Key) int {
	if len(key) == 0 {
		return 0
	}
	var table []string
	wantIndex := -1
	for _, part := range key[:len(key)-1] {
		if m := indexRe.FindStringSubmatch(part); m != nil {
			part = m[1]
			wantIndex, _ = strconv.Atoi(m[2])
		}
		table = append(table, part)
	}
	wantTable := strings.Join(table, ".")
	leaf := key[len(key)-1]
	full := strings.Join(append(table, leaf), ".")

	current, occurrence := "", map[string]int{}
	index := -1
	sc := bufio.NewScanner(bytes.NewReader(l.data))
	for n := 1; sc.Scan(); n++ {
		text := sc.Text()
		if m := headerRe.FindStringSubmatch(text); m != nil {
			current = strings.ReplaceAll(m[1], " ", "")
			index = occurrence[current]
			occurrence[current]++
			if current == full {
				return n
			}
			continue
		}
		if m := assignRe.FindStringSubmatch(text); m != nil && m[1] == leaf && current == wantTable {
			if wantIndex < 0 || wantIndex == index {
				return n
			}
		}
	}
	return 0
}
