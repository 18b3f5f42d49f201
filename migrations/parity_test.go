package migrations_test

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/weftlabs/weft/migrations"
)

// The two dialects' migrations, applied in order, must build the same
// schema: the same tables with the same columns (type class, NOT NULL,
// primary key, default, reference) and the same indexes (columns,
// uniqueness, predicate). A column added to one dialect only fails here.
func TestDialectsBuildTheSameSchema(t *testing.T) {
	t.Parallel()
	lite := schemaOf(t, migrations.SQLite, nil)
	pg := schemaOf(t, migrations.Postgres, nil)
	if len(lite.tables) == 0 {
		t.Fatal("the sqlite migrations create no table")
	}
	for _, d := range lite.diff(pg) {
		t.Error(d)
	}
}

// The comparison sees what it must: one-sided changes of each kind fail.
func TestSchemaParityCatchesOneSidedChanges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, lite, pg, want string }{
		{"column", "ALTER TABLE runs ADD COLUMN note TEXT", "", `table runs: column note: sqlite has TEXT, postgres has none`},
		{"dropped column", "ALTER TABLE runs DROP COLUMN state", "", `table runs: column state: sqlite has none, postgres has TEXT`},
		{"nullability", "ALTER TABLE runs ADD COLUMN note TEXT NOT NULL DEFAULT ''", "ALTER TABLE runs ADD COLUMN note TEXT DEFAULT ''", `table runs: column note: sqlite has {kind:text decl:TEXT notNull:true`},
		{"type", "ALTER TABLE runs ADD COLUMN note INTEGER", "ALTER TABLE runs ADD COLUMN note TEXT", `table runs: column note: sqlite has {kind:integer`},
		{"default", "ALTER TABLE runs ADD COLUMN note TEXT DEFAULT 'a'", "ALTER TABLE runs ADD COLUMN note TEXT DEFAULT 'b'", `table runs: column note`},
		{"table", "CREATE TABLE extra (id TEXT PRIMARY KEY)", "", `table extra: only in sqlite`},
		{"index", "CREATE INDEX runs_note ON runs (status)", "", `index runs_note: only in sqlite`},
		{"index columns", "CREATE INDEX runs_note ON runs (status, id)", "CREATE INDEX runs_note ON runs (status)", `index runs_note: sqlite has`},
		{"index predicate", "CREATE INDEX runs_note ON runs (status) WHERE status = 'running'", "CREATE INDEX runs_note ON runs (status)", `index runs_note: sqlite has`},
		{"trigger", "CREATE TRIGGER runs_gone AFTER DELETE ON runs BEGIN DELETE FROM events WHERE run_id = OLD.id; END", "", `trigger runs_gone: only in sqlite`},
		{"trigger event", "CREATE TRIGGER runs_gone AFTER DELETE ON runs BEGIN SELECT 1; END",
			"CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$; CREATE TRIGGER runs_gone AFTER UPDATE ON runs FOR EACH ROW EXECUTE FUNCTION f()", `trigger runs_gone: sqlite has`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lite := schemaOf(t, migrations.SQLite, []string{tc.lite})
			pg := schemaOf(t, migrations.Postgres, []string{tc.pg})
			diffs := strings.Join(lite.diff(pg), "\n")
			if !strings.Contains(diffs, tc.want) {
				t.Fatalf("sqlite + %q, postgres + %q: got differences\n%s\nwant one containing %q", tc.lite, tc.pg, diffs, tc.want)
			}
		})
	}
}

type column struct {
	kind    string // integer, text, real, bytes, bool
	decl    string // the declared type, for messages
	notNull bool
	primary bool
	auto    bool // AUTOINCREMENT / SERIAL
	def     string
	ref     string
}

type index struct {
	table, cols, where string
	unique             bool
}

// trigger is a trigger's table and when it fires ("AFTER DELETE"); its
// body is the dialect's own (a PostgreSQL function, a SQLite block).
type trigger struct {
	table, when string
}

type schema struct {
	dialect  string
	tables   map[string]map[string]column
	indexes  map[string]index
	triggers map[string]trigger
}

