package config

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// position is where a key is written: 1-based line and column of its
// first character. The zero value means unknown.
type position struct{ Line, Col int }

// positions are the places of every key, table and array-table header of
// a TOML document, read by go-toml's parser (BurntSushi/toml, which
// decodes, keeps them to itself). Keys are named as the errors name them:
// "relay.bandwidth.bytes_per_second", with "peers[1]" for the second
// [[peers]] table or array element. A dotted key or an inline table
// defines its parent tables where it is written.
type positions struct {
	at map[string]position
	// occurrences are the places of a key with its indices left out, in
	// document order: the decoder names an unknown key inside [[peers]]
	// "peers.foo", once per table it appears in.
	occurrences map[string][]position
}

var indexPart = regexp.MustCompile(`\[\d+\]`)

// keyPositions reads data; a document the parser refuses yields what it
// read before the error (the decoder reports the error itself).
func keyPositions(data []byte) *positions {
	ps := &positions{at: map[string]position{}, occurrences: map[string][]position{}}
	var p unstable.Parser
	p.Reset(data)
	var table []string
	arrays := map[string]int{} // [[name]] tables seen so far, by name
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			parts, first := keyParts(&p, e.Key())
			if e.Kind == unstable.ArrayTable {
				name := strings.Join(parts, ".")
				parts[len(parts)-1] += "[" + strconv.Itoa(arrays[name]) + "]"
				arrays[name]++
			}
			table = parts
			ps.add(table, first)
		case unstable.KeyValue:
			ps.keyValue(&p, table, e)
		}
	}
	return ps
}

// keyValue records key = value under table, and the keys inside an inline
// table or an array of them.
func (ps *positions) keyValue(p *unstable.Parser, table []string, kv *unstable.Node) {
	parts, first := keyParts(p, kv.Key())
	full := append(append([]string{}, table...), parts...)
	for i := len(table) + 1; i <= len(full); i++ {
		ps.add(full[:i], first)
	}
	ps.value(p, full, kv.Value())
}

func (ps *positions) value(p *unstable.Parser, key []string, v *unstable.Node) {
	switch v.Kind {
	case unstable.InlineTable:
		for it := v.Children(); it.Next(); {
			if n := it.Node(); n.Kind == unstable.KeyValue {
				ps.keyValue(p, key, n)
			}
		}
	case unstable.Array:
		i := 0
		for it := v.Children(); it.Next(); {
			n := it.Node()
			if n.Kind == unstable.Comment {
				continue
			}
			elem := append(append([]string{}, key[:len(key)-1]...), key[len(key)-1]+"["+strconv.Itoa(i)+"]")
			if n.Kind == unstable.InlineTable {
				ps.add(elem, nodePosition(p, n))
				ps.value(p, elem, n)
			}
			i++
		}
	}
}

// keyParts are a key's dotted parts and the place of the first.
func keyParts(p *unstable.Parser, it unstable.Iterator) ([]string, position) {
	var parts []string
	var first position
	for it.Next() {
		n := it.Node()
		if parts == nil {
			first = nodePosition(p, n)
		}
		parts = append(parts, string(n.Data))
	}
	return parts, first
}

func nodePosition(p *unstable.Parser, n *unstable.Node) position {
	s := p.Shape(n.Raw)
	return position{Line: s.Start.Line, Col: s.Start.Column}
}

// add records key at pos unless it is already placed (a table's first
// mention is where it is defined).
func (ps *positions) add(key []string, pos position) {
	name := strings.Join(key, ".")
	if _, ok := ps.at[name]; ok {
		return
	}
	ps.at[name] = pos
	bare := indexPart.ReplaceAllString(name, "")
	ps.occurrences[bare] = append(ps.occurrences[bare], pos)
}

// lookup returns where key (as errors name it) is written, or the zero
// position. A key without indices that stands for several places (an
// unknown key in every [[peers]] table, as the decoder names it) yields
// them in document order, one per call, the last one thereafter.
func (ps *positions) lookup(key []string) position {
	name := strings.Join(key, ".")
	if strings.Contains(name, "[") {
		return ps.at[name]
	}
	occ := ps.occurrences[name]
	switch len(occ) {
	case 0:
		return position{}
	case 1:
		return occ[0]
	}
	ps.occurrences[name] = occ[1:]
	return occ[0]
}
