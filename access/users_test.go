package access

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func testDirectory(t *testing.T) *Directory {
	t.Helper()
	d, err := NewDirectory([]User{
		{Name: "alice@example.com", SlackID: "UALICE", Roles: []string{"release-managers"}},
		{Name: "bob@example.com", SlackID: "UBOB"},
		{Name: "Carol@Example.com", Roles: []string{"SRE", "dba"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestNewDirectory(t *testing.T) {
	cases := []struct {
		name  string
		users []User
		want  []string // parts of the error; none means valid
	}{
		{name: "empty list"},
		{name: "one user", users: []User{{Name: "a@example.com"}}},
		{name: "several without Slack IDs", users: []User{{Name: "a@example.com"}, {Name: "b@example.com"}}},
		{name: "empty name", users: []User{{Name: " ", SlackID: "U1"}}, want: []string{"users[0]: the name is empty"}},
		{name: "name twice ignoring case", users: []User{{Name: "a@example.com"}, {Name: "A@Example.com"}},
			want: []string{"users[1] (A@Example.com): the name is listed twice"}},
		{name: "slack ID twice", users: []User{{Name: "a", SlackID: "U1"}, {Name: "b", SlackID: "U1"}},
			want: []string{"users[1] (b): the Slack ID U1 is listed twice"}},
		{name: "anonymous is reserved", users: []User{{Name: "Anonymous"}}, want: []string{"users[0] (Anonymous): anonymous is what the API calls"}},
		{name: "empty role", users: []User{{Name: "a", Roles: []string{"sre", ""}}}, want: []string{"users[0] (a): roles[1] is empty"}},
		{name: "every problem named", users: []User{{Name: ""}, {Name: "a", SlackID: "U1"}, {Name: "a", SlackID: "U1"}},
			want: []string{"users[0]: the name is empty", "users[2] (a): the name is listed twice", "users[2] (a): the Slack ID U1 is listed twice"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := NewDirectory(tc.users)
			if len(tc.want) == 0 {
				if err != nil || d == nil {
					t.Fatalf("NewDirectory = %v, %v; want a directory", d, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("NewDirectory accepted %+v", tc.users)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestLookups(t *testing.T) {
	d := testDirectory(t)
	cases := []struct {
		name    string
		slackID string
		found   string
	}{
		{"known", "UALICE", "alice@example.com"},
		{"known without roles", "UBOB", "bob@example.com"},
		{"unknown", "UNOBODY", ""},
		{"empty", "", ""},
		{"case matters for Slack IDs", "ualice", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u, ok := d.BySlackID(tc.slackID)
			if ok != (tc.found != "") || u.Name != tc.found {
				t.Errorf("BySlackID(%q) = %+v, %v; want %q", tc.slackID, u, ok, tc.found)
			}
		})
	}
	if u, ok := d.ByName("CAROL@example.com"); !ok || u.Name != "Carol@Example.com" || u.SlackID != "" {
		t.Errorf("ByName(CAROL@example.com) = %+v, %v", u, ok)
	}
	if u, ok := d.ByName("dave@example.com"); ok {
		t.Errorf("ByName(dave@example.com) = %+v, want none", u)
	}
	for name, want := range map[string][]string{
		"carol@example.com": {"SRE", "dba"},
		"ALICE@example.com": {"release-managers"},
		"bob@example.com":   nil,
		"dave@example.com":  nil,
	} {
		if got := d.Roles(name); !slices.Equal(got, want) {
			t.Errorf("Roles(%q) = %v, want %v", name, got, want)
		}
	}
	// The directory hands out copies: a caller changing them changes nothing.
	d.Roles("alice@example.com")[0] = "admin"
	if got := d.Roles("alice@example.com"); got[0] != "release-managers" {
		t.Errorf("Roles was changed through a returned slice: %v", got)
	}
}

func TestNilDirectory(t *testing.T) {
	var d *Directory
	if _, ok := d.BySlackID("UALICE"); ok {
		t.Error("a nil directory found a Slack user")
	}
	if _, ok := d.ByName("alice@example.com"); ok {
		t.Error("a nil directory found a user by name")
	}
	if r := d.Roles("alice@example.com"); r != nil {
		t.Errorf("a nil directory has roles %v", r)
	}
	if err := d.CanJudge("alice@example.com", nil); err != nil {
		t.Errorf("a judgment without roles was refused: %v", err)
	}
	if err := d.CanJudge("alice@example.com", []string{"sre"}); err == nil {
		t.Error("a nil directory let a user hold a role")
	}
}

func TestCanJudge(t *testing.T) {
	d := testDirectory(t)
	cases := []struct {
		name     string
		user     string
		required []string
		refusal  string // empty: allowed
	}{
		{name: "no roles required", user: "bob@example.com"},
		{name: "no roles required, anonymous", user: "anonymous"},
		{name: "no roles required, no user", user: ""},
		{name: "blank roles are no requirement", user: "", required: []string{"", " "}},
		{name: "holds the role", user: "alice@example.com", required: []string{"release-managers"}},
		{name: "holds one of the roles", user: "alice@example.com", required: []string{"sre", "release-managers"}},
		{name: "role compared ignoring case", user: "carol@example.com", required: []string{"sre"}},
		{name: "name compared ignoring case", user: "ALICE@EXAMPLE.COM", required: []string{"Release-Managers"}},
		{name: "holds no role", user: "bob@example.com", required: []string{"release-managers", "sre"},
			refusal: "bob@example.com has none of the roles this judgment requires (release-managers, sre)"},
		{name: "holds another role", user: "carol@example.com", required: []string{"release-managers"},
			refusal: "carol@example.com has none of the roles this judgment requires (release-managers)"},
		{name: "unknown user", user: "mallory@example.com", required: []string{"sre"},
			refusal: "mallory@example.com has none of the roles this judgment requires (sre)"},
		{name: "anonymous", user: "anonymous", required: []string{"sre"},
			refusal: "this judgment requires one of the roles sre, so a user must be named"},
		{name: "no user", user: " ", required: []string{"sre", "dba"},
			refusal: "this judgment requires one of the roles sre, dba, so a user must be named"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := d.CanJudge(tc.user, tc.required)
			if tc.refusal == "" {
				if err != nil {
					t.Fatalf("CanJudge(%q, %v) = %v, want allowed", tc.user, tc.required, err)
				}
				return
			}
			var r *Refusal
			if !errors.As(err, &r) {
				t.Fatalf("CanJudge(%q, %v) = %v, want a *Refusal", tc.user, tc.required, err)
			}
			if !errors.Is(err, ErrRefused) {
				t.Errorf("the refusal is not ErrRefused")
			}
			if err.Error() != tc.refusal {
				t.Errorf("refusal = %q, want %q", err, tc.refusal)
			}
		})
	}
}