// schemaOf applies the dialect's migrations, then extra statements, to an
// empty schema.
func schemaOf(t *testing.T, dialect string, extra []string) *schema {
	t.Helper()
	ms, err := migrations.List(dialect)
	if err != nil {
		t.Fatal(err)
	}
	s := &schema{dialect: dialect, tables: map[string]map[string]column{}, indexes: map[string]index{}, triggers: map[string]trigger{}}
	for _, m := range ms {
		for _, stmt := range statements(m.SQL) {
			if err := s.apply(stmt); err != nil {
				t.Fatalf("%s/%s: %v", dialect, m.Name, err)
			}
		}
	}
	for _, e := range extra {
		for _, stmt := range statements(e) {
			if err := s.apply(stmt); err != nil {
				t.Fatalf("%s: %v", e, err)
			}
		}
	}
	return s
}

var lineComment = regexp.MustCompile(`--[^\n]*`)

// statements splits SQL into statements, comments removed and blanks
// collapsed. The migrations have no ';' inside strings; a ';' inside a
// PostgreSQL $$-quoted body or a SQLite trigger's BEGIN ... END does not
// end its statement.
func statements(sql string) []string {
	var out []string
	cur := ""
	for _, piece := range strings.Split(lineComment.ReplaceAllString(sql, ""), ";") {
		if cur != "" {
			cur += ";"
		}
		cur += piece
		flat := strings.Join(strings.Fields(cur), " ")
		open := strings.Count(flat, "$$")%2 == 1 ||
			(createTrigger.MatchString(flat) && strings.Contains(strings.ToUpper(flat), " BEGIN ") && !strings.HasSuffix(strings.ToUpper(flat), " END"))
		if open {
			continue
		}
		if flat != "" {
			out = append(out, flat)
		}
		cur = ""
	}
	return out
}

var (
	createTable = regexp.MustCompile(`(?i)^CREATE TABLE (?:IF NOT EXISTS )?(\w+) ?\((.*)\)$`)
	createIndex = regexp.MustCompile(`(?i)^CREATE (UNIQUE )?INDEX (?:IF NOT EXISTS )?(\w+) ON (\w+) ?\((.*?)\)(?: WHERE (.*))?$`)
	addColumn   = regexp.MustCompile(`(?i)^ALTER TABLE (\w+) ADD (?:COLUMN )?(.*)$`)
	dropColumn  = regexp.MustCompile(`(?i)^ALTER TABLE (\w+) DROP (?:COLUMN )?(\w+)$`)
	renameCol   = regexp.MustCompile(`(?i)^ALTER TABLE (\w+) RENAME (?:COLUMN )?(\w+) TO (\w+)$`)
	dropTable   = regexp.MustCompile(`(?i)^DROP TABLE (?:IF EXISTS )?(\w+)$`)
	dropIndex   = regexp.MustCompile(`(?i)^DROP INDEX (?:IF EXISTS )?(\w+)$`)
	data        = regexp.MustCompile(`(?i)^(UPDATE|INSERT|DELETE) `)
	// A trigger: its name, when it fires and its table.
	createTrigger = regexp.MustCompile(`(?i)^CREATE TRIGGER (?:IF NOT EXISTS )?(\w+) ((?:BEFORE|AFTER|INSTEAD OF) (?:INSERT|UPDATE|DELETE)) ON (\w+)`)
	dropTrigger   = regexp.MustCompile(`(?i)^DROP TRIGGER (?:IF EXISTS )?(\w+)`)
	// A PostgreSQL function is a trigger's body: compared through its trigger.
	createFunction = regexp.MustCompile(`(?i)^CREATE (?:OR REPLACE )?FUNCTION `)
)

// apply folds one statement into the schema. A statement it does not
// know is an error: teach it here rather than let a change go unchecked.
func (s *schema) apply(stmt string) error {
	switch {
	case data.MatchString(stmt):
		return nil // rows, not schema
	case createTable.MatchString(stmt):
		m := createTable.FindStringSubmatch(stmt)
		name := strings.ToLower(m[1])
		if s.tables[name] != nil {
			return fmt.Errorf("table %s created twice", name)
		}
		cols := map[string]column{}
		s.tables[name] = cols
		for _, def := range splitTop(m[2]) {
			if err := s.addDef(name, def); err != nil {
				return err
			}
		}
	case createIndex.MatchString(stmt):
		m := createIndex.FindStringSubmatch(stmt)
		name := strings.ToLower(m[2])
		if _, ok := s.indexes[name]; ok {
			return fmt.Errorf("index %s created twice", name)
		}
		s.indexes[name] = index{table: strings.ToLower(m[3]), cols: norm(m[4]), where: norm(m[5]), unique: m[1] != ""}
	case addColumn.MatchString(stmt):
		m := addColumn.FindStringSubmatch(stmt)
		return s.addDef(strings.ToLower(m[1]), m[2])
	case dropColumn.MatchString(stmt):
		m := dropColumn.FindStringSubmatch(stmt)
		cols, col := s.tables[strings.ToLower(m[1])], strings.ToLower(m[2])
		if _, ok := cols[col]; !ok {
			return fmt.Errorf("drop of unknown column %s.%s", m[1], m[2])
		}
		delete(cols, col)
	case renameCol.MatchString(stmt):
		m := renameCol.FindStringSubmatch(stmt)
		cols, from, to := s.tables[strings.ToLower(m[1])], strings.ToLower(m[2]), strings.ToLower(m[3])
		c, ok := cols[from]
		if !ok {
			return fmt.Errorf("rename of unknown column %s.%s", m[1], m[2])
		}
		delete(cols, from)
		cols[to] = c
	case dropTable.MatchString(stmt):
		delete(s.tables, strings.ToLower(dropTable.FindStringSubmatch(stmt)[1]))
	case dropIndex.MatchString(stmt):
		delete(s.indexes, strings.ToLower(dropIndex.FindStringSubmatch(stmt)[1]))
	case createTrigger.MatchString(stmt):
		m := createTrigger.FindStringSubmatch(stmt)
		name := strings.ToLower(m[1])
		if _, ok := s.triggers[name]; ok {
			return fmt.Errorf("trigger %s created twice", name)
		}
		s.triggers[name] = trigger{table: strings.ToLower(m[3]), when: strings.ToUpper(m[2])}
	case dropTrigger.MatchString(stmt):
		delete(s.triggers, strings.ToLower(dropTrigger.FindStringSubmatch(stmt)[1]))
	case createFunction.MatchString(stmt):
		return nil
	default:
		return fmt.Errorf("statement the parity test does not know: %q", stmt)
	}
	return nil
}

// addDef adds a column definition or a table constraint to table.
func (s *schema) addDef(table, def string) error {
	cols := s.tables[table]
	if cols == nil {
		return fmt.Errorf("table %s does not exist", table)
	}
	words := strings.Fields(def)
	switch strings.ToUpper(words[0]) {
	case "PRIMARY":
		for _, c := range splitTop(inParens(def)) {
			c = strings.ToLower(strings.TrimSpace(c))
			col, ok := cols[c]
			if !ok {
				return fmt.Errorf("table %s: primary key names unknown column %s", table, c)
			}
			col.primary = true
			cols[c] = col
		}
		return nil
	case "UNIQUE", "CONSTRAINT", "FOREIGN", "CHECK":
		// Kept as an index-like constraint under a synthetic name.
		s.indexes[table+"/"+norm(def)] = index{table: table, cols: norm(def), unique: true}
		return nil
	}
	name := strings.ToLower(words[0])
	if _, ok := cols[name]; ok {
		return fmt.Errorf("table %s: column %s defined twice", table, name)
	}
	c := column{}
	i := 1
	var decl []string
	for ; i < len(words) && !constraintWord[strings.ToUpper(words[i])]; i++ {
		decl = append(decl, words[i])
	}
	c.decl = strings.ToUpper(strings.Join(decl, " "))
	c.kind = kindOf(c.decl)
	if c.kind == "" {
		return fmt.Errorf("table %s: column %s: unknown type %q", table, name, c.decl)
	}
	c.auto = strings.Contains(c.decl, "SERIAL")
	rest := strings.Join(words[i:], " ")
	up := strings.ToUpper(rest)
	c.notNull = strings.Contains(up, "NOT NULL")
	c.primary = strings.Contains(up, "PRIMARY KEY")
	c.auto = c.auto || strings.Contains(up, "AUTOINCREMENT")
	if m := regexp.MustCompile(`(?i)DEFAULT ('[^']*'|\([^)]*\)|\S+)`).FindStringSubmatch(rest); m != nil {
		c.def = norm(m[1])
	}
	if m := regexp.MustCompile(`(?i)REFERENCES (.*)$`).FindStringSubmatch(rest); m != nil {
		c.ref = norm(m[1])
	}
	if strings.Contains(up, "UNIQUE") {
		s.indexes[table+"/unique("+name+")"] = index{table: table, cols: name, unique: true}
	}
	cols[name] = c
	return nil
}

var constraintWord = map[string]bool{"NOT": true, "NULL": true, "PRIMARY": true, "UNIQUE": true, "DEFAULT": true,
	"REFERENCES": true, "CHECK": true, "COLLATE": true, "GENERATED": true, "AUTOINCREMENT": true, "CONSTRAINT": true}

// kindOf is the class of a declared type, the same across dialects.
func kindOf(decl string) string {
	switch {
	case decl == "INTEGER" || decl == "INT" || decl == "BIGINT" || decl == "SMALLINT" || strings.HasSuffix(decl, "SERIAL"):
		return "integer"
	case decl == "TEXT" || strings.HasPrefix(decl, "VARCHAR") || strings.HasPrefix(decl, "CHARACTER VARYING"):
		return "text"
	case decl == "REAL" || decl == "DOUBLE PRECISION" || decl == "FLOAT" || decl == "NUMERIC":
		return "real"
	case decl == "BLOB" || decl == "BYTEA":
		return "bytes"
	case decl == "BOOLEAN" || decl == "BOOL":
		return "bool"
	}
	return ""
}

// splitTop splits s at the commas outside parentheses.
func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	if rest := strings.TrimSpace(s[start:]); rest != "" {
		out = append(out, rest)
	}
	return out
}

func inParens(s string) string {
	i, j := strings.Index(s, "("), strings.LastIndex(s, ")")
	if i < 0 || j < i {
		return ""
	}
	return s[i+1 : j]
}

// norm lowercases and drops the blanks that do not separate words.
func norm(s string) string {
	s = strings.ToLower(strings.Join(strings.Fields(s), " "))
	s = strings.NewReplacer("( ", "(", " )", ")", " ,", ",", ", ", ",", " (", "(").Replace(s)
	return s
}

// diff lists how s differs from o, in a stable order.
func (s *schema) diff(o *schema) []string {
	var out []string
	for _, name := range union(keys(s.tables), keys(o.tables)) {
		a, inA := s.tables[name]
		b, inB := o.tables[name]
		switch {
		case !inB:
			out = append(out, fmt.Sprintf("table %s: only in %s", name, s.dialect))
			continue
		case !inA:
			out = append(out, fmt.Sprintf("table %s: only in %s", name, o.dialect))
			continue
		}
		for _, col := range union(keys(a), keys(b)) {
			ca, okA := a[col]
			cb, okB := b[col]
			switch {
			case !okB:
				out = append(out, fmt.Sprintf("table %s: column %s: %s has %s, %s has none", name, col, s.dialect, ca.decl, o.dialect))
			case !okA:
				out = append(out, fmt.Sprintf("table %s: column %s: %s has none, %s has %s", name, col, s.dialect, o.dialect, cb.decl))
			case ca.kind != cb.kind || ca.notNull != cb.notNull || ca.primary != cb.primary || ca.auto != cb.auto || ca.def != cb.def || ca.ref != cb.ref:
				out = append(out, fmt.Sprintf("table %s: column %s: %s has %+v, %s has %+v", name, col, s.dialect, ca, o.dialect, cb))
			}
		}
	}
	for _, name := range union(keys(s.indexes), keys(o.indexes)) {
		a, inA := s.indexes[name]
		b, inB := o.indexes[name]
		switch {
		case !inB:
			out = append(out, fmt.Sprintf("index %s: only in %s", name, s.dialect))
		case !inA:
			out = append(out, fmt.Sprintf("index %s: only in %s", name, o.dialect))
		case a != b:
			out = append(out, fmt.Sprintf("index %s: %s has %+v, %s has %+v", name, s.dialect, a, o.dialect, b))
		}
	}
	for _, name := range union(keys(s.triggers), keys(o.triggers)) {
		a, inA := s.triggers[name]
		b, inB := o.triggers[name]
		switch {
		case !inB:
			out = append(out, fmt.Sprintf("trigger %s: only in %s", name, s.dialect))
		case !inA:
			out = append(out, fmt.Sprintf("trigger %s: only in %s", name, o.dialect))
		case a != b:
			out = append(out, fmt.Sprintf("trigger %s: %s has %+v, %s has %+v", name, s.dialect, a, o.dialect, b))
		}
	}
	return out
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func union(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, k := range append(a, b...) {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
